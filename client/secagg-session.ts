import type { SecureTrainSection } from '../shared/protocol/secagg-messages.js';
import { packSecureVector, type SlotValues } from '../shared/protocol/secagg-vector.js';
import {
  packMaskedWords,
  roundContext,
  SecAggClient,
  SecAggRefusal,
  type ActivePhase,
  type ClientAudit,
  type IdentityKeyPair,
  type IdentityPins,
  type RoutedSharesMessage,
  type SecAggServerMessage,
  type SecAggClientMessage,
} from '../shared/secagg/index.js';

/**
 * A client's side of one secure round, around the SecAggClient state machine: once its update is
 * trained it advertises keys signed with its identity, shares its secrets when the peers' keys
 * come, sends the update masked when the peers' shares are in, and reveals its unmasking shares
 * when asked. Steps run one at a time, in arrival order; anything wrong (a key that fails its
 * signature, a roster that changed an identity) is a refusal sent to the coordinator, and the
 * client is out of the round. Isomorphic: Node crypto or WebCrypto underneath.
 */
export interface SecureRoundOptions {
  clientId: string;
  identity: IdentityKeyPair;
  /** Peers' identity keys seen in earlier rounds; a roster that changes one is refused. */
  pins: IdentityPins;
  section: SecureTrainSection;
  /** trainTaskDigest() of the task and weights we were given: signed into our keys, compared with the neighbours'. */
  digest: Uint8Array;
  /** Sends one message and resolves with the coordinator's refusal, or undefined when it was accepted. */
  send: (message: SecAggClientMessage) => Promise<string | undefined>;
  log: (line: string) => void;
  audit?: ClientAudit;
  /** Tests only: runs just before each stage's message goes out (a test disconnects the client there). */
  beforeSend?: (stage: ActivePhase, round: number) => void;
  /** Tests only: rewrites each outgoing message (a malicious client). */
  outbound?: (message: SecAggClientMessage) => SecAggClientMessage;
}

export class SecureRound {
  readonly round: number;
  private client: SecAggClient | undefined;
  private chain: Promise<void> = Promise.resolve();
  private shares: RoutedSharesMessage | undefined;
  private update: { vector: Float32Array; numExamples: number } | undefined;
  private closed = false;
  private maskedSent = false;
  private settleMasked: (refusal: string | undefined) => void = () => undefined;
  private readonly masked: Promise<string | undefined>;

  constructor(private readonly o: SecureRoundOptions) {
    this.round = o.section.setup.round;
    this.masked = new Promise((resolve) => {
      this.settleMasked = (refusal) => {
        this.settleMasked = () => undefined;
        resolve(refusal);
      };
    });
  }

  /** A `secagg` message from the coordinator, validated (it may be hostile all the same). */
  receive(message: SecAggServerMessage): void {
    if (message.round !== this.round) return;
    this.enqueue(async () => {
      const client = this.client;
      if (!client) return;
      switch (message.type) {
        case 'secagg/peer-keys':
          await this.emit('share-keys', await client.shareKeys(message));
          break;
        case 'secagg/routed-shares':
          this.shares = message;
          await this.maskIfReady();
          break;
        case 'secagg/consistency-request':
          await this.emit('consistency', client.consistency(message));
          break;
        case 'secagg/unmask-request': {
          const refusal = await this.emit('unmask', client.unmask(message), { quiet: true });
          this.o.log(
            refusal === undefined
              ? `round ${this.round}: unmasking shares sent (${message.survivors.length} updates in the sum)`
              : `round ${this.round}: unmasking shares not used (${refusal})`,
          );
          break;
        }
        default: {
          const never: never = message;
          throw new Error(`unknown secure-aggregation message ${JSON.stringify(never)}`);
        }
      }
    });
  }

  /**
   * The trained (and privatized) delta with the values summed alongside: checks the roster and
   * advertises this round's keys; the update goes out masked once the peers' shares are in.
   * Resolves with undefined when the coordinator accepted the masked input, else with why it was
   * not sent or was refused.
   */
  submit(delta: Float32Array, numExamples: number, values: SlotValues): Promise<string | undefined> {
    const { slots, setup } = this.o.section;
    this.enqueue(async () => {
      this.update = { vector: packSecureVector(delta, slots, values, setup.clip), numExamples };
      this.client = new SecAggClient({
        id: this.o.clientId,
        identity: this.o.identity,
        setup,
        digest: this.o.digest,
        pins: this.o.pins,
        ...(this.o.audit ? { audit: this.o.audit } : {}),
      });
      this.o.log(
        `round ${this.round}: secure aggregation with ${setup.participants.length} clients (k = ${setup.k}, threshold ${setup.threshold}): keys advertised`,
      );
      await this.emit('advertise-keys', await this.client.advertise());
    });
    return this.masked;
  }

  /** The round closed (or a new one started): nothing more is sent. */
  close(): void {
    this.closed = true;
    this.settleMasked('the round closed before the masked update was sent');
  }

  private async maskIfReady(): Promise<void> {
    if (!this.client || !this.shares || !this.update || this.maskedSent) return;
    this.maskedSent = true;
    const message = await this.client.maskInput(this.shares, {
      delta: this.update.vector,
      numExamples: this.update.numExamples,
    });
    // In a 16-bit round only each value word's low half goes out (encoding.ts: the sum is exact mod 2^16).
    const { setup } = this.o.section;
    const wire = setup.wordBits
      ? {
          ...message,
          masked: packMaskedWords(
            new Uint32Array(message.masked.buffer, message.masked.byteOffset, message.masked.byteLength / 4),
            roundContext(setup).encoding,
          ),
        }
      : message;
    this.settleMasked(await this.emit('masked-input', wire));
  }

  private async emit(
    stage: ActivePhase,
    message: SecAggClientMessage,
    options: { quiet?: boolean } = {},
  ): Promise<string | undefined> {
    this.o.beforeSend?.(stage, this.round);
    if (this.closed) return 'the round closed';
    const refusal = await this.o.send(this.o.outbound ? this.o.outbound(message) : message);
    if (refusal && !options.quiet)
      this.o.log(`round ${this.round}: the coordinator refused our ${message.type} message: ${refusal}`);
    return refusal;
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      try {
        await step();
      } catch (e) {
        // Any failure takes this client out of the round; telling the coordinator spares it the wait.
        const reason = e instanceof SecAggRefusal ? e.message : `client error: ${(e as Error).message}`;
        this.o.log(`round ${this.round}: refusing to go on with secure aggregation: ${reason}`);
        this.closed = true;
        this.settleMasked(`refused secure aggregation: ${reason}`);
        await this.o.send({ type: 'secagg/refusal', round: this.round, reason: reason.slice(0, 1000) });
      }
    });
  }
}
