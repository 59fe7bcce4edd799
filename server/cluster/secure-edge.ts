import { encodeEnvelope } from '../../shared/protocol/envelope.js';
import { addWords } from '../../shared/secagg/word-adder.js';
import { widenMaskedWords } from '../../shared/secagg/encoding.js';
import { int32View, signedView } from '../../shared/secagg/masks.js';
import { roundContext } from '../../shared/secagg/round.js';
import type { SecAggClientMessage, SecAggSetup } from '../../shared/secagg/messages.js';
import type { Verdict } from '../round/aggregation-protocol.js';
import type { ClientLink } from '../client-link.js';
import type { Framed, Relay } from './cluster-messages.js';
import { decodeRelay, relayedWeights } from './secure-relay.js';

/** Share of the masked-input phase after which a node forwards its sum even if local clients are still out. */
const FLUSH_AT = 0.8;

interface SecureRound {
  round: number;
  token: number;
  /** The model version the round trains from. */
  version: number;
  setup: SecAggSetup;
  /** Local clients the round's task was relayed to. */
  participants: Set<string>;
  /** Local clients the leader sent their routed shares: the masked inputs this node waits for. */
  expected: Set<string>;
  contributors: Set<string>;
  sum: Uint32Array;
  updateBytes: number;
  timer: NodeJS.Timeout | undefined;
  flushed: boolean;
}

/**
 * A cluster node's side of a secure round it does not lead. Relays the leader's messages to this
 * node's clients; forwards their SecAgg+ messages to the leader, except masked inputs, which it
 * checks as the SecAgg+ server does (expected in the phase, once, of the round's size) and adds up
 * mod 2^32: the leader gets one sum per node and the list of clients in it. It forwards the sum
 * once every local client sent to the masked-input phase has answered, refused or left, or at
 * FLUSH_AT of the phase timeout; later masked inputs are refused as stale.
 */
export class SecureEdge {
  private current: SecureRound | undefined;
  /** Bytes of masked inputs this node accepted since it started. */
  bytesIn = 0;

  constructor(
    readonly nodeId: string,
    private readonly links: ReadonlyMap<string, ClientLink>,
    private readonly phaseTimeoutMs: number,
    private readonly send: (framed: Framed) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** The leader's relay frame (fenced by the caller): sends this node's clients their messages. */
  relay(relay: Relay, bytes: Uint8Array | undefined): void {
    if (relay.node !== this.nodeId) return;
    let items;
    try {
      if (!bytes) throw new Error('a relay frame has no payload');
      items = decodeRelay(bytes);
    } catch (e) {
      this.log(`ignored the leader's relay for round ${relay.round}: ${(e as Error).message}`);
      return;
    }
    for (const item of items) {
      const local = item.to.filter((id) => this.links.has(id));
      if (local.length === 0) continue;
      if (item.event === 'train') {
        const section = item.body.secureAggregation;
        if (section) {
          const state = this.open(item.body.round, relay.token, item.body.version, section.setup);
          for (const id of local) state.participants.add(id);
        }
        const weights = relayedWeights(item.weights);
        for (const to of local) this.links.get(to)!.send({ event: 'train', to, body: item.body, weights });
        continue;
      }
      const state = this.current;
      for (const to of local) {
        if (item.body.type === 'secagg/routed-shares' && state?.round === item.body.round && !state.flushed) {
          state.expected.add(to);
          state.timer ??= setTimeout(() => this.flush(state), Math.floor(this.phaseTimeoutMs * FLUSH_AT));
        }
        this.links.get(to)!.send({ event: 'secagg', to, body: item.body });
      }
    }
  }

  /** A local client's SecAgg+ message on a node that does not lead: summed here (masked inputs) or forwarded. */
  receive(clientId: string, round: number, body: SecAggClientMessage, bytes: number): Verdict {
    const state = this.current;
    if (!state || state.round !== round)
      return {
        ok: false,
        code: 'stale-round',
        message: `node ${this.nodeId} relays no secure round ${round} (message '${body.type}')`,
      };
    if (body.type === 'secagg/masked-input' && state.expected.has(clientId))
      return this.add(state, clientId, body, bytes);
    if (body.type === 'secagg/refusal' && state.expected.delete(clientId)) this.flushIfSettled(state);
    this.send({
      message: { kind: 'secagg-forward', round, token: state.token, node: this.nodeId, clientId },
      bytes: new Uint8Array(encodeEnvelope(body)),
    });
    return { ok: true };
  }

  /** A local client disconnected: its masked input is not waited for. */
  left(clientId: string): void {
    const state = this.current;
    if (state?.expected.delete(clientId)) this.flushIfSettled(state);
  }

  /**
   * The leader holding `token` closed `round`: nothing more is forwarded for it. A round this node
   * still holds under an older leader (one the new leader sent this node nothing for) never closes:
   * its participants are told it failed.
   */
  closed(round: number, token: number): void {
    const state = this.current;
    if (!state) return;
    if (state.token === token) {
      if (state.round === round) this.end();
    } else
      this.abandon(`the cluster's leader changed (fencing token ${state.token} -> ${token}): the round will not close`);
  }

  end(): void {
    if (this.current) clearTimeout(this.current.timer);
    this.current = undefined;
  }

  /**
   * The leader that ran the current round is gone (another took over): the round will never close,
   * so its local participants are told it failed. A client waits for its secure round to end before
   * it takes the next task, and the new leader runs the round again under the same number.
   */
  abandon(reason: string): void {
    const state = this.current;
    if (!state) return;
    this.end();
    for (const to of state.participants)
      this.links.get(to)?.send({
        event: 'round-closed',
        to,
        body: { round: state.round, outcome: 'failed', version: state.version, reason },
      });
  }

  private open(round: number, token: number, version: number, setup: SecAggSetup): SecureRound {
    const current = this.current;
    if (current?.round === round && current.token === token) return current;
    if (current && current.token !== token)
      this.abandon(`the cluster's leader changed (fencing token ${current.token} -> ${token}): the round runs again`);
    this.end();
    const state: SecureRound = {
      round,
      token,
      version,
      setup,
      participants: new Set(),
      expected: new Set(),
      contributors: new Set(),
      sum: new Uint32Array(setup.vectorLength + 1),
      updateBytes: 0,
      timer: undefined,
      flushed: false,
    };
    this.current = state;
    return state;
  }

  private add(
    state: SecureRound,
    clientId: string,
    body: Extract<SecAggClientMessage, { type: 'secagg/masked-input' }>,
    bytes: number,
  ): Verdict {
    const refuse = (code: 'stale-round' | 'invalid-message', message: string): Verdict => ({
      ok: false,
      code,
      message,
    });
    if (state.flushed)
      return refuse(
        'stale-round',
        `round ${state.round}'s masked inputs on node ${this.nodeId} were already forwarded`,
      );
    if (state.contributors.has(clientId))
      return refuse('invalid-message', `'${clientId}' is not expected in phase 'masked-input' (already answered)`);
    const words = state.sum.length;
    let masked: Int32Array;
    if (state.setup.wordBits === 16) {
      try {
        masked = signedView(widenMaskedWords(body.masked, words - 1, roundContext(state.setup).encoding));
      } catch (e) {
        return refuse('invalid-message', `masked input from '${clientId}' ${(e as Error).message}`);
      }
    } else {
      if (body.masked.length !== words * 4)
        return refuse(
          'invalid-message',
          `masked input from '${clientId}' has ${body.masked.length} bytes, expected ${words * 4}`,
        );
      masked = int32View(body.masked, words);
    }
    addWords(signedView(state.sum), masked, 1);
    state.contributors.add(clientId);
    state.updateBytes += bytes;
    this.bytesIn += bytes;
    this.flushIfSettled(state);
    return { ok: true };
  }

  private flushIfSettled(state: SecureRound): void {
    // Settled once the masked-input phase reached this node (the first routed shares) and nobody expected is out.
    if (state.timer !== undefined && [...state.expected].every((id) => state.contributors.has(id))) this.flush(state);
  }

  private flush(state: SecureRound): void {
    if (state.flushed || this.current !== state) return;
    state.flushed = true;
    clearTimeout(state.timer);
    if (state.contributors.size === 0) return;
    this.send({
      message: {
        kind: 'masked-partial',
        round: state.round,
        token: state.token,
        node: this.nodeId,
        clientIds: [...state.contributors],
        updateBytes: state.updateBytes,
      },
      bytes: new Uint8Array(state.sum.buffer, state.sum.byteOffset, state.sum.byteLength),
    });
  }
}
