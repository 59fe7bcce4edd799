/**
 * What the client shows while it works: a redrawn progress bar on a terminal, plain timestamped
 * log lines otherwise (files, pipes, CI logs).
 */
export interface Progress {
  /** A one-off event worth a line of its own. */
  line(text: string): void;
  /** Training of `round` advanced to step `done` of `total`. */
  step(round: number, done: number, total: number, loss: number): void;
  /** Training of the round ended; `summary` replaces the bar. */
  end(summary: string): void;
}

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export function createProgress(stream: ProgressStream, prefix: string): Progress {
  return stream.isTTY ? new BarProgress(stream, prefix) : new LogProgress(stream, prefix);
}

/** Log lines: start, every quarter of the steps, end. */
class LogProgress implements Progress {
  private lastQuarter = -1;

  constructor(
    private readonly out: ProgressStream,
    private readonly prefix: string,
  ) {}

  line(text: string): void {
    this.out.write(`${new Date().toISOString()} ${this.prefix} ${text}\n`);
  }

  step(round: number, done: number, total: number, loss: number): void {
    const quarter = Math.floor((4 * done) / total);
    if (done === 1) this.lastQuarter = 0;
    if (quarter > this.lastQuarter && quarter < 4) {
      this.lastQuarter = quarter;
      this.line(`round ${round}: ${quarter * 25}% (${done}/${total} batches), loss ${loss.toFixed(4)}`);
    }
  }

  end(summary: string): void {
    this.lastQuarter = -1;
    this.line(summary);
  }
}

/** One line redrawn in place, at most ~10 times a second. */
class BarProgress implements Progress {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly out: ProgressStream,
    private readonly prefix: string,
  ) {}

  line(text: string): void {
    this.clear();
    this.out.write(`${this.prefix} ${text}\n`);
  }

  step(round: number, done: number, total: number, loss: number): void {
    const now = Date.now();
    if (done < total && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - 50));
    const filled = Math.round((width * done) / total);
    const pct = String(Math.floor((100 * done) / total)).padStart(3);
    this.out.write(
      `\r${this.prefix} round ${round} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% loss ${loss.toFixed(4)}\x1b[K`,
    );
    this.drawn = true;
  }

  end(summary: string): void {
    this.line(summary);
  }

  private clear(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }
}
