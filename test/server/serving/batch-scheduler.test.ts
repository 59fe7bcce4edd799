import { describe, expect, it } from 'vitest';
import { BatchScheduler, type BatchingOptions, type SchedulerClock } from '../../../server/serving/batch-scheduler.js';

/** A clock whose time, timers and deferred calls advance only when the test says so. */
class FakeClock implements SchedulerClock {
  now = 0;
  private deferred: (() => void)[] = [];
  private timers: { at: number; fn: () => void; cancelled: boolean }[] = [];

  nowMicros(): number {
    return this.now;
  }
  setTimer(delayMicros: number, fn: () => void): () => void {
    const timer = { at: this.now + delayMicros, fn, cancelled: false };
    this.timers.push(timer);
    return () => (timer.cancelled = true);
  }
  defer(fn: () => void): void {
    this.deferred.push(fn);
  }
  /** Runs the deferred calls (one "check phase"). */
  flush(): void {
    const calls = this.deferred;
    this.deferred = [];
    for (const fn of calls) fn();
  }
  advance(micros: number): void {
    this.now += micros;
    const due = this.timers.filter((t) => !t.cancelled && t.at <= this.now);
    this.timers = this.timers.filter((t) => !due.includes(t));
    for (const t of due) t.fn();
  }
  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}

interface Task {
  size: number;
  id: string;
}

/** A scheduler whose batches finish only when the test calls finish(). */
function harness(options: Partial<BatchingOptions> = {}) {
  const clock = new FakeClock();
  const runs: { key: string; ids: string[]; size: number; finish: () => void }[] = [];
  const scheduler = new BatchScheduler<string, Task>(
    { maxBatchSize: 4, batchTimeoutMicros: 0, maxEnqueuedBatches: 2, ...options },
    clock,
    (key, tasks, size) => {
      return new Promise<void>((resolve) => runs.push({ key, ids: tasks.map((t) => t.id), size, finish: resolve }));
    },
  );
  const submit = (key: string, id: string, size = 1) => scheduler.submit(key, { id, size });
  /** Finishes the running batch and lets the scheduler pick the next one. */
  const finish = async () => {
    runs.at(-1)!.finish();
    await new Promise((resolve) => setImmediate(resolve));
    clock.flush();
  };
  return { clock, runs, scheduler, submit, finish };
}

describe('BatchScheduler', () => {
  it('merges the tasks queued before the processor picks up into one batch', () => {
    const h = harness();
    h.submit('v1', 'a');
    h.submit('v1', 'b', 2);
    expect(h.runs).toHaveLength(0);
    h.clock.flush();
    expect(h.runs.map((r) => [r.key, r.ids, r.size])).toEqual([['v1', ['a', 'b'], 3]]);
  });

  it('runs one batch at a time and collects what arrives meanwhile into the next', async () => {
    const h = harness();
    h.submit('v1', 'a');
    h.clock.flush();
    h.submit('v1', 'b');
    h.submit('v1', 'c');
    h.clock.flush();
    expect(h.runs).toHaveLength(1);
    await h.finish();
    expect(h.runs.map((r) => r.ids)).toEqual([['a'], ['b', 'c']]);
  });

  it('closes a batch at maxBatchSize and starts the next one', async () => {
    const h = harness();
    for (const id of ['a', 'b', 'c', 'd', 'e']) h.submit('v1', id);
    expect(h.scheduler.queued('v1')).toEqual({ batches: 2, instances: 5 });
    h.clock.flush();
    await h.finish();
    expect(h.runs.map((r) => r.ids)).toEqual([['a', 'b', 'c', 'd'], ['e']]);
  });

  it('starts a new batch when a task does not fit the open one, and runs an oversized task alone', async () => {
    const h = harness({ maxEnqueuedBatches: 3 });
    h.submit('v1', 'a', 3);
    h.submit('v1', 'b', 2);
    h.submit('v1', 'big', 9);
    h.clock.flush();
    await h.finish();
    await h.finish();
    expect(h.runs.map((r) => [r.ids, r.size])).toEqual([
      [['a'], 3],
      [['b'], 2],
      [['big'], 9],
    ]);
  });

  it('keeps versions apart and serves their queues in turn', async () => {
    const h = harness({ maxBatchSize: 2, maxEnqueuedBatches: 4 });
    for (const id of ['a1', 'a2', 'a3', 'a4']) h.submit('v1', id);
    for (const id of ['b1', 'b2']) h.submit('v2', id);
    h.clock.flush();
    for (let i = 0; i < 2; i++) await h.finish();
    expect(h.runs.map((r) => [r.key, r.ids])).toEqual([
      ['v1', ['a1', 'a2']],
      ['v2', ['b1', 'b2']],
      ['v1', ['a3', 'a4']],
    ]);
  });

  it('refuses a task that needs one batch more than maxEnqueuedBatches, per version', async () => {
    const h = harness({ maxBatchSize: 2, maxEnqueuedBatches: 2 });
    expect(['a', 'b', 'c', 'd'].map((id) => h.submit('v1', id))).toEqual([true, true, true, true]);
    expect(h.submit('v1', 'e')).toBe(false);
    expect(h.submit('v2', 'other')).toBe(true);
    // Once the head batch runs, its place in the queue is free again.
    h.clock.flush();
    expect(h.submit('v1', 'e')).toBe(true);
    expect(h.scheduler.queued('v1')).toEqual({ batches: 2, instances: 3 });
  });

  it('waits batchTimeoutMicros for an open batch to fill, and not at all for a full one', () => {
    const h = harness({ batchTimeoutMicros: 500 });
    h.submit('v1', 'a');
    h.clock.flush();
    expect(h.runs).toHaveLength(0);
    h.clock.advance(300);
    h.submit('v1', 'b');
    h.clock.flush();
    h.clock.advance(199);
    expect(h.runs).toHaveLength(0);
    h.clock.advance(1);
    expect(h.runs.map((r) => r.ids)).toEqual([['a', 'b']]);
    expect(h.clock.pendingTimers()).toBe(0);

    const full = harness({ batchTimeoutMicros: 1_000_000 });
    for (const id of ['a', 'b', 'c', 'd']) full.submit('v1', id);
    full.clock.flush();
    expect(full.runs.map((r) => r.ids)).toEqual([['a', 'b', 'c', 'd']]);
  });

  it('runs a timed-out batch as soon as the processor is free', async () => {
    const h = harness({ batchTimeoutMicros: 100 });
    for (const id of ['a', 'b', 'c', 'd']) h.submit('v1', id);
    h.clock.flush();
    h.submit('v1', 'e');
    h.clock.advance(1_000);
    expect(h.runs).toHaveLength(1);
    await h.finish();
    expect(h.runs.map((r) => r.ids)).toEqual([['a', 'b', 'c', 'd'], ['e']]);
  });

  it('refuses bad options and task sizes', () => {
    const clock = new FakeClock();
    const run = async () => {};
    expect(
      () => new BatchScheduler({ maxBatchSize: 0, batchTimeoutMicros: 0, maxEnqueuedBatches: 1 }, clock, run),
    ).toThrow(/maxBatchSize must be an integer >= 1, got 0/);
    expect(
      () => new BatchScheduler({ maxBatchSize: 1, batchTimeoutMicros: -1, maxEnqueuedBatches: 1 }, clock, run),
    ).toThrow(/batchTimeoutMicros must be an integer >= 0/);
    expect(
      () => new BatchScheduler({ maxBatchSize: 1, batchTimeoutMicros: 0, maxEnqueuedBatches: 0.5 }, clock, run),
    ).toThrow(/maxEnqueuedBatches/);
    const s = new BatchScheduler<string, Task>(
      { maxBatchSize: 1, batchTimeoutMicros: 0, maxEnqueuedBatches: 1 },
      clock,
      run,
    );
    expect(() => s.submit('v1', { id: 'x', size: 0 })).toThrow(/positive integer size, got 0/);
  });
});
