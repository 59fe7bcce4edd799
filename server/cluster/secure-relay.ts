import { z } from 'zod';
import { decodeEnvelope, encodeEnvelope, type EnvelopeLimits } from '../../shared/protocol/envelope.js';
import { TrainTaskSchema } from '../../shared/protocol/messages.js';
import { SecAggClientMessageSchema, SecAggServerMessageSchema } from '../../shared/secagg/messages.js';
import type { SecAggClientMessage } from '../../shared/secagg/messages.js';
import type { LinkMessage } from '../client-link.js';
import type { Framed, MaskedPartial } from './cluster-messages.js';

/**
 * How a secure round's messages cross the cluster. Leader -> nodes: the protocol messages for
 * clients of other nodes go out in one `relay` frame per event-loop turn (a stage's messages to
 * every remote client together, and a training task shared by many clients once), so a node has
 * every message of a stage for its clients before any of them can answer. Nodes -> leader: a
 * client's SecAgg+ message in its envelope (`secagg-forward`), or the node's masked-input sum.
 */

/** Cluster frames carry whole stages: larger than one client message may be (envelope.ts's default). */
export const RELAY_ENVELOPE_LIMITS: EnvelopeLimits = { maxJsonBytes: 256 << 20, maxDepth: 32 };

const id = z.string().min(1).max(256);
const binary = z
  .custom<Uint8Array>((b) => b instanceof Uint8Array, { error: 'must be binary' })
  .refine((b) => b.byteLength % 4 === 0, { error: 'must be whole float32 values' });

const RelayItemSchema = z.discriminatedUnion('event', [
  z.strictObject({ event: z.literal('train'), to: z.array(id).min(1), body: TrainTaskSchema, weights: binary }),
  z.strictObject({ event: z.literal('secagg'), to: z.array(id).min(1), body: SecAggServerMessageSchema }),
]);
const RelayPayloadSchema = z.strictObject({ items: z.array(RelayItemSchema) });
export type RelayItem = z.infer<typeof RelayItemSchema>;

/** What the leader relays to clients of other nodes. */
export type RelayedMessage = Extract<LinkMessage, { event: 'train' | 'secagg' }>;

/** Decodes and checks a relay frame's payload; throws naming what is wrong. */
export function decodeRelay(bytes: Uint8Array): RelayItem[] {
  const parsed = RelayPayloadSchema.safeParse(decodeEnvelope(bytes, RELAY_ENVELOPE_LIMITS));
  if (!parsed.success) throw new Error(`invalid relay payload: ${z.prettifyError(parsed.error)}`);
  return parsed.data.items;
}

/** The float32 weights of a relayed training task (copied: the envelope's bytes need not be aligned). */
export function relayedWeights(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

interface RelayEntry {
  message: RelayedMessage;
  to: string[];
}

/**
 * The leader's outgoing relay: collects what the round sends to clients of other nodes during one
 * turn of the event loop and publishes it as one frame per node, so each node decodes only its
 * own clients' messages. A training task object shared by many clients (one per round) is encoded
 * once per node, with every recipient there.
 */
export class RelayBatcher {
  /** Per node, per message body (a shared task is one body), the message and its recipients. */
  private pending = new Map<string, Map<object, RelayEntry>>();

  constructor(
    /** The fencing token to stamp the frames with; undefined drops the batch (this node no longer leads). */
    private readonly token: () => number | undefined,
    private readonly publish: (framed: Framed) => void,
  ) {}

  /** Queues `message` for its recipient, a client of `node`. */
  add(message: RelayedMessage, node: string): void {
    if (this.pending.size === 0) queueMicrotask(() => this.flush());
    let byBody = this.pending.get(node);
    if (!byBody) this.pending.set(node, (byBody = new Map<object, RelayEntry>()));
    const known = byBody.get(message.body);
    if (known) known.to.push(message.to);
    else byBody.set(message.body, { message, to: [message.to] });
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = new Map();
    const token = this.token();
    if (token === undefined) return;
    for (const [node, byBody] of pending) {
      const items = [...byBody.values()];
      const payload = {
        items: items.map(({ message, to }) =>
          message.event === 'train'
            ? {
                event: 'train',
                to,
                body: message.body,
                weights: new Uint8Array(message.weights.buffer, message.weights.byteOffset, message.weights.byteLength),
              }
            : { event: 'secagg', to, body: message.body },
        ),
      };
      this.publish({
        message: { kind: 'relay', round: items[0].message.body.round, token, node, to: items.flatMap((i) => i.to) },
        bytes: new Uint8Array(encodeEnvelope(payload, RELAY_ENVELOPE_LIMITS)),
      });
    }
  }
}

/** A client's SecAgg+ message forwarded by its node, checked as the socket transport checks it. */
export function decodeForwarded(bytes: Uint8Array): SecAggClientMessage {
  const parsed = SecAggClientMessageSchema.safeParse(decodeEnvelope(bytes));
  if (!parsed.success) throw new Error(`invalid forwarded secagg message: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * Why the leader refuses a node's masked-input sum before the round sees it, or undefined: it must
 * name only clients the leader knows as connected to that very node (a node cannot add masked
 * words on behalf of another node's clients), and carry whole 32-bit words.
 */
export function maskedPartialRefusal(
  partial: MaskedPartial,
  bytes: Uint8Array | undefined,
  nodeOf: (clientId: string) => string | undefined,
): string | undefined {
  for (const clientId of partial.clientIds) {
    const node = nodeOf(clientId);
    if (node !== partial.node)
      return `node ${partial.node} sent a masked input sum naming ${clientId}, ${node === undefined ? 'which no node reports' : `a client of node ${node}`}`;
  }
  if (!bytes || bytes.byteLength === 0 || bytes.byteLength % 4 !== 0)
    return `node ${partial.node} sent a masked input sum of ${bytes?.byteLength ?? 0} bytes, not whole 32-bit words`;
  return undefined;
}

/** The words of a masked-input sum (copied: the frame's bytes need not be aligned). */
export function maskedWords(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
