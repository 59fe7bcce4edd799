import type { EvaluateTask, EvaluationReport, RoundClosed, UpdateMeta, Welcome } from '../shared/protocol/messages.js';
import type { SecAggClientMessage } from '../shared/secagg/messages.js';
import type { Outbound } from './round/aggregation-protocol.js';
import type { SecureEvaluationOutbound } from './round/secure-evaluation.js';

/** Everything the coordinator sends to one client. */
export type LinkMessage =
  | Outbound
  | { event: 'welcome'; to: string; body: Welcome }
  | { event: 'round-closed'; to: string; body: RoundClosed }
  | { event: 'evaluate'; to: string; body: EvaluateTask; weights: Float32Array }
  | SecureEvaluationOutbound;

/** A connected client as the coordinator sees it: an id and a way to reach it. */
export interface ClientLink {
  readonly id: string;
  /** The socket.io connection id, by which a cluster node reaches the client through the Redis adapter. */
  readonly connection?: string;
  /** It holds held-out data and takes part in federated evaluation. */
  readonly canEvaluate?: boolean;
  send(message: LinkMessage): void;
  /** Closes the connection (a newer connection took over this client id). */
  close(reason: string): void;
}

/**
 * Everything a client sends the coordinator, decoded and schema-valid; `bytes` is its size on the
 * wire (compressed or not), for the round's upload volume.
 */
export type ClientMessage =
  | { kind: 'update'; meta: UpdateMeta; delta: Float32Array; bytes: number }
  | { kind: 'secagg'; round: number; body: SecAggClientMessage; bytes: number }
  | { kind: 'evaluation'; report: EvaluationReport }
  /** A stage message of a secure evaluation session (the `secagg-evaluation` event). */
  | { kind: 'secagg-evaluation'; round: number; body: SecAggClientMessage; bytes: number };
