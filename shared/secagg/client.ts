import { defaultX25519, open, seal, type X25519, type X25519KeyPair } from './agreement.js';
import {
  assertLittleEndianHost,
  bytesEqual,
  concatBytes,
  lengthPrefixed,
  randomBytes,
  splitLengthPrefixed,
} from './bytes.js';
import { encodeUpdate } from './encoding.js';
import { SecAggRefusal } from './errors.js';
import {
  defaultSign,
  defaultVerify,
  seedCommitment,
  signAdvertisement,
  signSurvivors,
  verifyAdvertisement,
  verifySurvivors,
  type Ed25519Sign,
  type Ed25519Verify,
  type IdentityKeyPair,
  type IdentityPins,
  type SurvivorStatement,
} from './identity.js';
import { pairwiseMaskKey, selfMaskKey, shareBoxKey } from './kdf.js';
import type { Keystream } from './keystream.js';
import { defaultMaskAccumulator, keystreamAccumulator, type MaskAccumulator, type MaskTerm } from './masks.js';
import type {
  AdvertiseKeysMessage,
  ConsistencyMessage,
  ConsistencyRequestMessage,
  MaskedInputMessage,
  PeerKeysMessage,
  RoutedSharesMessage,
  SecAggSetup,
  ShareKeysMessage,
  UnmaskMessage,
  UnmaskRequestMessage,
} from './messages.js';
import { roundContext, type DerivedSetup } from './round.js';
import { splitSecret } from './shamir.js';
import { commitShares, neighbourIndex, pairMatches, revealProof } from './share-commitment.js';
import { TASK_DIGEST_BYTES } from './task-digest.js';

/** Audit mode: the client's own plaintext, so anyone can compare it with what the coordinator saw. */
export interface ClientAudit {
  plaintext(record: { round: number; delta: Float32Array; numExamples: number; encoded: Uint32Array }): void;
}

export interface SecAggClientOptions {
  id: string;
  identity: IdentityKeyPair;
  setup: SecAggSetup;
  /** taskDigest() of the task and weights this client was given; its neighbours must have the same. */
  digest: Uint8Array;
  /** Mask generator; default: Node's streaming AES-CTR under Node, WebCrypto elsewhere. */
  keystream?: Keystream;
  x25519?: X25519;
  verify?: Ed25519Verify;
  sign?: Ed25519Sign;
  /** Identity keys seen in earlier rounds; a roster that changes one is refused. */
  pins?: IdentityPins;
  audit?: ClientAudit;
}

export interface LocalUpdate {
  delta: Float32Array;
  numExamples: number;
}

interface Peer {
  maskingKey: Uint8Array;
  /** Root of the shares it dealt, from its signed advertisement. */
  shareRoot: Uint8Array;
  /** Keys sealing the shares we send to this peer, and the ones it sends us. */
  sendKey: Uint8Array;
  receiveKey: Uint8Array;
}

/**
 * The two shares a neighbour dealt us (of its self-mask seed and of its masking secret key) and
 * the path from them to its signed share root: we reveal one share with the other's hash and the
 * path, so that a share its dealer never committed to is pinned on whoever reveals it.
 */
interface HeldShares {
  selfMaskSeed: Uint8Array;
  maskingKey: Uint8Array;
  path: Uint8Array;
}

/** Our shares of both secrets for each peer, in the order given. */
export interface SecretShares {
  selfMaskSeed: Uint8Array[];
  maskingKey: Uint8Array[];
}

export type ClientPhase = 'new' | 'advertised' | 'shared' | 'masked' | 'signed' | 'finished' | 'busy' | 'refused';

/**
 * One client's side of a SecAgg+ round, as a state machine without I/O: each method takes the
 * coordinator's message for the next phase and returns the reply. A method that finds something
 * wrong throws SecAggRefusal, and the client is out of the round for good.
 */
export class SecAggClient {
  private state: ClientPhase = 'new';
  private readonly ctx: DerivedSetup;
  private readonly neighbours: ReadonlySet<string>;
  private readonly x25519: X25519;
  private readonly encryption: X25519KeyPair;
  private readonly masking: X25519KeyPair;
  private readonly masks: MaskAccumulator;
  private readonly verify: Ed25519Verify;
  private readonly sign: Ed25519Sign;
  private readonly peers = new Map<string, Peer>();
  private readonly held = new Map<string, HeldShares>();
  /** What we deal each neighbour, committed to in our advertisement. */
  private readonly dealt = new Map<string, HeldShares>();
  private readonly selfMaskSeed = randomBytes(32);
  /** The survivor list we signed in the consistency round: the only one we unmask for. */
  private signedSurvivors: ReadonlySet<string> | undefined;

  constructor(private readonly options: SecAggClientOptions) {
    assertLittleEndianHost();
    try {
      this.ctx = roundContext(options.setup);
    } catch (error) {
      throw new SecAggRefusal(`invalid round setup: ${(error as Error).message}`);
    }
    const { id, identity, setup, pins } = options;
    const registered = this.ctx.identityKeys.get(id);
    if (!registered) throw new SecAggRefusal(`client '${id}' is not among the round's participants`);
    if (!bytesEqual(registered, identity.publicKey))
      throw new SecAggRefusal(`the roster lists another identity key for '${id}' than ours`);
    const changed = pins?.checkAndPin(setup.participants);
    if (changed !== undefined)
      throw new SecAggRefusal(`the identity key of '${changed}' differs from the one seen in earlier rounds`);
    if (options.digest.length !== TASK_DIGEST_BYTES)
      throw new SecAggRefusal(`the task digest must be ${TASK_DIGEST_BYTES} bytes, got ${options.digest.length}`);
    this.neighbours = new Set(this.ctx.graph.get(id));
    this.masks = options.keystream ? keystreamAccumulator(options.keystream) : defaultMaskAccumulator();
    this.verify = options.verify ?? defaultVerify();
    this.sign = options.sign ?? defaultSign();
    this.x25519 = options.x25519 ?? defaultX25519();
    this.encryption = this.x25519.keyPair();
    this.masking = this.x25519.keyPair();
  }

  get phase(): ClientPhase {
    return this.state;
  }

  private get round(): number {
    return this.options.setup.round;
  }

  private get threshold(): number {
    return this.options.setup.threshold;
  }

  private get nonce(): Uint8Array {
    return this.options.setup.nonce;
  }

  /**
   * Phase 0: fresh X25519 keys for this round, a commitment to the self-mask seed, and one to
   * the shares of both secrets dealt to every neighbour in the graph, signed with the identity key.
   */
  async advertise(): Promise<AdvertiseKeysMessage> {
    this.begin('new', this.round);
    return this.finish('advertised', async () => this.advertisement());
  }

  private async advertisement(): Promise<AdvertiseKeysMessage> {
    const to = [...this.neighbours].sort();
    const { selfMaskSeed, maskingKey } = await this.splitSecrets(to.length);
    const { root, paths } = commitShares({ to, selfMaskSeed, maskingKey });
    to.forEach((v, i) =>
      this.dealt.set(v, { selfMaskSeed: selfMaskSeed[i], maskingKey: maskingKey[i], path: paths[i] }),
    );
    const keys = {
      round: this.round,
      nonce: this.nonce,
      clientId: this.options.id,
      encryptionKey: this.encryption.publicKey,
      maskingKey: this.masking.publicKey,
      digest: this.options.digest,
      seedCommitment: seedCommitment(this.round, this.nonce, this.options.id, this.selfMaskSeed),
      shareRoot: root,
    };
    const signature = signAdvertisement(keys, this.options.identity, this.sign);
    const { encryptionKey, digest } = keys;
    return {
      type: 'secagg/advertise-keys',
      round: this.round,
      encryptionKey,
      maskingKey: keys.maskingKey,
      digest,
      seedCommitment: keys.seedCommitment,
      shareRoot: root,
      signature,
    };
  }

  /**
   * Phase 1: verify the neighbours' keys and that they were given the same task (digest), then
   * send each one its shares of our two secrets with their path to our share root, sealed.
   */
  async shareKeys(message: PeerKeysMessage): Promise<ShareKeysMessage> {
    this.begin('advertised', message.round);
    return this.finish('shared', async () => {
      const agree = this.x25519.agreement(this.encryption);
      const id = this.options.id;
      for (const p of message.peers) {
        if (!this.neighbours.has(p.id)) throw new SecAggRefusal(`'${p.id}' is not our neighbour in this round's graph`);
        if (this.peers.has(p.id)) throw new SecAggRefusal(`keys of '${p.id}' were sent twice`);
        const signed = {
          round: this.round,
          nonce: this.nonce,
          clientId: p.id,
          encryptionKey: p.encryptionKey,
          maskingKey: p.maskingKey,
          digest: p.digest,
          seedCommitment: p.seedCommitment,
          shareRoot: p.shareRoot,
        };
        if (!verifyAdvertisement(signed, p.signature, this.ctx.identityKeys.get(p.id)!, this.verify)) {
          throw new SecAggRefusal(
            `the keys advertised for '${p.id}' fail its identity signature: tampered or not theirs`,
          );
        }
        if (!bytesEqual(p.digest, this.options.digest)) {
          throw new SecAggRefusal(
            `neighbour '${p.id}' was given another model or round configuration than we were (task digests differ): the coordinator is not sending one model to all`,
          );
        }
        const secret = agreed(p.id, () => agree(p.encryptionKey));
        this.peers.set(p.id, {
          maskingKey: p.maskingKey,
          shareRoot: p.shareRoot,
          sendKey: shareBoxKey(this.round, id, p.id, secret),
          receiveKey: shareBoxKey(this.round, p.id, id, secret),
        });
      }
      this.requireEnough(this.peers.size, 'neighbours advertised keys');
      const shares = [...this.peers].map(([to, peer]) => ({
        to,
        sealed: seal(this.shareBoxContent(to), peer.sendKey),
      }));
      return { type: 'secagg/share-keys', round: this.round, shares };
    });
  }

  /** What we seal for neighbour `to`: both its shares and their path to our share root. */
  protected shareBoxContent(to: string): Uint8Array {
    const { selfMaskSeed, maskingKey, path } = this.dealt.get(to)!;
    return concatBytes([selfMaskSeed, maskingKey, path].map(lengthPrefixed));
  }

  /** t-of-`count` Shamir shares of the self-mask seed and of the masking secret key. */
  protected async splitSecrets(count: number): Promise<SecretShares> {
    return {
      selfMaskSeed: splitSecret(this.selfMaskSeed, count, this.threshold),
      maskingKey: splitSecret(this.masking.secretKey, count, this.threshold),
    };
  }

  /** Phase 2: open the shares routed to us, then send the update under self and pairwise masks. */
  async maskInput(message: RoutedSharesMessage, update: LocalUpdate): Promise<MaskedInputMessage> {
    this.begin('shared', message.round);
    return this.finish('masked', async () => {
      const m = this.options.setup.vectorLength;
      if (update.delta.length !== m)
        throw new Error(`update has ${update.delta.length} values, the round expects ${m}`);
      for (const { from, sealed } of message.shares) {
        const peer = this.peers.get(from);
        if (!peer) throw new SecAggRefusal(`shares from '${from}', who is not an advertised neighbour`);
        if (this.held.has(from)) throw new SecAggRefusal(`shares from '${from}' were routed twice`);
        this.held.set(from, this.openShares(sealed, from, peer));
      }
      this.requireEnough(this.held.size, 'neighbours shared keys');
      const encoded = encodeUpdate(update.delta, update.numExamples, this.ctx.encoding);
      this.options.audit?.plaintext({
        round: this.round,
        delta: update.delta,
        numExamples: update.numExamples,
        encoded: encoded.slice(),
      });
      const id = this.options.id;
      const agree = this.x25519.agreement(this.masking);
      const terms: MaskTerm[] = [{ key: selfMaskKey(this.round, id, this.selfMaskSeed), sign: 1 }];
      for (const v of this.held.keys()) {
        const secret = agreed(v, () => agree(this.peers.get(v)!.maskingKey));
        terms.push({ key: pairwiseMaskKey(this.round, id, v, secret), sign: id < v ? 1 : -1 });
      }
      await this.masks(encoded, terms);
      return { type: 'secagg/masked-input', round: this.round, masked: new Uint8Array(encoded.buffer) };
    });
  }

  /**
   * Phase 3 (consistency): check the survivor list and sign it. We sign one list per round and
   * unmask only for that list, so a coordinator cannot show us one list and our neighbours another
   * without being caught by the signatures it must bring to the unmask request.
   */
  consistency(message: ConsistencyRequestMessage): ConsistencyMessage {
    this.begin('masked', message.round);
    try {
      const survivors = new Set(message.survivors);
      if (survivors.size !== message.survivors.length) throw new SecAggRefusal('the survivor list repeats a client');
      for (const s of survivors)
        if (!this.ctx.identityKeys.has(s)) throw new SecAggRefusal(`survivor '${s}' is not a participant`);
      if (!survivors.has(this.options.id))
        throw new SecAggRefusal('our masked input is missing from the survivor list');
      // Cannot happen in an honest round (the coordinator aborts first); refusing keeps a
      // coordinator that declares mass dropouts from collecting masking-key shares.
      this.requireEnough([...this.held.keys()].filter((v) => survivors.has(v)).length, 'neighbours survived');
      this.signedSurvivors = survivors;
      const signature = signSurvivors(this.survivorStatement(survivors), this.options.identity, this.sign);
      this.state = 'signed';
      return { type: 'secagg/consistency', round: this.round, signature };
    } catch (error) {
      this.state = 'refused';
      throw error;
    }
  }

  /**
   * Phase 4: once at least t neighbours signed the very list we signed, reveal for each neighbour
   * whose shares we hold exactly one share: of its self-mask seed if it survived, of its masking
   * key if it dropped. A client unmasks once, so never both.
   */
  unmask(message: UnmaskRequestMessage): UnmaskMessage {
    this.begin('signed', message.round);
    try {
      const signed = this.signedSurvivors!;
      if (message.survivors.length !== signed.size || !message.survivors.every((s) => signed.has(s))) {
        throw new SecAggRefusal(
          'the unmask request lists other survivors than the list we signed: the coordinator is showing clients different views',
        );
      }
      const statement = this.survivorStatement(signed);
      const named = new Set<string>();
      for (const { id } of message.signatures) {
        if (!this.neighbours.has(id))
          throw new SecAggRefusal(`a consistency signature is attributed to '${id}', who is not our neighbour`);
        if (named.has(id)) throw new SecAggRefusal(`two consistency signatures are attributed to '${id}'`);
        named.add(id);
      }
      this.requireEnough(named.size, 'neighbours signed the same survivor list');
      // t valid signatures are what we need; checking the rest would cost time and prove nothing more.
      for (const { id, signature } of message.signatures.slice(0, this.threshold)) {
        if (!verifySurvivors(statement, signature, this.ctx.identityKeys.get(id)!, this.verify)) {
          throw new SecAggRefusal(
            `the consistency signature of '${id}' is not on the survivor list we signed: forged, or '${id}' was shown another list`,
          );
        }
      }
      const reply: UnmaskMessage = {
        type: 'secagg/unmask',
        round: this.round,
        selfMaskShares: [],
        maskingKeyShares: [],
      };
      for (const [of, shares] of this.held) {
        if (signed.has(of))
          reply.selfMaskShares.push({
            of,
            share: shares.selfMaskSeed,
            proof: revealProof(this.options.id, 'self-mask-seed', shares.maskingKey, shares.path),
          });
        else
          reply.maskingKeyShares.push({
            of,
            share: shares.maskingKey,
            proof: revealProof(this.options.id, 'masking-key', shares.selfMaskSeed, shares.path),
          });
      }
      this.state = 'finished';
      return reply;
    } catch (error) {
      this.state = 'refused';
      throw error;
    }
  }

  private survivorStatement(survivors: ReadonlySet<string>): SurvivorStatement {
    return { round: this.round, nonce: this.nonce, digest: this.options.digest, survivors: [...survivors].sort() };
  }

  /** Enters a phase: the right order and round, or the client refuses. 'busy' blocks re-entry. */
  private begin(expected: ClientPhase, round: number): void {
    const was = this.state;
    if (was !== expected) {
      this.state = 'refused';
      throw new SecAggRefusal(
        was === 'refused'
          ? 'this client already refused the round'
          : `out of order: this phase needs the client '${expected}', it is '${was}'`,
      );
    }
    if (round !== this.round) {
      this.state = 'refused';
      throw new SecAggRefusal(`message for round ${round}, this is round ${this.round}`);
    }
    this.state = 'busy';
  }

  private async finish<T>(next: ClientPhase, body: () => Promise<T>): Promise<T> {
    try {
      const result = await body();
      // A call that came in while this one ran has refused the round, and a refusal is final.
      if (this.state !== 'busy') throw new SecAggRefusal('this client already refused the round');
      this.state = next;
      return result;
    } catch (error) {
      this.state = 'refused';
      throw error;
    }
  }

  private requireEnough(count: number, what: string): void {
    if (count < this.threshold)
      throw new SecAggRefusal(`only ${count} ${what}, fewer than the threshold ${this.threshold}`);
  }

  /**
   * Opens a neighbour's share box and checks both shares against the share root it signed: a
   * share it did not commit to would be pinned on us when revealed, so we refuse it now.
   */
  private openShares(sealed: Uint8Array, from: string, peer: Peer): HeldShares {
    const plaintext = open(sealed, peer.receiveKey);
    if (!plaintext)
      throw new SecAggRefusal(`shares from '${from}' fail authentication: altered, reflected, or not sealed by them`);
    let fields: Uint8Array[];
    try {
      fields = splitLengthPrefixed(plaintext, 3).map((f) => f.slice());
    } catch (error) {
      throw new SecAggRefusal(`shares from '${from}' are malformed: ${(error as Error).message}`);
    }
    const [selfMaskSeed, maskingKey, path] = fields;
    const dealerNeighbours = this.ctx.graph.get(from)!;
    const id = this.options.id;
    if (
      !pairMatches(
        peer.shareRoot,
        dealerNeighbours.length,
        neighbourIndex(dealerNeighbours, id),
        id,
        selfMaskSeed,
        maskingKey,
        path,
      )
    ) {
      throw new SecAggRefusal(
        `the shares from '${from}' do not match the share root in its signed advertisement: '${from}' dealt shares it cannot be held to`,
      );
    }
    return { selfMaskSeed, maskingKey, path };
  }
}

/** Key agreement whose failure (a low-order key) is a refusal naming the peer. */
function agreed(peerId: string, agree: () => Uint8Array): Uint8Array {
  try {
    return agree();
  } catch (error) {
    throw new SecAggRefusal(`key agreement with '${peerId}' failed: ${(error as Error).message}`);
  }
}
