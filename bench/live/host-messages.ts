/**
 * Messages between the live secure-aggregation bench and its client-host child processes (over
 * the fork IPC channel, both ends ours: no validation).
 */

/** Which clients leave in one round, and where. */
export interface DropPlan {
  round: number;
  /**
   * Client name -> in secure rounds, the 0-based index of the secure-aggregation message before
   * which it disconnects; in plaintext rounds it disconnects before uploading, whatever the value.
   */
  drops: Record<string, number>;
}

export type ToHost =
  /** Start these clients against a coordinator (the previous ones must be disconnected). */
  | {
      kind: 'connect';
      url: string;
      token: string;
      clients: { name: string; index: number }[];
      secure: boolean;
      inputShape: number[];
      numClasses: number;
      seed: number;
    }
  | { kind: 'plan'; plan: DropPlan }
  /** Restart the clients that dropped, under their own names and identities. */
  | { kind: 'restore' }
  /** The secure messages of `round`, in the order the client that sent the most sent them. */
  | { kind: 'stages'; round: number }
  /** CPU seconds this host process has used so far (its clients' work). */
  | { kind: 'cpu' }
  | { kind: 'disconnect' }
  | { kind: 'exit' };

export type FromHost =
  /** The host is up and takes commands. */
  | { kind: 'ready' }
  /** A command was carried out (each gets exactly one reply, in order); `stages` and `cpuS` answer 'stages' and 'cpu'. */
  | { kind: 'replied'; command: ToHost['kind']; stages?: string[]; cpuS?: number }
  | { kind: 'refused'; command: ToHost['kind']; message: string }
  /** A client left as planned, at `stage` (a secure stage as the client API names it, or 'upload'). */
  | { kind: 'dropped'; name: string; round: number; stage: string }
  /** A client ended with an error. */
  | { kind: 'failed'; message: string };
