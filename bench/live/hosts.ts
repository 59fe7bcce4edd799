import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromHost, ToHost } from './host-messages.js';

type Reply = Extract<FromHost, { kind: 'replied' }>;
type Dropped = Extract<FromHost, { kind: 'dropped' }>;

/**
 * One client-host child process (client-host.ts) seen from the bench: commands answered in
 * order, planned dropouts and client failures collected as they come.
 */
export class ClientHost {
  private dropouts: Dropped[] = [];
  private failures: string[] = [];
  private readonly waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private exited: Error | undefined;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (raw) => {
      const m = raw as FromHost;
      switch (m.kind) {
        case 'ready':
          break;
        case 'replied':
          this.waiting.shift()?.resolve(m);
          break;
        case 'refused':
          this.waiting.shift()?.reject(new Error(`client host refused '${m.command}': ${m.message}`));
          break;
        case 'dropped':
          this.dropouts.push(m);
          break;
        case 'failed':
          this.failures.push(m.message);
          break;
        default: {
          const never: never = m;
          throw new Error(`unknown message from a client host: ${JSON.stringify(never)}`);
        }
      }
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`client host ${child.pid} exited (${signal ?? code})`);
      for (const w of this.waiting.splice(0)) w.reject(this.exited);
    });
  }

  /** Forks a host (under the same loader as this process, so .ts runs) and waits until it takes commands. */
  static start(): Promise<ClientHost> {
    const entry = fileURLToPath(new URL('./client-host.ts', import.meta.url));
    const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`client host exited (${code}) before it was ready`)));
      child.once('message', (m) =>
        (m as FromHost).kind === 'ready'
          ? resolve(new ClientHost(child))
          : reject(new Error(`client host said ${JSON.stringify(m)} first`)),
      );
    });
  }

  request(command: ToHost): Promise<Reply> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.send(command);
    });
  }

  /** Planned dropouts reported since the last call. */
  takeDropouts(): Dropped[] {
    const out = this.dropouts;
    this.dropouts = [];
    return out;
  }

  /** Client failures reported since the last call. */
  takeFailures(): string[] {
    const out = this.failures;
    this.failures = [];
    return out;
  }

  /** Stops its clients and waits for the process to end (killing it, by pid, if it hangs). */
  async exit(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.request({ kind: 'exit' }).catch(() => undefined);
    await gone;
    clearTimeout(timer);
  }
}
