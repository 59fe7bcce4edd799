/**
 * In-memory driver for SecAgg+ (a test and bench helper, not product code): routes messages
 * between N client state machines and one server state machine, through the zod schemas as a
 * transport would, with scripted dropouts and an optional man-in-the-middle on the coordinator's
 * messages. Measures each side's time and each client's bytes sent.
 */
import {
  createSetup,
  generateIdentity,
  packMaskedWords,
  roundContext,
  SecAggClient,
  SecAggClientMessageSchema,
  type SecAggClientMessage,
  SecAggRefusal,
  SecAggServer,
  SecAggServerMessageSchema,
  type SecAggServerMessage,
  wireBytes,
  type ActivePhase,
  type ClientAudit,
  type GraphParams,
  type IdentityKeyPair,
  type IdentityPins,
  type Keystream,
  type LocalUpdate,
  type SecAggClientOptions,
  type SecAggAssumptions,
  SecAggSetupSchema,
  type SecAggSetup,
  type ServerAudit,
  type ServerStep,
} from '../../../shared/secagg/index.js';

export interface DriverOptions {
  clients: number;
  vectorLength: number;
  update: (id: string) => LocalUpdate;
  round?: number;
  clip?: number;
  maxWeight?: number;
  /** 16: masked value words in Z_2^16, packed on the way to the server as the Node client's transport does. */
  wordBits?: 16;
  graph?: Partial<GraphParams>;
  assumptions?: SecAggAssumptions;
  /** Client id -> the phase from which it stops answering. */
  dropAt?: ReadonlyMap<string, ActivePhase>;
  /** Rewrites what the coordinator sends (a coordinator or network that tampers). */
  intercept?: (to: string, message: SecAggServerMessage) => SecAggServerMessage;
  /** Rewrites the roster a client is given (a coordinator swapping identity keys). */
  interceptSetup?: (to: string, setup: SecAggSetup) => SecAggSetup;
  keystreamFor?: (id: string) => Keystream | undefined;
  pinsFor?: (id: string) => IdentityPins | undefined;
  identities?: ReadonlyMap<string, IdentityKeyPair>;
  serverAudit?: ServerAudit;
  clientAudit?: (id: string) => ClientAudit | undefined;
  /** The task digest each client was given (a coordinator sending different models); one shared digest by default. */
  digestFor?: (id: string) => Uint8Array | undefined;
  /** Builds a client (a test subclass plays a malicious client); the real SecAggClient by default. */
  makeClient?: (options: SecAggClientOptions) => SecAggClient;
  /** Rewrites what a client sends (a malicious client). */
  interceptReply?: (from: string, message: SecAggClientMessage) => SecAggClientMessage;
  /** Sees the setup the coordinator made. */
  onSetup?: (setup: SecAggSetup) => void;
  /** Milliseconds; wall clock unless given (the bench passes the process's CPU time). */
  clock?: () => number;
}

export interface DriverRun {
  setup: SecAggSetup;
  ids: string[];
  outcome: Exclude<ServerStep, { kind: 'send' }>;
  /** Client id -> reason, for clients that refused. */
  refusals: Map<string, string>;
  /** Messages the coordinator rejected, with the error. */
  rejected: { from: string; error: string }[];
  clientMs: Map<string, number>;
  clientBytes: Map<string, number>;
  serverMs: number;
}

/** The digest every honest client is given: one task for all. */
export const DIGEST = new Uint8Array(32).fill(7);

export function clientIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `client-${String(i).padStart(3, '0')}`);
}

export async function runSecAgg(o: DriverOptions): Promise<DriverRun> {
  const ids = clientIds(o.clients);
  const identities = o.identities ?? new Map(ids.map((id) => [id, generateIdentity()]));
  const setup = createSetup({
    round: o.round ?? 1,
    participants: ids.map((id) => ({ id, identityKey: identities.get(id)!.publicKey })),
    vectorLength: o.vectorLength,
    clip: o.clip ?? 1,
    maxWeight: o.maxWeight ?? 1000,
    ...(o.wordBits ? { wordBits: o.wordBits } : {}),
    graph: o.graph,
    assumptions: o.assumptions,
  });
  o.onSetup?.(setup);
  const refusals = new Map<string, string>();
  const rejected: DriverRun['rejected'] = [];
  const clientMs = new Map(ids.map((id) => [id, 0]));
  const clientBytes = new Map(ids.map((id) => [id, 0]));
  let serverMs = 0;
  const now = o.clock ?? (() => performance.now());
  const server = new SecAggServer({ setup, audit: o.serverAudit });
  const timed = async (body: () => Promise<ServerStep>): Promise<ServerStep> => {
    const start = now();
    const result = await body();
    serverMs += now() - start;
    return result;
  };

  const deliver = (from: string, reply: unknown): void => {
    const parsed = SecAggClientMessageSchema.parse(reply);
    const packed =
      parsed.type === 'secagg/masked-input' && setup.wordBits
        ? {
            ...parsed,
            masked: packMaskedWords(new Uint32Array(parsed.masked.slice().buffer), roundContext(setup).encoding),
          }
        : parsed;
    const message = o.interceptReply ? o.interceptReply(from, packed) : packed;
    clientBytes.set(from, clientBytes.get(from)! + wireBytes(message));
    const start = now();
    try {
      server.receive(from, message);
    } catch (error) {
      rejected.push({ from, error: (error as Error).message });
    }
    serverMs += now() - start;
  };
  /** Runs one client step, timing it; a refusal becomes the client's refusal message. */
  const act = async (id: string, body: () => unknown): Promise<void> => {
    const start = now();
    let reply: unknown;
    try {
      reply = await body();
    } catch (error) {
      if (!(error instanceof SecAggRefusal)) throw error;
      refusals.set(id, error.message);
      reply = { type: 'secagg/refusal', round: setup.round, reason: error.message };
    }
    clientMs.set(id, clientMs.get(id)! + now() - start);
    deliver(id, reply);
  };
  const answers = (id: string, phase: ActivePhase): boolean => {
    const from = o.dropAt?.get(id);
    const order: ActivePhase[] = ['advertise-keys', 'share-keys', 'masked-input', 'consistency', 'unmask'];
    return from === undefined || order.indexOf(phase) < order.indexOf(from);
  };

  const clients = new Map<string, SecAggClient>();
  for (const id of ids) {
    if (!answers(id, 'advertise-keys')) continue;
    await act(id, () => {
      const options: SecAggClientOptions = {
        id,
        identity: identities.get(id)!,
        setup: SecAggSetupSchema.parse(o.interceptSetup ? o.interceptSetup(id, setup) : setup),
        digest: o.digestFor?.(id) ?? DIGEST,
        keystream: o.keystreamFor?.(id),
        pins: o.pinsFor?.(id),
        audit: o.clientAudit?.(id),
      };
      const client = o.makeClient ? o.makeClient(options) : new SecAggClient(options);
      clients.set(id, client);
      return client.advertise();
    });
  }
  let step = await timed(() => server.close());
  while (step.kind === 'send') {
    const phase = step.phase;
    for (const [id, sent] of step.messages) {
      const client = clients.get(id);
      if (!client || !answers(id, phase) || refusals.has(id)) continue;
      const message = SecAggServerMessageSchema.parse(o.intercept ? o.intercept(id, sent) : sent);
      await act(id, () => {
        switch (message.type) {
          case 'secagg/peer-keys':
            return client.shareKeys(message);
          case 'secagg/routed-shares':
            return client.maskInput(message, o.update(id));
          case 'secagg/consistency-request':
            return client.consistency(message);
          case 'secagg/unmask-request':
            return client.unmask(message);
          default: {
            const unexpected: never = message;
            throw new Error(`unexpected ${JSON.stringify(unexpected)}`);
          }
        }
      });
    }
    step = await timed(() => server.close());
  }
  return { setup, ids, outcome: step, refusals, rejected, clientMs, clientBytes, serverMs };
}
