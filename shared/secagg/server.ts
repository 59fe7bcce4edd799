import { defaultX25519, x25519PublicKey, type X25519 } from './agreement.js';
import { assertLittleEndianHost, bytesEqual } from './bytes.js';
import { aggregateErrorBound, decodeSum, widenMaskedWords } from './encoding.js';
import { SecAggMessageError } from './errors.js';
import {
  defaultVerify,
  seedCommitment,
  verifyAdvertisement,
  verifySurvivors,
  type Ed25519Verify,
  type SurvivorStatement,
} from './identity.js';
import { pairwiseMaskKey, selfMaskKey } from './kdf.js';
import type { Keystream } from './keystream.js';
import {
  defaultMaskAccumulator,
  keystreamAccumulator,
  signedView,
  type MaskAccumulator,
  type MaskTerm,
} from './masks.js';
import { combineShares } from './shamir.js';
import { addWordBytes, addWords } from './word-adder.js';
import type {
  SecAggClientMessage,
  SecAggServerMessage,
  SecAggSetup,
  ShareKeysMessage,
  UnmaskMessage,
} from './messages.js';
import { roundContext, type DerivedSetup } from './round.js';
import {
  commitmentDepth,
  neighbourIndex,
  revealedMatches,
  revealProofBytes,
  type ShareKind,
} from './share-commitment.js';

/** Audit mode: every message handed to receive(), with its sender, before the state machine checks it. */
export interface ServerAudit {
  received(sender: string, message: unknown): void;
}

export interface SecAggServerOptions {
  setup: SecAggSetup;
  /** Mask generator; default: Node's streaming AES-CTR under Node, WebCrypto elsewhere. */
  keystream?: Keystream;
  x25519?: X25519;
  verify?: Ed25519Verify;
  audit?: ServerAudit;
}

export type ActivePhase = 'advertise-keys' | 'share-keys' | 'masked-input' | 'consistency' | 'unmask';
export type ServerPhase = ActivePhase | 'done' | 'aborted';

/** A client that stopped answering in `phase`; `reason` when it refused rather than vanished. */
export interface Dropout {
  id: string;
  phase: ActivePhase;
  reason?: string;
}

export interface SecAggResult {
  /** Weighted FedAvg of the survivors' (clipped) updates. */
  mean: Float32Array;
  /** Sum of the survivors' capped example counts. */
  totalWeight: number;
  /** Clients whose updates are in the mean. */
  survivors: string[];
  dropouts: Dropout[];
  /** Deterministic bound on |mean - exact weighted mean| per coordinate (before float32 rounding). */
  errorBound: number;
}

export type ServerStep =
  | { kind: 'send'; phase: ActivePhase; messages: Map<string, SecAggServerMessage> }
  | { kind: 'done'; result: SecAggResult }
  | { kind: 'aborted'; reason: string; dropouts: Dropout[]; culprit?: string };

interface Advertised {
  encryptionKey: Uint8Array;
  maskingKey: Uint8Array;
  digest: Uint8Array;
  seedCommitment: Uint8Array;
  shareRoot: Uint8Array;
  signature: Uint8Array;
}

interface RevealedShare {
  share: Uint8Array;
  proof: Uint8Array;
}

interface Revealed {
  selfMaskShares: Map<string, RevealedShare>;
  maskingKeyShares: Map<string, RevealedShare>;
}

/** Shamir shares of a 32-byte secret carry one extra byte: the x coordinate. */
const SHARE_BYTES = 33;

/** A sealed share box: nonce, MAC, and three length-prefixed fields (two shares, their path to the dealer's share root). */
function sealedBytes(dealerDegree: number): number {
  return 24 + 16 + 3 * 4 + 2 * SHARE_BYTES + 32 * commitmentDepth(dealerDegree);
}

/** A check that fails aborts the round; `culprit` names the client at fault when it can be known. */
class RoundCheckFailure extends Error {
  constructor(
    message: string,
    readonly culprit?: string,
  ) {
    super(message);
  }
}

/**
 * The coordinator's side of a SecAgg+ round, as a state machine without I/O. The transport feeds
 * it every message with its authenticated sender (receive), and calls close() when everyone
 * expected has answered (pending() is empty, or complete() is true) or the phase times out;
 * close() returns the next phase's messages, the result, or a clean abort with its reason.
 * It sees masked inputs and shares only: never one client's update.
 */
export class SecAggServer {
  private state: ServerPhase = 'advertise-keys';
  private readonly ctx: DerivedSetup;
  private readonly threshold: number;
  private readonly masks: MaskAccumulator;
  private readonly x25519: X25519;
  private readonly verify: Ed25519Verify;
  private readonly awaiting: Set<string>;
  private readonly answered = new Set<string>();
  private readonly dropouts: Dropout[] = [];
  private readonly advertised = new Map<string, Advertised>();
  private readonly sealed = new Map<string, Map<string, Uint8Array>>();
  private readonly revealed = new Map<string, Revealed>();
  private readonly consistencySignatures = new Map<string, Uint8Array>();
  /** Consistency statements by task digest (hex), built once the survivor list U3 is known. */
  private readonly statements = new Map<string, SurvivorStatement>();
  /** Clients live after each phase: U1 advertised, U2 shared keys, U3 sent masked input, U4 signed the survivor list. */
  private u1 = new Set<string>();
  private u2 = new Set<string>();
  private u3 = new Set<string>();
  private u4 = new Set<string>();
  private readonly sum: Uint32Array;

  constructor(private readonly options: SecAggServerOptions) {
    assertLittleEndianHost();
    this.ctx = roundContext(options.setup);
    this.threshold = options.setup.threshold;
    this.masks = options.keystream ? keystreamAccumulator(options.keystream) : defaultMaskAccumulator();
    this.x25519 = options.x25519 ?? defaultX25519();
    this.verify = options.verify ?? defaultVerify();
    this.awaiting = new Set(options.setup.participants.map((p) => p.id));
    this.sum = new Uint32Array(options.setup.vectorLength + 1);
  }

  get phase(): ServerPhase {
    return this.state;
  }

  /** Clients still expected to answer in the current phase. */
  pending(): string[] {
    return [...this.awaiting];
  }

  /** True when waiting longer cannot change this phase's outcome. */
  complete(): boolean {
    if (this.awaiting.size === 0) return true;
    return (
      this.state === 'unmask' &&
      this.missingShares(this.answered, (u, kind) => this.sharesOf(u, this.answered, kind).length) === undefined
    );
  }

  /** Takes one message from `sender` (authenticated by the transport); throws SecAggMessageError, changing nothing, if it is not acceptable. */
  receive(sender: string, message: SecAggClientMessage): void {
    this.options.audit?.received(sender, message);
    if (this.state === 'done' || this.state === 'aborted')
      throw new SecAggMessageError(`round ${this.options.setup.round} is ${this.state}`);
    if (!this.awaiting.has(sender))
      throw new SecAggMessageError(
        `'${sender}' is not expected in phase '${this.state}' (not selected, dropped, or already answered)`,
      );
    if (message.round !== this.options.setup.round)
      throw new SecAggMessageError(`message for round ${message.round}, this is round ${this.options.setup.round}`);
    const phase = this.state;
    switch (message.type) {
      case 'secagg/refusal':
        this.dropouts.push({ id: sender, phase, reason: message.reason });
        this.awaiting.delete(sender);
        return;
      case 'secagg/advertise-keys': {
        this.expectPhase('advertise-keys', message.type);
        const { encryptionKey, maskingKey, digest, seedCommitment: commitment, shareRoot, signature } = message;
        const keys = {
          round: message.round,
          nonce: this.options.setup.nonce,
          clientId: sender,
          encryptionKey,
          maskingKey,
          digest,
          seedCommitment: commitment,
          shareRoot,
        };
        if (!verifyAdvertisement(keys, signature, this.identityOf(sender), this.verify)) {
          throw new SecAggMessageError(`keys from '${sender}' fail its identity signature`);
        }
        this.advertised.set(sender, {
          encryptionKey,
          maskingKey,
          digest,
          seedCommitment: commitment,
          shareRoot,
          signature,
        });
        break;
      }
      case 'secagg/share-keys':
        this.expectPhase('share-keys', message.type);
        this.sealed.set(sender, this.checkShares(sender, message));
        break;
      case 'secagg/masked-input': {
        this.expectPhase('masked-input', message.type);
        const words = this.sum.length;
        if (this.ctx.encoding.wordBits === 16) {
          let masked: Int32Array;
          try {
            masked = signedView(widenMaskedWords(message.masked, words - 1, this.ctx.encoding));
          } catch (e) {
            throw new SecAggMessageError(`masked input from '${sender}' ${(e as Error).message}`);
          }
          addWords(signedView(this.sum), masked, 1);
        } else {
          if (message.masked.length !== words * 4)
            throw new SecAggMessageError(
              `masked input from '${sender}' has ${message.masked.length} bytes, expected ${words * 4}`,
            );
          addWordBytes(signedView(this.sum), message.masked, 1);
        }
        break;
      }
      case 'secagg/consistency':
        this.expectPhase('consistency', message.type);
        if (!verifySurvivors(this.survivorStatement(sender), message.signature, this.identityOf(sender), this.verify)) {
          throw new SecAggMessageError(
            `the consistency signature of '${sender}' is not on the survivor list it was sent`,
          );
        }
        this.consistencySignatures.set(sender, message.signature);
        break;
      case 'secagg/unmask':
        this.expectPhase('unmask', message.type);
        this.revealed.set(sender, this.checkReveal(sender, message));
        break;
      default: {
        const unexpected: never = message;
        throw new SecAggMessageError(`unknown message ${JSON.stringify(unexpected)}`);
      }
    }
    this.awaiting.delete(sender);
    this.answered.add(sender);
  }

  /**
   * Takes the masked inputs of `senders` already added up mod 2^32 (a cluster node's partial:
   * one word vector, `words`, with the weight word last), as if each had sent its own: every
   * sender must be expected in the masked-input phase, once. Masked words are additive, so the
   * unmasked sum and its range checks are the same either way; throws SecAggMessageError, changing
   * nothing, if the partial is not acceptable.
   */
  receiveMaskedSum(senders: readonly string[], words: Uint32Array): void {
    if (this.state === 'done' || this.state === 'aborted')
      throw new SecAggMessageError(`round ${this.options.setup.round} is ${this.state}`);
    this.expectPhase('masked-input', 'masked input sum');
    if (senders.length === 0) throw new SecAggMessageError('a masked input sum names no sender');
    const seen = new Set<string>();
    for (const sender of senders) {
      if (seen.has(sender)) throw new SecAggMessageError(`a masked input sum names '${sender}' twice`);
      seen.add(sender);
      if (!this.awaiting.has(sender))
        throw new SecAggMessageError(
          `'${sender}' is not expected in phase '${this.state}' (not selected, dropped, or already answered)`,
        );
    }
    if (words.length !== this.sum.length)
      throw new SecAggMessageError(`a masked input sum has ${words.length} words, expected ${this.sum.length}`);
    addWords(signedView(this.sum), signedView(words), 1);
    for (const sender of senders) {
      this.awaiting.delete(sender);
      this.answered.add(sender);
    }
  }

  /** Ends the current phase with whoever answered; the rest count as dropped. */
  async close(): Promise<ServerStep> {
    const phase = this.state;
    if (phase === 'done' || phase === 'aborted')
      throw new Error(`round ${this.options.setup.round} is already ${phase}`);
    for (const id of this.awaiting) this.dropouts.push({ id, phase });
    const live = new Set(this.answered);
    this.answered.clear();
    this.awaiting.clear();
    switch (phase) {
      case 'advertise-keys':
        return this.closeAdvertise(live);
      case 'share-keys':
        return this.closeShareKeys(live);
      case 'masked-input':
        return this.closeMaskedInput(live);
      case 'consistency':
        return this.closeConsistency(live);
      case 'unmask':
        return this.closeUnmask(live);
      default: {
        const unexpected: never = phase;
        throw new Error(`unknown phase ${String(unexpected)}`);
      }
    }
  }

  private closeAdvertise(live: Set<string>): ServerStep {
    this.u1 = live;
    const short = this.lacksNeighbours(live, live);
    if (short) return this.abort(`after advertise: ${short}`);
    if (live.size === 0) return this.abort('after advertise: no client advertised keys');
    const messages = new Map<string, SecAggServerMessage>();
    for (const u of live) {
      const peers = this.neighboursIn(u, live).map((id) => ({ id, ...this.advertised.get(id)! }));
      messages.set(u, { type: 'secagg/peer-keys', round: this.options.setup.round, peers });
    }
    return this.advance('share-keys', live, messages);
  }

  private closeShareKeys(live: Set<string>): ServerStep {
    this.u2 = live;
    const short = this.lacksNeighbours(live, live);
    if (short) return this.abort(`after share keys: ${short}`);
    if (live.size === 0) return this.abort('after share keys: no client shared keys');
    const messages = new Map<string, SecAggServerMessage>();
    for (const v of live) {
      const shares = this.neighboursIn(v, live).map((from) => ({ from, sealed: this.sealed.get(from)!.get(v)! }));
      messages.set(v, { type: 'secagg/routed-shares', round: this.options.setup.round, shares });
    }
    return this.advance('masked-input', live, messages);
  }

  private closeMaskedInput(live: Set<string>): ServerStep {
    this.u3 = live;
    if (live.size === 0) return this.abort('after masked input: no client sent a masked input');
    const short = this.lacksNeighbours(live, live) ?? this.lacksNeighbours(this.droppedWithLiveNeighbours(), live);
    if (short) return this.abort(`after masked input: ${short}`);
    const survivors = [...live].sort();
    const messages = new Map<string, SecAggServerMessage>();
    for (const u of live)
      messages.set(u, { type: 'secagg/consistency-request', round: this.options.setup.round, survivors });
    return this.advance('consistency', live, messages);
  }

  /** Only clients that signed the survivor list unmask; each gets its neighbours' signatures on it. */
  private closeConsistency(live: Set<string>): ServerStep {
    this.u4 = live;
    const missing = this.missingShares(live, (u) => this.neighboursIn(u, live).length);
    if (missing)
      return this.abort(`after consistency: ${missing} can be revealed by clients that signed the survivor list`);
    const survivors = [...this.u3].sort();
    const messages = new Map<string, SecAggServerMessage>();
    for (const w of live) {
      const signatures = this.neighboursIn(w, live).map((id) => ({
        id,
        signature: this.consistencySignatures.get(id)!,
      }));
      messages.set(w, { type: 'secagg/unmask-request', round: this.options.setup.round, survivors, signatures });
    }
    return this.advance('unmask', live, messages);
  }

  private async closeUnmask(responders: Set<string>): Promise<ServerStep> {
    const missing = this.missingShares(responders, (u, kind) => this.sharesOf(u, responders, kind).length);
    if (missing) return this.abort(`during unmask: ${missing}`);
    const round = this.options.setup.round;
    const terms: MaskTerm[] = [];
    try {
      for (const u of [...this.u3].sort()) {
        const seed = this.rebuild(u, responders, 'selfMaskShares', (s) =>
          bytesEqual(seedCommitment(round, this.options.setup.nonce, u, s), this.advertised.get(u)!.seedCommitment),
        );
        terms.push({ key: selfMaskKey(round, u, seed), sign: -1 });
      }
      for (const v of [...this.droppedWithLiveNeighbours()].sort()) {
        const publicKey = this.advertised.get(v)!.maskingKey;
        const secretKey = this.rebuild(
          v,
          responders,
          'maskingKeyShares',
          (key) => key.length === 32 && bytesEqual(x25519PublicKey(key), publicKey),
        );
        const agree = this.x25519.agreement({ secretKey, publicKey });
        for (const w of this.neighboursIn(v, this.u3)) {
          terms.push({
            key: pairwiseMaskKey(round, w, v, agree(this.advertised.get(w)!.maskingKey)),
            sign: w < v ? -1 : 1,
          });
        }
      }
      await this.masks(this.sum, terms);
      const result = this.decodeChecked();
      this.state = 'done';
      return { kind: 'done', result };
    } catch (error) {
      const culprit = error instanceof RoundCheckFailure ? error.culprit : undefined;
      return this.abort(`during unmask: ${(error as Error).message}`, culprit);
    }
  }

  /**
   * Rebuilds `owner`'s secret from t revealed shares and checks it against what the owner
   * committed to in its signed advertisement. On a mismatch every revealed share is checked
   * against the owner's signed share root: a share it never committed to convicts whoever
   * revealed it; if all hold, the owner dealt inconsistent shares.
   */
  private rebuild(
    owner: string,
    responders: ReadonlySet<string>,
    kind: keyof Revealed,
    matches: (secret: Uint8Array) => boolean,
  ): Uint8Array {
    const holders = this.neighboursIn(owner, responders).filter((h) => this.revealed.get(h)![kind].has(owner));
    const shares = holders.map((h) => this.revealed.get(h)![kind].get(owner)!);
    // A forged share may also make the combination itself fail (e.g. a repeated x coordinate).
    let secret: Uint8Array | undefined;
    try {
      secret = combineShares(shares.slice(0, this.threshold).map((s) => s.share));
    } catch {
      secret = undefined;
    }
    if (secret && matches(secret)) return secret;
    const shareKind: ShareKind = kind === 'selfMaskShares' ? 'self-mask-seed' : 'masking-key';
    const what = kind === 'selfMaskShares' ? 'self-mask seed' : 'masking key';
    const root = this.advertised.get(owner)!.shareRoot;
    const ownerNeighbours = this.ctx.graph.get(owner)!;
    for (const [i, holder] of holders.entries()) {
      if (
        !revealedMatches(
          root,
          ownerNeighbours.length,
          neighbourIndex(ownerNeighbours, holder),
          holder,
          shareKind,
          shares[i].share,
          shares[i].proof,
        )
      ) {
        throw new RoundCheckFailure(
          `'${holder}' revealed a share of the ${what} of '${owner}' that '${owner}' never committed to`,
          holder,
        );
      }
    }
    throw new RoundCheckFailure(
      `the ${what} rebuilt for '${owner}' does not match what it committed to, from shares it committed to itself: '${owner}' dealt bad shares`,
      owner,
    );
  }

  /**
   * Decodes the unmasked sum and checks it is one honest clients could have produced: every mean
   * coordinate within the clip range (plus the rounding bound), the total weight within
   * [survivors, survivors x maxWeight]. Masked words cannot be attributed, so no culprit is named.
   */
  private decodeChecked(): SecAggResult {
    const survivors = this.u3.size;
    const { clip, maxWeight } = this.ctx.encoding;
    const totalWeight = this.sum[this.sum.length - 1];
    if (totalWeight < survivors || totalWeight > survivors * maxWeight) {
      throw new RoundCheckFailure(
        `the total weight ${totalWeight} is outside [${survivors}, ${survivors * maxWeight}] for ${survivors} survivors: some client sent a malformed weight word`,
      );
    }
    const { mean } = decodeSum(this.sum, this.ctx.encoding);
    const errorBound = aggregateErrorBound(this.ctx.encoding, survivors, totalWeight);
    // float32 rounding of the decoded mean adds a relative 2^-24.
    const limit = (clip + errorBound) * (1 + 2 ** -22);
    for (let i = 0; i < mean.length; i++) {
      if (!(Math.abs(mean[i]) <= limit)) {
        throw new RoundCheckFailure(
          `coordinate ${i} of the mean is ${mean[i]}, outside the clip range +-${clip} (+${errorBound.toExponential(2)}): some client sent words outside the encoding`,
        );
      }
    }
    return { mean, totalWeight, survivors: [...this.u3].sort(), dropouts: [...this.dropouts], errorBound };
  }

  private identityOf(id: string): Uint8Array {
    return this.ctx.identityKeys.get(id)!;
  }

  /** What `signer` signs in the consistency round: the survivor list, under its own task digest (one statement per digest). */
  private survivorStatement(signer: string): SurvivorStatement {
    const digest = this.advertised.get(signer)!.digest;
    const key = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    let statement = this.statements.get(key);
    if (!statement) {
      const { round, nonce } = this.options.setup;
      this.statements.set(key, (statement = { round, nonce, digest, survivors: [...this.u3].sort() }));
    }
    return statement;
  }

  private advance(next: ActivePhase, live: Set<string>, messages: Map<string, SecAggServerMessage>): ServerStep {
    this.state = next;
    for (const id of live) this.awaiting.add(id);
    return { kind: 'send', phase: next, messages };
  }

  private abort(reason: string, culprit?: string): ServerStep {
    this.state = 'aborted';
    this.awaiting.clear();
    return { kind: 'aborted', reason, dropouts: [...this.dropouts], ...(culprit !== undefined ? { culprit } : {}) };
  }

  private expectPhase(phase: ActivePhase, type: string): void {
    if (this.state !== phase) throw new SecAggMessageError(`'${type}' arrived in phase '${this.state}'`);
  }

  private neighboursIn(id: string, set: ReadonlySet<string>): string[] {
    return this.ctx.graph.get(id)!.filter((v) => set.has(v));
  }

  /** The first member of `members` with fewer than t neighbours in `live`, described; else undefined. */
  private lacksNeighbours(members: Iterable<string>, live: ReadonlySet<string>): string | undefined {
    for (const u of members) {
      const count = this.neighboursIn(u, live).length;
      if (count < this.threshold)
        return `client '${u}' has ${count} live neighbours, fewer than the threshold ${this.threshold}`;
    }
    return undefined;
  }

  /** Clients that shared keys but sent no masked input, yet sit in some survivor's masks. */
  private droppedWithLiveNeighbours(): Set<string> {
    const out = new Set<string>();
    for (const v of this.u2) if (!this.u3.has(v) && this.neighboursIn(v, this.u3).length > 0) out.add(v);
    return out;
  }

  private sharesOf(id: string, responders: ReadonlySet<string>, kind: keyof Revealed): RevealedShare[] {
    return this.neighboursIn(id, responders).map((holder) => this.revealed.get(holder)![kind].get(id)!);
  }

  /** The first secret with fewer than t shares (as `count` sees them), described; undefined when none. */
  private missingShares(
    responders: ReadonlySet<string>,
    count: (owner: string, kind: keyof Revealed) => number,
  ): string | undefined {
    const t = this.threshold;
    for (const u of this.u3) {
      const n = count(u, 'selfMaskShares');
      if (n < t) return `${n} shares of the self-mask seed of '${u}', fewer than the threshold ${t}`;
    }
    for (const v of this.droppedWithLiveNeighbours()) {
      const n = count(v, 'maskingKeyShares');
      if (n < t) return `${n} shares of the masking key of dropped client '${v}', fewer than the threshold ${t}`;
    }
    return undefined;
  }

  private checkShares(sender: string, message: ShareKeysMessage): Map<string, Uint8Array> {
    const expected = new Set(this.neighboursIn(sender, this.u1));
    const out = new Map<string, Uint8Array>();
    const size = sealedBytes(this.ctx.graph.get(sender)!.length);
    for (const { to, sealed } of message.shares) {
      if (!expected.has(to) || out.has(to))
        throw new SecAggMessageError(
          `'${sender}' sent shares for '${to}', who is not one of its advertised neighbours or appears twice`,
        );
      if (sealed.length !== size)
        throw new SecAggMessageError(`'${sender}' sent a ${sealed.length}-byte share box, expected ${size}`);
      out.set(to, sealed);
    }
    if (out.size !== expected.size)
      throw new SecAggMessageError(`'${sender}' sent shares for ${out.size} of its ${expected.size} neighbours`);
    return out;
  }

  private checkReveal(sender: string, message: UnmaskMessage): Revealed {
    const held = this.neighboursIn(sender, this.u2);
    const expectSelf = held.filter((v) => this.u3.has(v));
    const expectKey = held.filter((v) => !this.u3.has(v));
    const read = (
      entries: UnmaskMessage['selfMaskShares'],
      expected: string[],
      what: string,
    ): Map<string, RevealedShare> => {
      const out = new Map<string, RevealedShare>();
      for (const { of, share, proof } of entries) {
        if (share.length !== SHARE_BYTES)
          throw new SecAggMessageError(
            `'${sender}' sent a ${share.length}-byte share of '${of}', expected ${SHARE_BYTES}`,
          );
        const graphOf = this.ctx.graph.get(of);
        if (!graphOf) throw new SecAggMessageError(`'${sender}' revealed a share of '${of}', who is not a participant`);
        const proofBytes = revealProofBytes(graphOf.length);
        if (proof.length !== proofBytes)
          throw new SecAggMessageError(
            `'${sender}' sent a ${proof.length}-byte proof with the share of '${of}', expected ${proofBytes}`,
          );
        out.set(of, { share, proof });
      }
      if (out.size !== entries.length || out.size !== expected.length || !expected.every((v) => out.has(v))) {
        throw new SecAggMessageError(`'${sender}' must reveal ${what} shares for exactly [${expected.join(', ')}]`);
      }
      return out;
    };
    return {
      selfMaskShares: read(message.selfMaskShares, expectSelf, 'self-mask'),
      maskingKeyShares: read(message.maskingKeyShares, expectKey, 'masking-key'),
    };
  }
}
