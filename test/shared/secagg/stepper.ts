/**
 * A SecAgg+ round driven one phase at a time (a test helper): six clients on a 4-regular graph
 * (t = 3) by default and a real coordinator, so a test can hand one side a message the other would not send.
 */
import { SecAggClient, type SecAggClientOptions } from '../../../shared/secagg/client.js';
import { generateIdentity, type IdentityKeyPair } from '../../../shared/secagg/identity.js';
import { packMaskedWords } from '../../../shared/secagg/encoding.js';
import { createSetup, roundContext } from '../../../shared/secagg/round.js';
import { SecAggServer } from '../../../shared/secagg/server.js';
import { clientIds, DIGEST } from './driver.js';

export type PeerKeys = Parameters<SecAggClient['shareKeys']>[0];
export type RoutedShares = Parameters<SecAggClient['maskInput']>[0];
export type ConsistencyRequest = Parameters<SecAggClient['consistency']>[0];
export type UnmaskRequest = Parameters<SecAggClient['unmask']>[0];
export type ClientMessage = Parameters<SecAggServer['receive']>[1];

export const UPDATE = { delta: Float32Array.from([0.25, -0.5]), numExamples: 3 };

export interface StepperOptions {
  digestFor?: (id: string) => Uint8Array;
  makeClient?: (options: SecAggClientOptions) => SecAggClient;
  /** 16-bit masked words instead of the default 32. */
  wordBits?: 16;
  /** More clients than the default 6, on another graph than the default k = 4, t = 3. */
  clients?: number;
  graph?: { k: number; threshold: number };
  /** The clip range, 1 by default. */
  clip?: number;
}

export type Stepped = Awaited<ReturnType<typeof stepRound>>;

/** Builds the round; every client has advertised, and the coordinator has not closed the phase yet. */
export async function stepRound(options: StepperOptions = {}) {
  const ids = clientIds(options.clients ?? 6);
  const identities = new Map<string, IdentityKeyPair>(ids.map((id) => [id, generateIdentity()]));
  const setup = createSetup({
    round: 1,
    participants: ids.map((id) => ({ id, identityKey: identities.get(id)!.publicKey })),
    vectorLength: 2,
    clip: options.clip ?? 1,
    maxWeight: 10,
    graph: options.graph ?? { k: 4, threshold: 3 },
    ...(options.wordBits ? { wordBits: options.wordBits } : {}),
  });
  const server = new SecAggServer({ setup });
  const clients = new Map(
    ids.map((id) => [
      id,
      (options.makeClient ?? ((o) => new SecAggClient(o)))({
        id,
        identity: identities.get(id)!,
        setup,
        digest: options.digestFor?.(id) ?? DIGEST,
      }),
    ]),
  );
  const adverts = new Map<string, ClientMessage>();
  for (const [id, c] of clients) adverts.set(id, await c.advertise());
  /** Closes the phase; the messages the coordinator sends for the next. */
  const step = async <M>(): Promise<Map<string, M>> => {
    const next = await server.close();
    if (next.kind !== 'send') throw new Error(`the round ended: ${JSON.stringify(next)}`);
    return next.messages as Map<string, M>;
  };
  return { ids, identities, setup, server, clients, adverts, step };
}

/** Every client except those in `except` answers `messages` and the coordinator receives the replies. */
export async function answer<M>(
  r: Stepped,
  messages: Map<string, M>,
  act: (c: SecAggClient, m: M) => unknown,
  except: readonly string[] = [],
): Promise<Map<string, ClientMessage>> {
  const replies = new Map<string, ClientMessage>();
  for (const [id, m] of messages) {
    if (except.includes(id)) continue;
    const reply = transported(r, (await act(r.clients.get(id)!, m)) as ClientMessage);
    replies.set(id, reply);
    r.server.receive(id, reply);
  }
  return replies;
}

/** `reply` as the Node client's transport sends it: a masked input in 16-bit words packed. */
export function transported(r: Stepped, reply: ClientMessage): ClientMessage {
  if (reply.type !== 'secagg/masked-input' || !r.setup.wordBits) return reply;
  const words = new Uint32Array(reply.masked.slice().buffer);
  return { ...reply, masked: packMaskedWords(words, roundContext(r.setup).encoding) };
}

/** Delivers the advertisements, then runs the phases up to (not including) the replies to `phase`. */
export async function runTo<M>(
  r: Stepped,
  phase: 'share-keys' | 'masked-input' | 'consistency' | 'unmask',
): Promise<Map<string, M>> {
  for (const [id, m] of r.adverts) r.server.receive(id, m);
  const peerKeys = await r.step<PeerKeys>();
  if (phase === 'share-keys') return peerKeys as Map<string, M>;
  await answer(r, peerKeys, (c, m) => c.shareKeys(m));
  const routed = await r.step<RoutedShares>();
  if (phase === 'masked-input') return routed as Map<string, M>;
  await answer(r, routed, (c, m) => c.maskInput(m, UPDATE));
  const requests = await r.step<ConsistencyRequest>();
  if (phase === 'consistency') return requests as Map<string, M>;
  await answer(r, requests, (c, m) => c.consistency(m));
  return r.step<M>();
}
