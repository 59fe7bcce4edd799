import { split } from 'shamir-secret-sharing';
import { defaultX25519, open, seal, type X25519, type X25519KeyPair } from './agreement.js';
import { assertLittleEndianHost, bytesEqual, concatBytes, lengthPrefixed, randomBytes, splitLengthPrefixed } from './bytes.js';
import { encodeUpdate } from './encoding.js';
import { SecAggRefusal } from './errors.js';
import { defaultVerify, signAdvertisement, verifyAdvertisement, type Ed25519Verify, type IdentityKeyPair, type IdentityPins } from './identity.js';
import { pairwiseMaskKey, selfMaskKey, shareBoxKey } from './kdf.js';
import type { Keystream } from './keystream.js';
import { defaultMaskAccumulator, keystreamAccumulator, type MaskAccumulator, type MaskTerm } from './masks.js';
import type { AdvertiseKeysMessage, MaskedInputMessage, PeerKeysMessage, RoutedSharesMessage, SecAggSetup, ShareKeysMessage, UnmaskMessage, UnmaskRequestMessage } from './messages.js';
import { roundContext, type RoundContext } from './round.js';

/** Audit mode: the client's own plaintext, so anyone can compare it with what the coordinator saw. */
export interface ClientAudit {
  plaintext(record: { round: number; delta: Float32Array; numExamples: number; encoded: Uint32Array }): void;
}

export interface SecAggClientOptions {
  id: string;
  identity: IdentityKeyPair;
  setup: SecAggSetup;
  /** Mask generator; default: Node's streaming AES-CTR under Node, WebCrypto elsewhere. */
  keystream?: Keystream;
  x25519?: X25519;
  verify?: Ed25519Verify;
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
  /** Keys sealing the shares we send to this peer, and the ones it sends us. */
  sendKey: Uint8Array;
  receiveKey: Uint8Array;
}

/** The two shares a neighbour gave us: of its self-mask seed and of its masking secret key. */
interface HeldShares {
  selfMaskSeed: Uint8Array;
  maskingKey: Uint8Array;
}

export type ClientPhase = 'new' | 'advertised' | 'shared' | 'masked' | 'finished' | 'busy' | 'refused';

/**
 * One client's side of a SecAgg+ round, as a state machine without I/O: each method takes the
 * coordinator's message for the next phase and returns the reply. A method that finds something
 * wrong throws SecAggRefusal, and the client is out of the round for good.
 */
export class SecAggClient {
  private state: ClientPhase = 'new';
  private readonly ctx: RoundContext;
  private readonly neighbours: ReadonlySet<string>;
  private readonly x25519: X25519;
  private readonly encryption: X25519KeyPair;
  private readonly masking: X25519KeyPair;
  private readonly masks: MaskAccumulator;
  private readonly verify: Ed25519Verify;
  private readonly peers = new Map<string, Peer>();
  private readonly held = new Map<string, HeldShares>();
  private selfMaskSeed: Uint8Array = new Uint8Array(0);

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
    if (!bytesEqual(registered, identity.publicKey)) throw new SecAggRefusal(`the roster lists another identity key for '${id}' than ours`);
    const changed = pins?.checkAndPin(setup.participants);
    if (changed !== undefined) throw new SecAggRefusal(`the identity key of '${changed}' differs from the one seen in earlier rounds`);
    this.neighbours = new Set(this.ctx.graph.get(id));
    this.masks = options.keystream ? keystreamAccumulator(options.keystream) : defaultMaskAccumulator();
    this.verify = options.verify ?? defaultVerify();
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

  /** Phase 0: fresh X25519 keys for this round, signed with the identity key. */
  advertise(): AdvertiseKeysMessage {
    this.begin('new', this.round);
    const keys = { round: this.round, nonce: this.options.setup.nonce, clientId: this.options.id, encryptionKey: this.encryption.publicKey, maskingKey: this.masking.publicKey };
    const signature = signAdvertisement(keys, this.options.identity);
    this.state = 'advertised';
    return { type: 'secagg/advertise', round: this.round, encryptionKey: keys.encryptionKey, maskingKey: keys.maskingKey, signature };
  }

  /** Phase 1: verify the neighbours' keys, then send each one its shares of our two secrets, sealed. */
  async shareKeys(message: PeerKeysMessage): Promise<ShareKeysMessage> {
    this.begin('advertised', message.round);
    return this.finish('shared', async () => {
      const agree = this.x25519.agreement(this.encryption);
      const id = this.options.id;
      for (const p of message.peers) {
        if (!this.neighbours.has(p.id)) throw new SecAggRefusal(`'${p.id}' is not our neighbour in this round's graph`);
        if (this.peers.has(p.id)) throw new SecAggRefusal(`keys of '${p.id}' were sent twice`);
        const signed = { round: this.round, nonce: this.options.setup.nonce, clientId: p.id, encryptionKey: p.encryptionKey, maskingKey: p.maskingKey };
        if (!verifyAdvertisement(signed, p.signature, this.ctx.identityKeys.get(p.id)!, this.verify)) {
          throw new SecAggRefusal(`the keys advertised for '${p.id}' fail its identity signature: tampered or not theirs`);
        }
        const secret = agreed(p.id, () => agree(p.encryptionKey));
        this.peers.set(p.id, { maskingKey: p.maskingKey, sendKey: shareBoxKey(this.round, id, p.id, secret), receiveKey: shareBoxKey(this.round, p.id, id, secret) });
      }
      this.requireEnough(this.peers.size, 'neighbours advertised keys');
      this.selfMaskSeed = randomBytes(32);
      const order = [...this.peers.keys()];
      const seedShares = await split(this.selfMaskSeed, order.length, this.threshold);
      const keyShares = await split(this.masking.secretKey, order.length, this.threshold);
      const shares = order.map((to, i) => {
        return { to, sealed: seal(concatBytes([lengthPrefixed(seedShares[i]), lengthPrefixed(keyShares[i])]), this.peers.get(to)!.sendKey) };
      });
      return { type: 'secagg/share-keys', round: this.round, shares };
    });
  }

  /** Phase 2: open the shares routed to us, then send the update under self and pairwise masks. */
  async maskInput(message: RoutedSharesMessage, update: LocalUpdate): Promise<MaskedInputMessage> {
    this.begin('shared', message.round);
    return this.finish('masked', async () => {
      const m = this.options.setup.vectorLength;
      if (update.delta.length !== m) throw new Error(`update has ${update.delta.length} values, the round expects ${m}`);
      for (const { from, sealed } of message.shares) {
        const peer = this.peers.get(from);
        if (!peer) throw new SecAggRefusal(`shares from '${from}', who is not an advertised neighbour`);
        if (this.held.has(from)) throw new SecAggRefusal(`shares from '${from}' were routed twice`);
        this.held.set(from, this.openShares(sealed, from, peer));
      }
      this.requireEnough(this.held.size, 'neighbours shared keys');
      const encoded = encodeUpdate(update.delta, update.numExamples, this.ctx.encoding);
      this.options.audit?.plaintext({ round: this.round, delta: update.delta, numExamples: update.numExamples, encoded: encoded.slice() });
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
   * Phase 3: for each neighbour whose shares we hold, reveal exactly one share: of its self-mask
   * seed if it survived, of its masking key if it dropped. A client unmasks once, so never both.
   */
  unmask(message: UnmaskRequestMessage): UnmaskMessage {
    this.begin('masked', message.round);
    try {
      const survivors = new Set(message.survivors);
      if (survivors.size !== message.survivors.length) throw new SecAggRefusal('the survivor list repeats a client');
      for (const s of survivors) if (!this.ctx.identityKeys.has(s)) throw new SecAggRefusal(`survivor '${s}' is not a participant`);
      if (!survivors.has(this.options.id)) throw new SecAggRefusal('our masked input is missing from the survivor list');
      // Cannot happen in an honest round (the coordinator aborts first); refusing keeps a
      // coordinator that declares mass dropouts from collecting masking-key shares.
      this.requireEnough([...this.held.keys()].filter((v) => survivors.has(v)).length, 'neighbours survived');
      const reply: UnmaskMessage = { type: 'secagg/unmask', round: this.round, selfMaskShares: [], maskingKeyShares: [] };
      for (const [of, shares] of this.held) {
        if (survivors.has(of)) reply.selfMaskShares.push({ of, share: shares.selfMaskSeed });
        else reply.maskingKeyShares.push({ of, share: shares.maskingKey });
      }
      this.state = 'finished';
      return reply;
    } catch (error) {
      this.state = 'refused';
      throw error;
    }
  }

  /** Enters a phase: the right order and round, or the client refuses. 'busy' blocks re-entry. */
  private begin(expected: ClientPhase, round: number): void {
    const was = this.state;
    if (was !== expected) {
      this.state = 'refused';
      throw new SecAggRefusal(was === 'refused' ? 'this client already refused the round' : `out of order: this phase needs the client '${expected}', it is '${was}'`);
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
      this.state = next;
      return result;
    } catch (error) {
      this.state = 'refused';
      throw error;
    }
  }

  private requireEnough(count: number, what: string): void {
    if (count < this.threshold) throw new SecAggRefusal(`only ${count} ${what}, fewer than the threshold ${this.threshold}`);
  }

  private openShares(sealed: Uint8Array, from: string, peer: Peer): HeldShares {
    const plaintext = open(sealed, peer.receiveKey);
    if (!plaintext) throw new SecAggRefusal(`shares from '${from}' fail authentication: altered, reflected, or not sealed by them`);
    try {
      const [selfMaskSeed, maskingKey] = splitLengthPrefixed(plaintext, 2);
      return { selfMaskSeed: selfMaskSeed.slice(), maskingKey: maskingKey.slice() };
    } catch (error) {
      throw new SecAggRefusal(`shares from '${from}' are malformed: ${(error as Error).message}`);
    }
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
