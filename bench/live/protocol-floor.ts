/**
 * The least CPU a SecAgg+ round can add to a plaintext one at (n, k, t): only the cryptographic
 * operations the protocol cannot skip, timed with the same implementations clients and the
 * coordinator use (OpenSSL's X25519, Ed25519 and AES-256-CTR under Node; Shamir over GF(256);
 * XSalsa20-Poly1305 share boxes), and nothing else: no message encoding, no state, no transport.
 *
 * Per client: 2 X25519 key pairs, 2 Ed25519 signatures (advertisement, survivor list), k
 * advertisement and t survivor-list verifications, 2k X25519 agreements (share boxes, masks), k
 * sealed and k opened share boxes, 2 Shamir splits into k shares, and k + 1 masks over the m + 1
 * words. Per coordinator: the survivors' self masks, each dropped client's pairwise masks with its
 * surviving neighbours (and the agreements behind them), and one Shamir combination per client.
 * Times are CPU (user + system) of this process, each part the best of `repeat`.
 */
import { defaultX25519, open, seal } from '../../shared/secagg/agreement.js';
import { randomBytes } from '../../shared/secagg/bytes.js';
import { combineShares, splitSecret } from '../../shared/secagg/shamir.js';
import { defaultSign, defaultVerify, generateIdentity } from '../../shared/secagg/identity.js';
import { defaultMaskAccumulator, type MaskTerm } from '../../shared/secagg/masks.js';

export interface FloorInput {
  n: number;
  k: number;
  t: number;
  /** Parameters of the model: the masked vector has m + 1 words (the weight word). */
  m: number;
  /** Clients that drop out before sending their masked input. */
  dropped: number;
  repeat?: number;
}

export interface ProtocolFloor {
  /** CPU ms of one client's unavoidable cryptography. */
  clientMs: number;
  /** CPU ms of the coordinator's unavoidable cryptography. */
  coordinatorMs: number;
  /** The parts of each, in CPU ms. */
  clientParts: Record<string, number>;
  coordinatorParts: Record<string, number>;
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function best(repeat: number, run: () => unknown): Promise<number> {
  let min = Infinity;
  for (let r = 0; r < repeat; r++) {
    const start = cpuMs();
    await run();
    min = Math.min(min, cpuMs() - start);
  }
  return min;
}

const sum = (parts: Record<string, number>) => Object.values(parts).reduce((a, b) => a + b, 0);

export async function measureProtocolFloor(input: FloorInput): Promise<ProtocolFloor> {
  const { n, k, t, m, dropped } = input;
  const repeat = input.repeat ?? 5;
  const x25519 = defaultX25519();
  const sign = defaultSign();
  const verify = defaultVerify();
  const masks = defaultMaskAccumulator();
  const identity = generateIdentity();
  // An advertisement is ~200 bytes; a survivor list names every client (~10 bytes an id).
  const advertisement = randomBytes(200);
  const survivorList = randomBytes(10 * n);
  const adSignature = sign(advertisement, identity);
  const listSignature = sign(survivorList, identity);
  const own = x25519.keyPair();
  const peers = Array.from({ length: k }, () => x25519.keyPair().publicKey);
  const boxKey = randomBytes(32);
  // Two length-prefixed 33-byte shares and a Merkle path of ceil(log2 k) SHA-512/256 hashes.
  const boxContent = randomBytes(2 * 37 + 4 + 32 * Math.ceil(Math.log2(k)));
  const sealedBox = seal(boxContent, boxKey);
  const secret = randomBytes(32);
  const shares = splitSecret(secret, k, t);
  const target = new Uint32Array(m + 1);
  const terms = (count: number): MaskTerm[] =>
    Array.from({ length: count }, (_, i) => ({ key: randomBytes(32), sign: i % 2 ? 1 : -1 }));

  const client: Record<string, () => unknown> = {
    'key pairs': () => [x25519.keyPair(), x25519.keyPair()],
    signatures: () => [sign(advertisement, identity), sign(survivorList, identity)],
    verifications: () => {
      for (let i = 0; i < k; i++) verify(advertisement, adSignature, identity.publicKey);
      for (let i = 0; i < t; i++) verify(survivorList, listSignature, identity.publicKey);
    },
    agreements: () => {
      const agree = x25519.agreement(own);
      for (let i = 0; i < 2 * k; i++) agree(peers[i % k]);
    },
    'share boxes': () => {
      for (let i = 0; i < k; i++) seal(boxContent, boxKey);
      for (let i = 0; i < k; i++) open(sealedBox, boxKey);
    },
    'Shamir splits': () => {
      splitSecret(secret, k, t);
      splitSecret(secret, k, t);
    },
    masks: () => masks(target, terms(k + 1)),
  };
  const survivors = n - dropped;
  // Each dropped client's neighbours survive in the same proportion as the federation.
  const droppedPairs = Math.round((dropped * k * survivors) / n);
  const coordinator: Record<string, () => unknown> = {
    'self masks': () => masks(target, terms(survivors)),
    'pairwise masks of dropouts': () => masks(target, terms(droppedPairs)),
    'agreements of dropouts': () => {
      const agree = x25519.agreement(own);
      for (let i = 0; i < droppedPairs; i++) agree(peers[i % k]);
    },
    'Shamir combinations': () => {
      for (let i = 0; i < n; i++) combineShares(shares.slice(0, t));
    },
  };
  // A warm-up pass first, so that no part pays for compiling code the others then reuse.
  for (const run of [...Object.values(client), ...Object.values(coordinator)]) await run();
  const clientParts: Record<string, number> = {};
  for (const [what, run] of Object.entries(client)) clientParts[what] = await best(repeat, run);
  const coordinatorParts: Record<string, number> = {};
  for (const [what, run] of Object.entries(coordinator)) coordinatorParts[what] = await best(repeat, run);
  return { clientMs: sum(clientParts), coordinatorMs: sum(coordinatorParts), clientParts, coordinatorParts };
}
