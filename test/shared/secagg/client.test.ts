import { split } from 'shamir-secret-sharing';
import { describe, expect, it } from 'vitest';
import { SecAggClient, type SecAggClientOptions, type SecretShares } from '../../../shared/secagg/client.js';
import { SecAggRefusal } from '../../../shared/secagg/errors.js';
import { signAdvertisement } from '../../../shared/secagg/identity.js';
import { clientIds, DIGEST } from './driver.js';
import {
  answer,
  runTo,
  stepRound,
  UPDATE as update,
  type ConsistencyRequest,
  type PeerKeys,
  type RoutedShares,
  type UnmaskRequest,
} from './stepper.js';

function make(options: SecAggClientOptions): SecAggClient {
  return new SecAggClient(options);
}

async function expectRefusal(client: SecAggClient, call: () => unknown, reason: RegExp) {
  const error = await (async () => call())().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SecAggRefusal);
  expect((error as Error).message).toMatch(reason);
  expect(client.phase).toBe('refused');
}

describe('SecAggClient refuses', () => {
  it('a roster without it, and a task digest of the wrong length', async () => {
    const r = await stepRound();
    const identity = r.identities.get(r.ids[0])!;
    expect(() => make({ id: 'client-999', identity, setup: r.setup, digest: DIGEST })).toThrow(
      new SecAggRefusal("client 'client-999' is not among the round's participants"),
    );
    for (const length of [31, 33]) {
      expect(() => make({ id: r.ids[0], identity, setup: r.setup, digest: new Uint8Array(length) })).toThrow(
        new SecAggRefusal(`the task digest must be 32 bytes, got ${length}`),
      );
    }
  });

  it('a message for another round', async () => {
    const r = await stepRound();
    const peerKeys = await runTo<PeerKeys>(r, 'share-keys');
    const c = r.clients.get(r.ids[0])!;
    await expect(c.shareKeys({ ...peerKeys.get(r.ids[0])!, round: 2 })).rejects.toThrow(
      new SecAggRefusal('message for round 2, this is round 1'),
    );
    expect(c.phase).toBe('refused');
    await expect(c.shareKeys(peerKeys.get(r.ids[0])!)).rejects.toThrow('this client already refused the round');
  });

  it('keys of a stranger, keys sent twice, and fewer than t neighbours', async () => {
    const r = await stepRound();
    const peerKeys = await runTo<PeerKeys>(r, 'share-keys');
    const [a, b, c] = r.ids.map((id) => r.clients.get(id)!);
    const toA = peerKeys.get(r.ids[0])!;
    await expectRefusal(
      a,
      () => a.shareKeys({ ...toA, peers: [...toA.peers, { ...toA.peers[0], id: 'mallory' }] }),
      /'mallory' is not our neighbour in this round's graph/,
    );
    const toB = peerKeys.get(r.ids[1])!;
    await expectRefusal(
      b,
      () => b.shareKeys({ ...toB, peers: [toB.peers[0], toB.peers[0]] }),
      new RegExp(`keys of '${toB.peers[0].id}' were sent twice`),
    );
    const toC = peerKeys.get(r.ids[2])!;
    await expectRefusal(
      c,
      () => c.shareKeys({ ...toC, peers: toC.peers.slice(0, 2) }),
      /only 2 neighbours advertised keys, fewer than the threshold 3/,
    );
    // t of them are enough.
    const d = r.clients.get(r.ids[3])!;
    const toD = peerKeys.get(r.ids[3])!;
    expect((await d.shareKeys({ ...toD, peers: toD.peers.slice(0, 3) })).shares).toHaveLength(3);
  });

  it('a neighbour given another task, and a neighbour key that agrees on nothing', async () => {
    const r = await stepRound({ digestFor: (id) => (id === clientIds(6)[1] ? new Uint8Array(32).fill(8) : DIGEST) });
    const peerKeys = await runTo<PeerKeys>(r, 'share-keys');
    const victim = [...peerKeys].find(([id, m]) => id !== r.ids[1] && m.peers.some((p) => p.id === r.ids[1]))!;
    const client = r.clients.get(victim[0])!;
    await expectRefusal(
      client,
      () => client.shareKeys(victim[1]),
      /neighbour 'client-001' was given another model or round configuration than we were \(task digests differ\)/,
    );

    // A low-order encryption key, properly signed by its owner: agreement yields zeros and is refused.
    const [to, message] = [...peerKeys].find(([id]) => id !== r.ids[1] && id !== victim[0])!;
    const peer = message.peers.find((p) => p.id !== r.ids[1])!;
    const encryptionKey = new Uint8Array(32);
    const signature = signAdvertisement(
      {
        round: 1,
        nonce: r.setup.nonce,
        clientId: peer.id,
        encryptionKey,
        maskingKey: peer.maskingKey,
        digest: peer.digest,
        seedCommitment: peer.seedCommitment,
        shareRoot: peer.shareRoot,
      },
      r.identities.get(peer.id)!,
    );
    const c = r.clients.get(to)!;
    await expectRefusal(
      c,
      () => c.shareKeys({ ...message, peers: [{ ...peer, encryptionKey, signature }] }),
      new RegExp(`key agreement with '${peer.id}' failed`),
    );
  });

  it('an update of the wrong length, shares from a stranger, shares routed twice, and fewer than t', async () => {
    const r = await stepRound();
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    const [a, b, c, d] = r.ids.map((id) => r.clients.get(id)!);
    await expect(a.maskInput(routed.get(r.ids[0])!, { delta: new Float32Array(3), numExamples: 1 })).rejects.toThrow(
      new Error('update has 3 values, the round expects 2'),
    );
    expect(a.phase).toBe('refused');
    const toB = routed.get(r.ids[1])!;
    await expectRefusal(
      b,
      () => b.maskInput({ ...toB, shares: [{ ...toB.shares[0], from: 'mallory' }] }, update),
      /shares from 'mallory', who is not an advertised neighbour/,
    );
    const toC = routed.get(r.ids[2])!;
    await expectRefusal(
      c,
      () => c.maskInput({ ...toC, shares: [toC.shares[0], toC.shares[0]] }, update),
      new RegExp(`shares from '${toC.shares[0].from}' were routed twice`),
    );
    const toD = routed.get(r.ids[3])!;
    await expectRefusal(
      d,
      () => d.maskInput({ ...toD, shares: toD.shares.slice(0, 2) }, update),
      /only 2 neighbours shared keys, fewer than the threshold 3/,
    );
  });

  it("a second call while a phase is still running (the client is 'busy'), and then the first call too", async () => {
    const r = await stepRound();
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    const a = r.clients.get(r.ids[0])!;
    const first = a.maskInput(routed.get(r.ids[0])!, update);
    expect(a.phase).toBe('busy');
    await expect(a.maskInput(routed.get(r.ids[0])!, update)).rejects.toThrow(
      new SecAggRefusal("out of order: this phase needs the client 'shared', it is 'busy'"),
    );
    // The refusal is final: the call already running does not carry the client on to 'masked'.
    await expect(first).rejects.toThrow(new SecAggRefusal('this client already refused the round'));
    expect(a.phase).toBe('refused');
  });

  it('a share box that opens but does not split into its three fields', async () => {
    const dealer = clientIds(6)[0];
    class Garbled extends SecAggClient {
      protected override shareBoxContent(to: string): Uint8Array {
        const content = super.shareBoxContent(to);
        // The right size, but the first field claims more bytes than the box holds.
        if (this.id === dealer) content.fill(0xff, 0, 4);
        return content;
      }
      private get id(): string {
        return (this as unknown as { options: SecAggClientOptions }).options.id;
      }
    }
    const r = await stepRound({ makeClient: (o) => new Garbled(o) });
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    const [to, message] = [...routed].find(([, m]) => m.shares.some((s) => s.from === dealer))!;
    const client = r.clients.get(to)!;
    await expectRefusal(
      client,
      () => client.maskInput(message, update),
      new RegExp(`shares from '${dealer}' are malformed: field 0 overruns the message`),
    );
  });

  it('a survivor list that repeats a client or names a stranger', async () => {
    const r = await stepRound();
    const requests = await runTo<ConsistencyRequest>(r, 'consistency');
    const [a, b] = r.ids.map((id) => r.clients.get(id)!);
    const toA = requests.get(r.ids[0])!;
    await expectRefusal(
      a,
      () => a.consistency({ ...toA, survivors: [...toA.survivors, toA.survivors[1]] }),
      /the survivor list repeats a client/,
    );
    const toB = requests.get(r.ids[1])!;
    await expectRefusal(
      b,
      () => b.consistency({ ...toB, survivors: [...toB.survivors, 'mallory'] }),
      /survivor 'mallory' is not a participant/,
    );
  });

  it('two signatures attributed to one neighbour, and a list of the right length with another member', async () => {
    const r = await stepRound();
    const requests = await runTo<UnmaskRequest>(r, 'unmask');
    const [a, b] = r.ids.map((id) => r.clients.get(id)!);
    const toA = requests.get(r.ids[0])!;
    await expectRefusal(
      a,
      () => a.unmask({ ...toA, signatures: [toA.signatures[0], ...toA.signatures] }),
      new RegExp(`two consistency signatures are attributed to '${toA.signatures[0].id}'`),
    );
    const toB = requests.get(r.ids[1])!;
    const swapped = toB.survivors.map((s, i) => (i === 5 ? 'client-999' : s));
    await expectRefusal(
      b,
      () => b.unmask({ ...toB, survivors: swapped }),
      /lists other survivors than the list we signed/,
    );
    // The request is answered, with one share per neighbour: t valid signatures are enough, a bad one past them is not read.
    const c = r.clients.get(r.ids[2])!;
    const toC = requests.get(r.ids[2])!;
    expect(toC.signatures).toHaveLength(4);
    const lastForged = toC.signatures.map((s, i) => (i === 3 ? { ...s, signature: new Uint8Array(64).fill(1) } : s));
    const reply = c.unmask({ ...toC, signatures: lastForged });
    expect(reply.selfMaskShares).toHaveLength(4);
    // Each revealed share owns its bytes: a transport sending whole buffers must not carry the other share with it.
    for (const { share } of reply.selfMaskShares) expect(share.buffer.byteLength).toBe(share.length);
    expect(reply.maskingKeyShares).toHaveLength(0);
    expect(c.phase).toBe('finished');
  });
});

describe('SecAggClient signs and verifies with what it is given', () => {
  it('an injected verify decides whether a neighbour key is accepted', async () => {
    const verified: string[] = [];
    const r = await stepRound({
      makeClient: (o) =>
        new SecAggClient({
          ...o,
          // Every signature is genuine; this verifier refuses them anyway.
          verify: () => {
            verified.push(o.id);
            return false;
          },
        }),
    });
    const peerKeys = await runTo<PeerKeys>(r, 'share-keys');
    const [a] = r.ids;
    const client = r.clients.get(a)!;
    const first = peerKeys.get(a)!.peers[0].id;
    await expectRefusal(
      client,
      () => client.shareKeys(peerKeys.get(a)!),
      new RegExp(`the keys advertised for '${first}' fail its identity signature: tampered or not theirs`),
    );
    expect(verified).toEqual([a]);
  });

  it('an injected sign makes its advertisement signature', async () => {
    const signer = clientIds(6)[0];
    const signed: Uint8Array[] = [];
    const r = await stepRound({
      makeClient: (o) =>
        o.id === signer
          ? new SecAggClient({
              ...o,
              sign: (message) => {
                signed.push(message);
                return new Uint8Array(64).fill(signed.length);
              },
            })
          : new SecAggClient(o),
    });
    // The advertisement carries the injected signature, which the coordinator then refuses.
    const advert = r.adverts.get(signer)!;
    expect(advert.type === 'secagg/advertise-keys' && [...advert.signature]).toEqual(new Array(64).fill(1));
    expect(signed).toHaveLength(1);
    expect(() => r.server.receive(signer, advert)).toThrow(`keys from '${signer}' fail its identity signature`);
  });
});

describe('SecAggClient reveals', () => {
  it('signs the survivor set whatever order the list came in', async () => {
    const r = await stepRound();
    const requests = await runTo<ConsistencyRequest>(r, 'consistency');
    const [a] = r.ids;
    const reversed = { ...requests.get(a)!, survivors: [...requests.get(a)!.survivors].reverse() };
    // The coordinator checks the signature against the sorted list: the client signed that list.
    r.server.receive(a, r.clients.get(a)!.consistency(reversed));
    await answer(r, requests, (c, m) => c.consistency(m), [a]);
    await answer(r, await r.step<UnmaskRequest>(), (c, m) => c.unmask(m));
    expect((await r.server.close()).kind).toBe('done');
  });

  it('masking-key shares with a proof that convicts their dealer, not their revealer, of a bad key', async () => {
    const dealer = clientIds(6)[1];
    class BadKeyDealer extends SecAggClient {
      protected override async splitSecrets(count: number): Promise<SecretShares> {
        const honest = await super.splitSecrets(count);
        // Shares of another key than the advertised one, committed to in this client's share root.
        return { ...honest, maskingKey: await split(new Uint8Array(32).fill(9), count, 3) };
      }
    }
    const r = await stepRound({ makeClient: (o) => (o.id === dealer ? new BadKeyDealer(o) : new SecAggClient(o)) });
    const routed = await runTo<RoutedShares>(r, 'masked-input');
    // The dealer drops before masking: its neighbours reveal their shares of its masking key.
    await answer(r, routed, (c, m) => c.maskInput(m, update), [dealer]);
    await answer(r, await r.step<ConsistencyRequest>(), (c, m) => c.consistency(m));
    await answer(r, await r.step<UnmaskRequest>(), (c, m) => c.unmask(m));
    const out = await r.server.close();
    expect(out).toMatchObject({ kind: 'aborted', culprit: dealer });
    if (out.kind === 'aborted')
      expect(out.reason).toBe(
        `during unmask: the masking key rebuilt for '${dealer}' does not match what it committed to, from shares it committed to itself: '${dealer}' dealt bad shares`,
      );
  });
});
