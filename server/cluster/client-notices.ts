import type { ConnectedClient } from './cluster-messages.js';

/** One batch of a node's client changes: leaves apply before joins (a client that left and came back is in both). */
export interface ClientChanges {
  joined: ConnectedClient[];
  left: string[];
}

/**
 * Collects a node's client joins and leaves and reports them in batches, at most one per `delayMs`:
 * a burst of thousands of joins becomes a few Redis transactions and leader notices instead of one
 * of each per client, which queued the leader's lease renewals behind them on its Redis connection
 * and kept its event loop busy with one notice per client.
 */
export class ClientNotices {
  private readonly joined = new Map<string, ConnectedClient>();
  private readonly left = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly delayMs: number,
    private readonly report: (changes: ClientChanges) => void,
  ) {}

  join(client: ConnectedClient): void {
    this.joined.set(client.id, client);
    this.schedule();
  }

  leave(id: string): void {
    // Joined and gone within one batch: only the leave matters (an earlier connection may be on record).
    this.joined.delete(id);
    this.left.add(id);
    this.schedule();
  }

  /** Reports what is pending now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.joined.size === 0 && this.left.size === 0) return;
    const changes = { joined: [...this.joined.values()], left: [...this.left] };
    this.joined.clear();
    this.left.clear();
    this.report(changes);
  }

  /** Drops what is pending (the node is closing: its registry entry goes with it). */
  end(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.joined.clear();
    this.left.clear();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }
}
