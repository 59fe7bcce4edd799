import type * as tf from '@tensorflow/tfjs';
import { io } from 'socket.io-client';
import type { Dataset } from '../shared/data/dataset.js';
import { getFlatWeights, setFlatWeights, weightDelta } from '../shared/model/weights.js';
import { privatizeUpdate } from '../shared/privacy/client-privatize.js';
import { GaussianSampler } from '../shared/privacy/gaussian.js';
import {
  describeZodError,
  EvaluateTaskSchema,
  PROTOCOL_VERSION,
  RefusalSchema,
  RoundClosedSchema,
  SecureEvaluateTaskSchema,
  TrainTaskSchema,
  WelcomeSchema,
  type EvaluationReport,
  type JoinAuth,
  type UpdateMeta,
  type Welcome,
} from '../shared/protocol/messages.js';
import { encodeEnvelope } from '../shared/protocol/envelope.js';
import { envelopeSchema, EVENTS } from '../shared/protocol/events.js';
import { identityKeyToText, type SecureTrainSection } from '../shared/protocol/secagg-messages.js';
import { evaluationTaskDigest, TaskGuard, trainTaskDigest, type ClientPolicy } from '../shared/protocol/task-policy.js';
import {
  encodeEvaluation,
  secureEvaluationEncoding,
  secureEvaluationSetupProblem,
} from '../shared/aggregation/secure-evaluation.js';
import { decodeWeights } from '../shared/protocol/weights-codec.js';
import { describeCodec, FLOAT32_CODEC, tensorSizes } from '../shared/compression/codec-spec.js';
import { UpdateEncoder } from '../shared/compression/update-codec.js';
import type { Rng } from '../shared/random.js';
import {
  generateIdentity,
  IdentityPins,
  SecAggServerMessageSchema,
  type ActivePhase,
  type ClientAudit,
  type IdentityKeyPair,
  type SecAggClientMessage,
  type SecAggSetup,
} from '../shared/secagg/index.js';
import { assertDatasetFitsTask, buildModel } from '../shared/task.js';
import { evaluate, trainLocal, type ProgressFn, type TrainConfig, type TrainResult } from '../shared/training.js';
import { ask, DEFAULT_ACK_TIMEOUT_MS, type CoordinatorSocket } from './coordinator-socket.js';
import type { Progress } from './progress.js';
import { SecureRound } from './secagg-session.js';

/** Trains somewhere else than this thread (e.g. a TrainerPool worker); resolves with the trained weights. */
export type OffThreadTrainer = (job: {
  modelTopology: Record<string, unknown>;
  weights: Float32Array;
  data: Dataset;
  config: TrainConfig;
}) => Promise<{ weights: Float32Array; result: TrainResult }>;

/**
 * Trains a model in place on local data, as trainLocal does (DataParallelTrainer spreads each batch over
 * worker threads). An interface, not an import: this module also runs in browsers.
 */
export interface LocalTrainer {
  train(model: tf.LayersModel, data: Dataset, config: TrainConfig, onProgress?: ProgressFn): Promise<TrainResult>;
  /** The client calls this when it stops. */
  close(): Promise<void>;
}

export interface ClientOptions {
  /** Coordinator URL, e.g. http://127.0.0.1:8080 or https://coordinator.example:8443. */
  server: string;
  /** PEM certificate(s) to trust for an https coordinator (a private CA or a self-signed certificate); replaces Node's default CA list. */
  ca?: string;
  token: string;
  /** The local data; it never leaves this process. */
  data: Dataset;
  /** Stable client id shown in round records; the coordinator picks one when absent. */
  name?: string;
  progress: Progress;
  /** Reconnection backoff: first delay and cap (ms), doubling with jitter in between. */
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
  /** How long to wait for the coordinator to acknowledge an update. */
  ackTimeoutMs?: number;
  /** Local held-out data: the client then takes part in federated evaluation. It never leaves this process either. */
  evalData?: Dataset;
  /** Train off this thread; default: here, with a progress bar and early stop when the round closes. */
  trainer?: OffThreadTrainer;
  /** Trains each round here; default: trainLocal on this thread. `fedserve client --threads N` passes a DataParallelTrainer. */
  localTrainer?: LocalTrainer;
  /**
   * Replaces the computed delta before it is privatized and sent: simulations use it for
   * Byzantine clients (sign flip, noise, scaling). Never set in a real deployment.
   */
  transformUpdate?: (delta: Float32Array, round: number) => Float32Array;
  /** Source of the differential-privacy noise this client adds; the CSPRNG by default. */
  noise?: GaussianSampler;
  /** Ed25519 identity registered at join, signing the keys of every secure round; fresh when absent. */
  identity?: IdentityKeyPair;
  /** Audit mode: receives this client's plaintext update of every secure round, before masking. */
  secAggAudit?: ClientAudit;
  /** Tests only: runs just before each secure-aggregation stage message goes out, of a training or an evaluation session. */
  secAggBeforeSend?: (stage: ActivePhase, round: number, session: 'training' | 'evaluation') => void;
  /** Tests only: rewrites each outgoing secure-aggregation message (a malicious client). */
  secAggOutbound?: (message: SecAggClientMessage) => SecAggClientMessage;
  /** What this client refuses whatever the coordinator asks (downgrades, weak privacy); see TaskGuard. */
  policy?: ClientPolicy;
  /** Randomness of the stochastic rounding of quantized updates; Math.random by default, seeded in simulations. */
  codecRng?: Rng;
}

export interface RoundOutcome {
  round: number;
  accepted: boolean;
  loss: number;
  accuracy: number;
  numExamples: number;
  trainMs: number;
  /** Why the update was refused. */
  refusal?: string;
  /** Bytes of the encoded plaintext update (absent for masked updates). */
  uploadBytes?: number;
}

/** A problem retrying cannot fix (wrong token, data that does not fit the task): the client stops. */
export class FatalClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FatalClientError';
  }
}

const FATAL_JOIN_CODES = new Set(['unauthorized', 'unsupported-protocol', 'invalid-message']);

/** node:tls codes of a certificate chain this client does not trust; retrying cannot change them. */
const UNTRUSTED_CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The TLS error behind a failed WebSocket connection, if any: engine.io wraps the ws ErrorEvent
 * as `description`, whose `error` is node's own Error with its code.
 */
function untrustedCertificate(err: Error & { description?: unknown }): string | undefined {
  const cause = (err.description as { error?: unknown } | undefined)?.error as (Error & { code?: string }) | undefined;
  if (!cause?.code || !UNTRUSTED_CERTIFICATE_CODES.has(cause.code)) return undefined;
  return `the coordinator's TLS certificate is not trusted (${cause.message}); pass --ca FILE with the CA that signed it`;
}

class Aborted extends Error {}

// What the coordinator sends in envelopes, validated like everything else it sends.
const TRAIN_TASK = envelopeSchema(TrainTaskSchema);
const SECAGG_MESSAGE = envelopeSchema(SecAggServerMessageSchema);
const SECURE_EVALUATE_TASK = envelopeSchema(SecureEvaluateTaskSchema);

/**
 * A federated client: joins the coordinator, trains the global model on its local data whenever
 * it is selected, and sends back the weight delta with its metrics. Reconnects with backoff when
 * the coordinator goes away. run() settles only on stop() or a fatal error.
 */
export class NodeClient {
  private readonly socket: CoordinatorSocket;
  private readonly ackTimeoutMs: number;
  private welcome: Welcome | undefined;
  private model: tf.LayersModel | undefined;
  private ds: Dataset | undefined;
  private evalDs: Dataset | undefined;
  private readonly noise: GaussianSampler;
  private readonly identity: IdentityKeyPair;
  /** Peers' identity keys as first seen, across rounds. */
  private readonly pins = new IdentityPins();
  private readonly guard: TaskGuard;
  /** Encodes updates as each task asks; keeps the top-k residual across rounds (error feedback). */
  private encoder: UpdateEncoder | undefined;
  /** The secure round in progress. */
  private secure: SecureRound | undefined;
  /** The secure evaluation session in progress (its own keys, digest and event). */
  private secureEval: SecureRound | undefined;
  /** The round being trained, and whether it was called off. */
  private active: { round: number; aborted: boolean } | undefined;
  private finish: ((error?: Error) => void) | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly outcomes: ((o: RoundOutcome) => void)[] = [];
  private readonly local: LocalTrainer;

  constructor(private readonly opts: ClientOptions) {
    for (const [what, data] of [
      ['data', opts.data],
      ['evalData', opts.evalData],
    ] as const) {
      // loadDataSpec is async (IDX files stream in): a forgotten await would fail only at the first round.
      if (typeof (data as { then?: unknown } | undefined)?.then === 'function')
        throw new TypeError(`NodeClient: ${what} is a Promise; await loadDataSpec(...) first`);
    }
    this.identity = opts.identity ?? generateIdentity();
    this.local = opts.localTrainer ?? { train: trainLocal, close: async () => undefined };
    const auth: JoinAuth = {
      token: opts.token,
      protocolVersion: PROTOCOL_VERSION,
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.evalData && opts.evalData.n > 0 ? { canEvaluate: true } : {}),
      identityKey: identityKeyToText(this.identity.publicKey),
    };
    this.noise = opts.noise ?? new GaussianSampler();
    this.ackTimeoutMs = opts.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.guard = new TaskGuard(opts.policy ?? { requireSecureAggregation: false });
    this.socket = io(opts.server, {
      auth,
      autoConnect: false,
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: opts.reconnectDelayMs ?? 500,
      reconnectionDelayMax: opts.reconnectDelayMaxMs ?? 10_000,
      randomizationFactor: 0.5,
      ...(opts.ca ? { ca: opts.ca } : {}),
    });
  }

  /** Called after each round this client trained in, accepted or not. */
  onRound(listener: (outcome: RoundOutcome) => void): void {
    this.outcomes.push(listener);
  }

  /** Connects and serves rounds until stop() (resolves) or a fatal error (rejects). */
  run(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.finish = (error) => {
        this.finish = undefined;
        if (this.active) this.active.aborted = true;
        this.secure?.close();
        this.secureEval?.close();
        this.socket.removeAllListeners();
        this.socket.disconnect();
        this.model?.dispose();
        this.model = undefined;
        void this.local.close();
        if (error) reject(error);
        else resolve();
      };
    });
    this.listen();
    this.socket.connect();
    return done;
  }

  stop(): void {
    this.finish?.();
  }

  private fail(error: Error): void {
    this.finish?.(error instanceof FatalClientError ? error : new FatalClientError(error.message));
  }

  private listen(): void {
    const { progress } = this.opts;
    const s = this.socket;
    s.on('connect', () => progress.line(`connected to ${this.opts.server}`));
    s.on('connect_error', (err: Error & { data?: { code?: string }; description?: unknown }) => {
      const code = err.data?.code;
      if (code && FATAL_JOIN_CODES.has(code)) {
        this.fail(new FatalClientError(`coordinator refused to join: ${err.message}`));
        return;
      }
      const untrusted = untrustedCertificate(err);
      if (untrusted) {
        this.fail(new FatalClientError(untrusted));
        return;
      }
      progress.line(`coordinator unreachable (${err.message}); retrying with backoff`);
    });
    s.on('disconnect', (reason) => {
      if (this.active) this.active.aborted = true;
      // The coordinator drops a disconnected client from its secure round: that round is over for us.
      this.secure?.close();
      this.secureEval?.close();
      if (reason === 'io client disconnect') return;
      progress.line(`disconnected (${reason}); reconnecting with backoff`);
      // After a server-side disconnect socket.io does not reconnect by itself.
      if (reason === 'io server disconnect') s.connect();
    });
    s.on(EVENTS.welcome, (raw: unknown) => this.enqueue(() => this.onWelcome(raw)));
    // Not queued behind the training task, which waits for the masked update's acknowledgement.
    for (const [event, session] of [
      [EVENTS.secagg, () => this.secure],
      [EVENTS.secaggEvaluation, () => this.secureEval],
    ] as const) {
      s.on(event, (payload: unknown) => {
        const secure = session();
        if (!secure) return;
        const parsed = SECAGG_MESSAGE.safeParse(payload);
        if (!parsed.success) {
          progress.line(
            `round ${secure.round}: ignoring a malformed secure-aggregation message: ${describeZodError(parsed.error)}`,
          );
          return;
        }
        secure.receive(parsed.data.message);
      });
    }
    s.on(EVENTS.train, (envelope: unknown, weights: unknown) => {
      // A new task supersedes one still training.
      if (this.active) this.active.aborted = true;
      this.enqueue(() => this.onTrain(envelope, weights));
    });
    s.on(EVENTS.evaluate, (raw: unknown, weights: unknown) => {
      // An evaluation of round r means round r's training is over.
      const round = (raw as { round?: unknown } | null)?.round;
      if (this.active && typeof round === 'number' && this.active.round <= round) this.active.aborted = true;
      this.enqueue(() => this.onEvaluate(raw, weights));
    });
    s.on(EVENTS.secureEvaluate, (envelope: unknown, weights: unknown) => {
      this.enqueue(() => this.onSecureEvaluate(envelope, weights));
    });
    s.on(EVENTS.roundClosed, (raw: unknown) => {
      const parsed = RoundClosedSchema.safeParse(raw);
      if (!parsed.success) {
        progress.line(`ignoring a malformed round-closed message: ${describeZodError(parsed.error)}`);
        return;
      }
      const { round, outcome, version, reason, privacy } = parsed.data;
      if (this.active?.round === round) this.active.aborted = true;
      if (this.secure?.round === round) {
        this.secure.close();
        this.secure = undefined;
      }
      if (this.secureEval?.round === round) {
        this.secureEval.close();
        this.secureEval = undefined;
      }
      const spent = privacy
        ? `; privacy spent: epsilon ${privacy.epsilon.toFixed(3)} of ${privacy.targetEpsilon} (delta ${privacy.delta})` +
          (privacy.coordinatorEpsilon !== null
            ? `, against the coordinator ${privacy.coordinatorEpsilon.toFixed(3)}`
            : '')
        : '';
      progress.line(
        `round ${round} ${outcome}${outcome === 'committed' ? ` as version ${version}` : `: ${reason ?? 'no reason given'}`}${spent}`,
      );
    });
    s.on(EVENTS.refused, (raw: unknown) => {
      const parsed = RefusalSchema.safeParse(raw);
      if (!parsed.success) {
        progress.line('coordinator refused a message');
        return;
      }
      // Reconnecting would only close the other connection in turn.
      if (parsed.data.code === 'replaced') {
        this.fail(new FatalClientError(`another client joined under this name: ${parsed.data.message}`));
        return;
      }
      progress.line(`coordinator refused a message (${parsed.data.code}): ${parsed.data.message}`);
    });
  }

  /**
   * Runs welcome and training handlers one at a time, in arrival order (a task must not start
   * before the welcome's model is built); their errors end the client.
   */
  private enqueue(handler: () => Promise<void> | void): void {
    this.queue = this.queue.then(handler).catch((e: unknown) => {
      this.fail(e instanceof Error ? e : new Error(String(e)));
    });
  }

  private async onWelcome(raw: unknown): Promise<void> {
    const parsed = WelcomeSchema.safeParse(raw);
    if (!parsed.success)
      throw new FatalClientError(`malformed welcome from the coordinator: ${describeZodError(parsed.error)}`);
    const w = parsed.data;
    const sameTask = this.welcome && JSON.stringify(this.welcome.modelTopology) === JSON.stringify(w.modelTopology);
    this.welcome = w;
    if (!sameTask) {
      assertDatasetFitsTask(this.opts.data, w.task, 'the local data');
      this.ds = { ...this.opts.data, inputShape: w.task.inputShape, numClasses: w.task.numClasses };
      if (this.opts.evalData) {
        assertDatasetFitsTask(this.opts.evalData, w.task, 'the local held-out data');
        this.evalDs = { ...this.opts.evalData, inputShape: w.task.inputShape, numClasses: w.task.numClasses };
      }
      this.model?.dispose();
      this.model = await buildModel(w.modelTopology);
      // A residual of another model's update means nothing for this one.
      this.encoder = new UpdateEncoder(tensorSizes(w.weightSpecs), this.opts.codecRng);
    }
    this.opts.progress.line(
      `joined as ${w.clientId}: task ${w.task.name} (${w.task.parameterCount} parameters), model version ${w.version}, ` +
        `${this.opts.data.n} local examples${this.evalDs ? ` (+${this.evalDs.n} held out for federated evaluation)` : ''}`,
    );
  }

  private async onTrain(envelope: unknown, payload: unknown): Promise<void> {
    const { progress } = this.opts;
    const parsed = TRAIN_TASK.safeParse(envelope);
    if (!parsed.success) {
      progress.line(`ignoring a malformed training task: ${describeZodError(parsed.error)}`);
      return;
    }
    const task = parsed.data.message;
    if (!this.model || !this.ds || !this.welcome) {
      progress.line(`ignoring round ${task.round}: no welcome received yet`);
      return;
    }
    let global: Float32Array;
    try {
      global = decodeWeights(payload, this.welcome.task.parameterCount);
    } catch (e) {
      progress.line(`ignoring round ${task.round}: bad global weights: ${(e as Error).message}`);
      return;
    }
    const refusal = this.guard.check(task);
    if (refusal !== undefined) {
      progress.line(`round ${task.round}: refusing the task and sending nothing: ${refusal}`);
      return;
    }
    const active = { round: task.round, aborted: false };
    this.active = active;
    const secure = task.secureAggregation
      ? this.openSecureRound(task.secureAggregation, trainTaskDigest(task, global))
      : undefined;
    const model = this.model;
    progress.line(
      `round ${task.round}: training version ${task.version} on ${this.ds.n} examples (${task.timeoutMs / 1000}s deadline)`,
    );
    const started = performance.now();
    let result: TrainResult;
    let local: Float32Array;
    try {
      if (this.opts.trainer) {
        ({ weights: local, result } = await this.opts.trainer({
          modelTopology: this.welcome.modelTopology,
          weights: global,
          data: this.ds,
          config: task.config,
        }));
      } else {
        setFlatWeights(model, global);
        result = await this.local.train(model, this.ds, task.config, (done, total, loss) => {
          if (active.aborted) throw new Aborted();
          progress.step(task.round, done, total, loss);
        });
        local = getFlatWeights(model);
      }
    } catch (e) {
      if (e instanceof Aborted) {
        progress.end(`round ${task.round}: training stopped (round closed or connection lost)`);
        return;
      }
      throw e;
    } finally {
      if (this.active === active) this.active = undefined;
    }
    const trainMs = performance.now() - started;
    let delta = weightDelta(local, global);
    progress.end(
      `round ${task.round}: trained in ${(trainMs / 1000).toFixed(1)}s, loss ${result.loss.toFixed(4)}, accuracy ${(result.accuracy * 100).toFixed(1)}%`,
    );
    if (this.opts.transformUpdate) delta = this.opts.transformUpdate(delta, task.round);
    let clipIndicator: number | undefined;
    if (task.privacy) {
      const dp = task.privacy;
      const privatized = privatizeUpdate(delta, dp, this.noise);
      delta = privatized.update;
      clipIndicator = privatized.clipIndicator ?? undefined;
      progress.line(
        `round ${task.round}: update clipped to L2 norm <= ${dp.clipNorm.toPrecision(4)} (${dp.mode} differential privacy` +
          (dp.updateNoiseStd > 0 ? `, this client's noise share: std ${dp.updateNoiseStd.toPrecision(4)}` : '') +
          ')',
      );
    }
    if (active.aborted || !this.socket.connected) {
      progress.line(`round ${task.round}: update not sent (round closed or connection lost)`);
      return;
    }
    const codec = task.compression ?? FLOAT32_CODEC;
    const meta: UpdateMeta = {
      round: task.round,
      numExamples: result.numExamples,
      metrics: { loss: result.loss, accuracy: result.accuracy },
      trainMs,
      ...(clipIndicator !== undefined ? { clipIndicator } : {}),
      ...(task.compression ? { codec: task.compression } : {}),
    };
    const outcome: RoundOutcome = {
      round: task.round,
      accepted: false,
      ...meta.metrics,
      numExamples: meta.numExamples,
      trainMs,
    };
    if (secure) {
      // Metrics and example count go into the secure sum too: the coordinator learns only their aggregates.
      const values = {
        loss: result.loss,
        accuracy: result.accuracy,
        examples: result.numExamples,
        ...(clipIndicator !== undefined ? { 'clip-indicator': clipIndicator } : {}),
      };
      const refusal = await secure.submit(delta, result.numExamples, values);
      if (refusal === undefined) outcome.accepted = true;
      else outcome.refusal = refusal;
    } else {
      const encoded = this.encoder!.encode(delta, codec);
      outcome.uploadBytes = encoded.payload.byteLength;
      if (codec.codec !== 'float32') {
        progress.line(
          `round ${task.round}: update encoded as ${describeCodec(codec)}: ${encoded.payload.byteLength} bytes (float32: ${delta.byteLength})`,
        );
      }
      const refusal = await ask(this.socket, this.ackTimeoutMs, EVENTS.update, meta, encoded.payload);
      if (refusal === undefined) {
        outcome.accepted = true;
        encoded.commit();
      } else outcome.refusal = refusal;
    }
    const what = secure ? 'masked update' : 'update';
    progress.line(
      outcome.accepted
        ? `round ${task.round}: ${what} accepted`
        : `round ${task.round}: ${what} refused (${outcome.refusal})`,
    );
    for (const l of this.outcomes) l(outcome);
  }

  /** Starts this client's side of a secure round (replacing one still open). */
  private openSecureRound(section: SecureTrainSection, digest: Uint8Array): SecureRound {
    this.secure?.close();
    const { progress } = this.opts;
    const secure = new SecureRound({
      clientId: this.welcome!.clientId,
      identity: this.identity,
      pins: this.pins,
      section,
      digest,
      send: (message) => this.sendSecAgg(message),
      log: (line) => progress.line(line),
      ...(this.opts.secAggAudit ? { audit: this.opts.secAggAudit } : {}),
      ...(this.opts.secAggBeforeSend
        ? { beforeSend: (stage: ActivePhase, round: number) => this.opts.secAggBeforeSend!(stage, round, 'training') }
        : {}),
      ...(this.opts.secAggOutbound ? { outbound: this.opts.secAggOutbound } : {}),
    });
    this.secure = secure;
    return secure;
  }

  /**
   * Secure federated evaluation: scores the weights on the local held-out data and feeds the
   * confusion matrix and loss to a SecAgg+ session of their own keys and digest (never the
   * training session's); no figure of ours leaves in the clear.
   */
  private async onSecureEvaluate(envelope: unknown, payload: unknown): Promise<void> {
    const { progress } = this.opts;
    const parsed = SECURE_EVALUATE_TASK.safeParse(envelope);
    if (!parsed.success) {
      progress.line(`ignoring a malformed secure evaluation request: ${describeZodError(parsed.error)}`);
      return;
    }
    const task = parsed.data.message;
    if (!this.model || !this.welcome) {
      progress.line(`ignoring the evaluation of round ${task.round}: no welcome received yet`);
      return;
    }
    const weights = this.evaluationWeights(task.round, payload, this.welcome.task.parameterCount);
    if (!weights) return;
    this.guard.checkEvaluation(task);
    const { setup } = task.secureAggregation;
    const problem = secureEvaluationSetupProblem(setup, this.welcome.task.numClasses);
    if (problem !== undefined) {
      progress.line(`round ${task.round}: refusing the secure evaluation and sending nothing: ${problem}`);
      return;
    }
    if (!this.evalDs) {
      await this.refuseSecureEvaluation(setup, 'this client holds no held-out data');
      return;
    }
    const started = performance.now();
    setFlatWeights(this.model, weights);
    const metrics = await evaluate(this.model, this.evalDs);
    let vector: Float32Array;
    try {
      vector = encodeEvaluation(
        metrics,
        secureEvaluationEncoding(setup.participants.length, this.welcome.task.numClasses),
      );
    } catch (e) {
      // The details (our example count) stay here: the coordinator hears only that we are out.
      progress.line(`round ${task.round}: cannot evaluate securely: ${(e as Error).message}`);
      await this.refuseSecureEvaluation(setup, 'its held-out evaluation does not fit the secure encoding');
      return;
    }
    progress.line(
      `round ${task.round}: version ${task.version} scored on ${metrics.numExamples} local held-out examples in ` +
        `${((performance.now() - started) / 1000).toFixed(1)}s; the scores go into the secure sum only`,
    );
    this.secureEval?.close();
    const secure = new SecureRound({
      clientId: this.welcome.clientId,
      identity: this.identity,
      pins: this.pins,
      section: { setup, slots: [] },
      digest: evaluationTaskDigest(task, weights),
      send: (message) => this.sendSecAgg(message, EVENTS.secaggEvaluation),
      log: (line) => progress.line(line.replace(/^round (\d+):/, 'round $1 evaluation:')),
      ...(this.opts.secAggBeforeSend
        ? { beforeSend: (stage: ActivePhase, round: number) => this.opts.secAggBeforeSend!(stage, round, 'evaluation') }
        : {}),
      ...(this.opts.secAggOutbound ? { outbound: this.opts.secAggOutbound } : {}),
    });
    this.secureEval = secure;
    const refusal = await secure.submit(vector, metrics.numExamples, {});
    progress.line(
      refusal === undefined
        ? `round ${task.round}: masked evaluation accepted`
        : `round ${task.round}: masked evaluation refused (${refusal})`,
    );
  }

  /** Tells the secure evaluation session we are out, and why, before it waits for us. */
  private async refuseSecureEvaluation(setup: SecAggSetup, reason: string): Promise<void> {
    this.opts.progress.line(`round ${setup.round}: not taking part in the secure evaluation: ${reason}`);
    await this.sendSecAgg({ type: 'secagg/refusal', round: setup.round, reason }, EVENTS.secaggEvaluation);
  }

  /** Sends a secure-aggregation message; resolves with the coordinator's refusal, or undefined when accepted. */
  private async sendSecAgg(
    message: SecAggClientMessage,
    event: typeof EVENTS.secagg | typeof EVENTS.secaggEvaluation = EVENTS.secagg,
  ): Promise<string | undefined> {
    if (!this.socket.connected) return 'not connected';
    return ask(this.socket, this.ackTimeoutMs, event, encodeEnvelope(message));
  }

  /** Federated evaluation: scores the weights on the local held-out data (or declines without any). */
  private async onEvaluate(raw: unknown, payload: unknown): Promise<void> {
    const { progress } = this.opts;
    const parsed = EvaluateTaskSchema.safeParse(raw);
    if (!parsed.success) {
      progress.line(`ignoring a malformed evaluation request: ${describeZodError(parsed.error)}`);
      return;
    }
    const task = parsed.data;
    if (!this.model || !this.welcome) {
      progress.line(`ignoring the evaluation of round ${task.round}: no welcome received yet`);
      return;
    }
    const refusal = this.guard.checkEvaluation(task);
    if (refusal !== undefined) {
      progress.line(`round ${task.round}: refusing the evaluation request and sending nothing: ${refusal}`);
      return;
    }
    let report: EvaluationReport = { round: task.round, metrics: null, evalMs: 0 };
    if (this.evalDs) {
      const weights = this.evaluationWeights(task.round, payload, this.welcome.task.parameterCount);
      if (!weights) return;
      const started = performance.now();
      setFlatWeights(this.model, weights);
      const metrics = await evaluate(this.model, this.evalDs);
      report = { round: task.round, metrics, evalMs: performance.now() - started };
      progress.line(
        `round ${task.round}: version ${task.version} scores ${(metrics.accuracy * 100).toFixed(1)}% (loss ${metrics.loss.toFixed(4)}) ` +
          `on ${metrics.numExamples} local held-out examples`,
      );
    }
    if (!this.socket.connected) return;
    const refused = await ask(this.socket, this.ackTimeoutMs, EVENTS.evaluation, report);
    if (refused !== undefined) progress.line(`round ${task.round}: evaluation refused (${refused})`);
  }

  /** The weights an evaluation request carries, or undefined (logged) when they do not decode. */
  private evaluationWeights(round: number, payload: unknown, parameterCount: number): Float32Array | undefined {
    try {
      return decodeWeights(payload, parameterCount);
    } catch (e) {
      this.opts.progress.line(`ignoring the evaluation of round ${round}: bad weights: ${(e as Error).message}`);
      return undefined;
    }
  }
}
