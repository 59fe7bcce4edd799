import { describe, expect, it } from 'vitest';
import { RoundScheduler } from '../../../server/round/scheduler.js';
import { ManualClock } from './manual-clock.js';

function setup() {
  const clock = new ManualClock(1_000);
  const delivered: string[] = [];
  const scheduler = new RoundScheduler<string>(clock, (m) => delivered.push(m));
  return { clock, delivered, scheduler };
}

describe('RoundScheduler', () => {
  it('fires a deadline once, at its time, with the time it fired', () => {
    const { clock, scheduler } = setup();
    const scope = scheduler.open();
    const fired: number[] = [];
    scope.at('round', 1_500, (now) => fired.push(now));
    clock.advance(499);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([1_500]);
    clock.advance(10_000);
    expect(fired).toEqual([1_500]);
    expect(scope.pending()).toBe(0);
  });

  it('keeps one deadline per name: setting it again replaces it, undefined clears it', () => {
    const { clock, scheduler } = setup();
    const scope = scheduler.open();
    const fired: string[] = [];
    scope.at('round', 1_100, () => fired.push('first'));
    scope.at('round', 1_200, () => fired.push('second'));
    scope.at('evaluation', 1_100, () => fired.push('evaluation'));
    clock.advance(1_000);
    expect(fired.sort()).toEqual(['evaluation', 'second']);
    scope.at('round', 5_000, () => fired.push('third'));
    scope.at('round', undefined, () => fired.push('never'));
    clock.advance(10_000);
    expect(fired.sort()).toEqual(['evaluation', 'second']);
    expect(clock.pending()).toBe(0);
  });

  it('a deadline already passed fires on the next turn, not inside at()', () => {
    const { clock, scheduler } = setup();
    const fired: number[] = [];
    scheduler.open().at('round', 0, (now) => fired.push(now));
    expect(fired).toEqual([]);
    clock.advance(0);
    expect(fired).toEqual([1_000]);
  });

  it('cancels a run’s deadlines when the run ends, on the clock too', () => {
    const { clock, scheduler } = setup();
    const scope = scheduler.open();
    const fired: string[] = [];
    scope.at('round', 1_100, () => fired.push('round'));
    scope.at('evaluation', 1_200, () => fired.push('evaluation'));
    expect(clock.pending()).toBe(2);
    scope.end();
    expect(scope.active).toBe(false);
    expect(clock.pending()).toBe(0);
    clock.advance(1_000);
    expect(fired).toEqual([]);
    // An ended run arms nothing and sends nothing.
    scope.at('round', 1_500, () => fired.push('late'));
    expect(clock.pending()).toBe(0);
  });

  it('opening the next run ends the previous one: its late deadline, continuation and send cannot reach the new run', async () => {
    const { clock, delivered, scheduler } = setup();
    const first = scheduler.open();
    const reached: string[] = [];
    first.at('round', 1_100, () => reached.push('first deadline'));
    let finishWork!: (value: string) => void;
    first.after(new Promise<string>((resolve) => (finishWork = resolve)), (v) => reached.push(`first ${v}`));
    first.send('to first');

    const second = scheduler.open();
    expect(first.active).toBe(false);
    second.at('round', 1_100, () => reached.push('second deadline'));
    first.send('late send of first');
    finishWork('work');
    await Promise.resolve();
    await Promise.resolve();
    clock.advance(100);
    expect(reached).toEqual(['second deadline']);
    expect(delivered).toEqual(['to first']);
  });

  it('runs a continuation of a live run with its result and the time it settled', async () => {
    const { clock, scheduler } = setup();
    const scope = scheduler.open();
    const got: [number, number][] = [];
    const work = Promise.resolve(7);
    clock.advance(25);
    scope.after(work, (v, now) => got.push([v, now]));
    await work;
    await Promise.resolve();
    expect(got).toEqual([[7, 1_025]]);
  });

  it('reads the time from its clock, as each run scope does', () => {
    const { clock, scheduler } = setup();
    const scope = scheduler.open();
    clock.advance(42);
    expect(scheduler.now()).toBe(1_042);
    expect(scope.now()).toBe(1_042);
  });

  it('end() with no run open, or twice, does nothing', () => {
    const { scheduler } = setup();
    expect(() => scheduler.end()).not.toThrow();
    scheduler.open();
    scheduler.end();
    expect(() => scheduler.end()).not.toThrow();
  });

  it('a deadline the clock fires after the run ended (it could not be cancelled any more) does not run', () => {
    const { clock } = setup();
    // A clock whose timers cannot be cancelled: like one already handed to the event loop.
    const uncancellable = { now: () => clock.now(), setTimeout: clock.setTimeout.bind(clock), clearTimeout: () => {} };
    const scope = new RoundScheduler<string>(uncancellable, () => {}).open();
    const fired: string[] = [];
    scope.at('round', 1_100, () => fired.push('round'));
    scope.end();
    clock.advance(100);
    expect(clock.pending()).toBe(0);
    expect(fired).toEqual([]);
  });

  it('end() stops the current run: nothing more fires or goes out', () => {
    const { clock, delivered, scheduler } = setup();
    const scope = scheduler.open();
    const fired: string[] = [];
    scope.at('round', 1_050, () => fired.push('round'));
    scheduler.end();
    scope.send('after stop');
    clock.advance(100);
    expect(fired).toEqual([]);
    expect(delivered).toEqual([]);
  });
});
