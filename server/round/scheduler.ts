/** Time as the coordinator sees it; tests inject a fake one. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * The one owner of a round's waiting: its deadlines (through the injected Clock), the async work
 * it awaits, and what it sends. Everything is scoped to one run; ending the run cancels its
 * deadlines and drops its late continuations and sends, so nothing of a finished round can reach
 * the next one and round code needs no "is this still my round" checks.
 */
export class RoundScheduler<M> {
  private current: RunScope<M> | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly deliver: (message: M) => void,
  ) {}

  now(): number {
    return this.clock.now();
  }

  /** Starts the scope of a new run; the previous run's scope ends first. */
  open(): RunScope<M> {
    this.current?.end();
    this.current = new RunScope(this.clock, this.deliver);
    return this.current;
  }

  /** Ends the current run's scope (the coordinator stops). */
  end(): void {
    this.current?.end();
    this.current = undefined;
  }
}

/** One run's deadlines, continuations and sends; all inert once end() was called. */
export class RunScope<M> {
  private readonly timers = new Map<string, unknown>();
  private ended = false;

  constructor(
    private readonly clock: Clock,
    private readonly deliver: (message: M) => void,
  ) {}

  get active(): boolean {
    return !this.ended;
  }

  now(): number {
    return this.clock.now();
  }

  /** (Re)sets the deadline named `key`: `fn` runs once at `when`; undefined clears it. */
  at(key: string, when: number | undefined, fn: (now: number) => void): void {
    this.cancel(key);
    if (when === undefined || this.ended) return;
    const handle = this.clock.setTimeout(
      () => {
        this.timers.delete(key);
        if (!this.ended) fn(this.clock.now());
      },
      Math.max(0, when - this.clock.now()),
    );
    this.timers.set(key, handle);
  }

  /** Runs `fn` with the result of `work` when it settles, unless the run ended meanwhile. */
  after<T>(work: Promise<T>, fn: (result: T, now: number) => void): void {
    void work.then((result) => {
      if (!this.ended) fn(result, this.clock.now());
    });
  }

  send(message: M): void {
    if (!this.ended) this.deliver(message);
  }

  end(): void {
    this.ended = true;
    for (const key of [...this.timers.keys()]) this.cancel(key);
  }

  /** Deadlines still set (tests). */
  pending(): number {
    return this.timers.size;
  }

  cancel(key: string): void {
    const handle = this.timers.get(key);
    if (handle === undefined) return;
    this.clock.clearTimeout(handle);
    this.timers.delete(key);
  }
}
