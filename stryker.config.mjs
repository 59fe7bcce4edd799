// Stryker mutation testing; run it with `npm run mutation` (scripts/mutation/run.ts picks the
// folders and their tests). Shared settings only here.
import { fileURLToPath } from 'node:url';

/**
 * Mutants that change nothing observable, each with why. Two kinds of entry:
 * - {file, code, reason}: node-level, matched by file and the exact source of the mutated node;
 *   every mutant inside that node is ignored (scripts/mutation/equivalent-mutants.js), so keep
 *   `code` as narrow as possible, and use it only when all of them are equivalent.
 * - {file, code, replacement, reason} (optionally `mutator`, and `line`, the node's first line, when
 *   the same source elsewhere in the file holds a mutant the tests kill): one mutant, `code` the
 *   exact source of its node and `replacement` its replacement as mutation.json reports it.
 *   scripts/mutation/run.ts counts it as equivalent when it survives, fails when a test kills it (the
 *   entry is wrong) and reports an entry that names no mutant as stale (equivalent-entries.ts there).
 */
export const equivalentMutants = [
  {
    file: 'shared/secagg/share-commitment.ts',
    code: 'path.length !== HASH_BYTES * commitmentDepth(neighbours)',
    reason:
      'a path of another length climbs to another level than the root, so the root comparison refuses it anyway (short of a SHA-512 collision); the check bounds the hashing',
  },
  {
    file: 'shared/secagg/share-commitment.ts',
    code: 'proof.length !== revealProofBytes(neighbours)',
    reason:
      'as for the path: a proof of another length cannot hash to the root short of a collision; the check bounds the hashing',
  },
  {
    file: 'shared/secagg/hash.ts',
    code: 'parts.length === 1',
    replacement: 'false',
    reason: 'a fast path: concatenating one part copies it, and the copy hashes the same',
  },
  {
    file: 'shared/secagg/hash.ts',
    code: 'parts.reduce((n, p) => n + p.length, 0) >= STREAMED_BYTES',
    replacement: 'parts.reduce((n, p) => n + p.length, 0) > STREAMED_BYTES',
    reason:
      'which path hashes exactly 64 KiB does not matter: streaming the parts and hashing their concatenation give the same digest',
  },
  {
    file: 'shared/secagg/share-commitment.ts',
    code: 'v < to',
    replacement: 'v <= to',
    reason: 'v === to is taken by the branch just above, so <= and < count the same neighbours',
  },
  {
    file: 'shared/privacy/clipping.ts',
    code: 'i < update.length',
    reason: "i <= length only adds a write past the Float32Array's end, which typed arrays ignore",
  },
  {
    file: 'shared/privacy/log-math.ts',
    code: 'b === -Infinity',
    reason: 'a fast path: without it a + log(-expm1(-Infinity)) = a + log(1) gives the same a',
  },
  {
    file: 'shared/privacy/log-math.ts',
    code: 'a === b',
    reason: 'a fast path: without it a + log(-expm1(0)) = a + log(0) gives the same -Infinity',
  },
  {
    file: 'shared/privacy/log-math.ts',
    code: '1e-17 * sum',
    reason: 'the stop threshold only decides whether erf series terms below one ulp of the sum get added',
  },
  {
    file: 'shared/privacy/log-math.ts',
    code: 'k < 10_000',
    replacement: 'k <= 10_000',
    reason: 'for x >= 2 the continued fraction converges in far fewer than 10,000 terms, so the last term never runs',
  },
  {
    file: 'shared/privacy/log-math.ts',
    code: 'Math.abs(step - 1) < 3e-16',
    replacement: 'Math.abs(step - 1) <= 3e-16',
    reason:
      'step - 1 is exact (Sterbenz) and a multiple of 2^-53, and 3e-16 is not one, so the two never compare equal',
  },
  {
    file: 'shared/privacy/log-math.ts',
    code: 'x >= 0',
    replacement: 'x > 0',
    reason: 'at x = 0 the other branch gives log(2 - 1) = 0 too (+0 rather than -0)',
  },
  {
    file: 'shared/privacy/log-math.ts',
    code: '`logErfc: continued fraction did not converge at x = ${x}`',
    reason: 'unreachable: for x >= 2 the continued fraction converges in far fewer than 10,000 terms',
  },
  {
    file: 'server/store/checkpoint-store.ts',
    code: "typeof data === 'string'",
    reason:
      'Buffer.from(aUint8Array, encoding) copies the bytes and ignores the encoding, so the hash and size are the same',
  },
  {
    file: 'server/store/checkpoint-store.ts',
    code: "Buffer.from(data, 'utf8')",
    reason: "Buffer.from(string, '') falls back to UTF-8, the encoding named here",
  },
  {
    file: 'server/store/checkpoint-store.ts',
    code: 'entry === undefined',
    reason: 'zod 4 leaves an absent optional key (state.bin) out of its output, so no entry is ever undefined',
  },
  {
    file: 'server/store/checkpoint-store.ts',
    code: "{\n      // Missing or torn: that version's record is known only from the round log.\n      return undefined;\n    }",
    reason: 'an empty catch falls off the end of the async function, which returns undefined as well',
  },
  {
    file: 'server/store/served-compression.ts',
    code: 'v < lo',
    replacement: 'v <= lo',
    reason: 'at v = lo the assignment gives lo the value it has',
  },
  {
    file: 'server/store/served-compression.ts',
    code: 'v > hi',
    replacement: 'v >= hi',
    reason: 'at v = hi the assignment gives hi the value it has',
  },
  {
    file: 'server/store/served-compression.ts',
    code: 'cut > 0',
    replacement: 'true',
    reason: 'with cut = 0 both pruning loops stop at once (zeroed < 0 is false), so nothing is zeroed either way',
  },
  {
    file: 'server/store/served-compression.ts',
    code: 'cut > 0',
    replacement: 'cut >= 0',
    reason: 'cut is never negative, and with cut = 0 both pruning loops stop at once (see cut > 0 as true)',
  },
  {
    file: 'server/store/served-compression.ts',
    code: 'i < size',
    replacement: 'i <= size',
    reason:
      'at i = size both pruning loops read tensor[size], undefined past the subarray, and compare NaN, which is false',
  },
  {
    file: 'server/store/served-compression.ts',
    code: 'zeroed < cut',
    replacement: 'true',
    line: 104,
    reason:
      'in the first loop zeroed stays below cut: fewer than cut weights lie strictly below the cut-th smallest magnitude',
  },
  {
    file: 'server/store/served-compression.ts',
    code: 'zeroed < cut',
    replacement: 'zeroed <= cut',
    line: 104,
    reason: 'in the first loop zeroed stays below cut (see zeroed < cut as true)',
  },
  {
    file: 'server/store/served-compression.ts',
    code: 'tensor[i] !== 0',
    replacement: 'true',
    reason:
      'it differs only at threshold 0, where the ties are zeros already: writing 0 over them changes at most a -0 into +0',
  },
  {
    file: 'shared/aggregation/adaptive-optimizers.ts',
    code: 'default: {\n        const never: never = this.variant;\n        throw new Error(`unknown adaptive variant ${String(never)}`);\n      }',
    reason:
      'unreachable: variant is private and set only by FedAdam, FedYogi and FedAdagrad (the exhaustive-switch guard)',
  },
  {
    file: 'shared/aggregation/adaptive-optimizers.ts',
    code: 'i < out.length',
    reason:
      "i <= length only adds reads of undefined and writes past the Float32Arrays' ends, which typed arrays ignore",
  },
  {
    file: 'shared/aggregation/adaptive-optimizers.ts',
    code: '`${this.name} second moment`',
    reason:
      'unreachable failure: restore() keeps m and v the same length, so once the first-moment check passed this one does',
  },
  {
    file: 'shared/aggregation/adaptive-optimizers.ts',
    code: '!this.m || !this.v',
    reason: 'm and v are always set and cleared together, so || and && agree',
  },
  {
    file: 'shared/aggregation/server-sgd.ts',
    code: 'i < out.length',
    reason:
      "i <= length only adds reads of undefined and writes past the Float32Arrays' ends, which typed arrays ignore",
  },
  {
    file: 'shared/aggregation/weighted-mean.ts',
    code: 'i < m',
    reason: "i <= m only adds a write past the Float64Array's end, which typed arrays ignore",
  },
  {
    file: 'shared/aggregation/columns.ts',
    code: 'if (n > 32) {\n    buf.subarray(0, n).sort();\n    return;\n  }',
    reason:
      'both the typed-array sort and the insertion sort below sort the n values ascending; the threshold only picks the faster one',
  },
  {
    file: 'shared/aggregation/columns.ts',
    code: 'i < n',
    reason:
      'i <= n moves buf[n] (undefined: the buffer holds exactly n) into a write past the end, which typed arrays ignore',
  },
  {
    file: 'shared/aggregation/columns.ts',
    code: 'j >= 0',
    reason: 'at j = -1, buf[j] > v compares undefined and is false, which ends the loop as j >= 0 does',
  },
  {
    file: 'shared/aggregation/columns.ts',
    code: 'buf[j] > v',
    reason: '>= also moves equal values past each other, which changes nothing (for 0 and -0, only the sign of a zero)',
  },
  {
    file: 'shared/aggregation/columns.ts',
    code: 'i < length',
    reason:
      "i <= length only adds a column of undefined and a write past the Float32Array's end, which typed arrays ignore",
  },
  {
    file: 'shared/aggregation/fraction-sampler.ts',
    code: 'i < ids.length',
    reason: 'i <= length only compares ids[length] (undefined) with the last id, which never matches',
  },
  {
    file: 'shared/aggregation/fraction-sampler.ts',
    code: 'i < count',
    reason: 'i <= count only swaps slot count (or appends undefined past the end), which slice(0, count) leaves out',
  },
  {
    file: 'shared/aggregation/trimmed-mean.ts',
    code: 'if (n - 2 * cut < 1) throw new Error(`trimmed mean with beta ${this.beta} leaves nothing of ${n} updates`);',
    reason:
      'unreachable: the constructor keeps beta < 0.5, so cut = floor(beta n) < n / 2 and at least one value remains',
  },
  {
    file: 'shared/aggregation/krum.ts',
    code: 'a < n',
    reason: 'a = n only reads vectors[n] (undefined) and runs an inner loop from n + 1, which does nothing',
  },
  {
    file: 'shared/aggregation/krum.ts',
    code: 'a - b',
    reason:
      'sort is stable over ascending positions, so ties keep position order; with a + b V8 orders them the same (checked for 5 to 300 equal scores)',
  },
  {
    file: 'shared/aggregation/optimizer-state.ts',
    code: "typeof v !== 'number'",
    reason: 'anything that is not a number also fails Number.isInteger, the next test',
  },
  {
    file: 'shared/secagg/encoding.ts',
    code: 'start < m',
    reason: 'start = m adds one empty batch (no draws used, no values written)',
  },
  {
    file: 'shared/secagg/encoding.ts',
    code: 'end - start',
    reason: 'end + start only draws more random bytes than the batch reads; the draws it reads are as uniform',
  },
  {
    file: 'shared/secagg/encoding.ts',
    code: 'x > c',
    reason: 'at x = c both branches give c',
  },
  {
    file: 'shared/secagg/encoding.ts',
    code: 'x < -c',
    reason: 'at x = -c both branches give -c',
  },
  {
    file: 'shared/secagg/encoding.ts',
    code: 'i < m',
    reason: "i <= m only adds a write past the Float32Array's end, which typed arrays ignore",
  },
  {
    file: 'shared/secagg/graph.ts',
    code: 'i > 0',
    reason: 'i = 0 only draws below 1 (always 0) and swaps position 0 with itself, after the last draw that matters',
  },
  {
    file: 'shared/secagg/word-adder.ts',
    code: 'i < n',
    reason:
      'i <= n only adds a write past the block, either past an Int32Array end (ignored) or into accumulator words end() does not copy back',
  },
  {
    file: 'shared/secagg/word-adder.ts',
    code: 'start < target.length',
    reason: 'start = length adds one empty block (begin, add and end of no words)',
  },
  {
    file: 'shared/secagg/word-adder.ts',
    code: 'value !== 0',
    reason:
      'every length the kernel module encodes is below 128, one LEB128 byte, so the continuation bit and a second pass never occur',
  },
  {
    file: 'shared/secagg/word-adder.ts',
    code: 'byte |= 0x80',
    reason: 'never runs: every length the kernel module encodes is below 128 (see value !== 0)',
  },
  {
    file: 'shared/secagg/params.ts',
    code: 't <= 0',
    reason: 'a fast path: for t <= 0 the sum below adds no term and returns 0 as well',
  },
  {
    file: 'shared/secagg/params.ts',
    code: 'i === k',
    reason: 'unreachable: after the t > k return the loop has i < t <= k',
  },
  {
    file: 'shared/secagg/params.ts',
    code: 't > 2',
    reason: 'checking t = 2 as well returns 2 when it is correct, and the fallback after the loop is 2 too',
  },
  {
    file: 'shared/secagg/params.ts',
    code: 'configured.k === undefined\n      ? defaults.threshold\n      : Math.max(minimumThreshold(k), largestCorrectThreshold(n, k, assumptions))',
    reason:
      'with k defaulted, defaults.threshold is this same max(floor, largest correct t) for that k (the loop only returns t >= floor)',
  },
  {
    file: 'shared/secagg/keystream.ts',
    code: 'off < bytes',
    reason: 'off = bytes adds one empty chunk (no keystream, nothing written)',
  },
  {
    file: 'shared/secagg/masks.ts',
    code: 'start < acc.length',
    reason: 'start = length adds one empty block (begin, add and end of no words)',
  },
  {
    file: 'shared/secagg/params.ts',
    code: 't >= minimumThreshold(k)',
    reason:
      'implied by isPrivate for the even k of the loop: 2t - k is even, and 2t - k <= 0 fails exposure < 1, so 2t - k >= 2',
  },
  {
    file: 'shared/secagg/agreement.ts',
    code: '/=+$/',
    reason: 'only 32-byte keys are encoded, whose base64 ends in exactly one =, so /=+/ and /=$/ strip the same',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: 'q === 0',
    replacement: 'false',
    reason:
      'a fast path: at q = 0 every term of A - 1 carries q^i with i >= 2, so the integer series gives 0, and the fractional series gives no value at or above its resolution, so it falls back to that integer series',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: '!Number.isInteger(order)',
    replacement: 'true',
    reason:
      'an integer order then goes through the fractional series first, which agrees with the integer one within its resolution (~2e-13 in log A) and falls back to the integer series below it: the same value to rounding',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: 'logA >= FRACTIONAL_RESOLUTION',
    replacement: 'logA > FRACTIONAL_RESOLUTION',
    reason: 'differs only when log A is exactly 1e-11, where both the series and the bound are within the resolution',
  },
  {
    file: 'shared/privacy/log-math.ts',
    code: 'x > 40',
    replacement: 'x >= 40',
    reason: 'at x = 40, log(expm1(40)) and 40 are the same double',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: 'i < MAX_SERIES_TERMS',
    reason: 'one term more than a million only differs for a series that stops at exactly that term',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: 'ratio < 0',
    reason:
      'ratio = (alpha - i + 1) / i is 0 only at i = alpha + 1, an integer, and this series runs for fractional alpha only',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: 'sign > 0',
    reason: 'sign is always 1 or -1, never 0',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: 'Math.max(s0, s1) < SERIES_STOP_LOG',
    reason:
      '<= stops one term earlier only when the largest term is exactly e^-30; the terms after it are below what log(A) resolves',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: 'epsilonAfter(0) > query.targetEpsilon',
    reason:
      'a fast path: when the spent RDP alone is over budget every order has negative slack, so the loop and the settling return 0 as well',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: 't > 0',
    replacement: 'true',
    reason: 'at t = 0 the loop stops anyway: epsilonAfter(0) <= target, or the function returned 0 above',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: 't > 0',
    replacement: 't >= 0',
    reason: 'at t = 0 the loop stops anyway: epsilonAfter(0) <= target, or the function returned 0 above',
  },
  {
    file: 'shared/privacy/rdp.ts',
    code: 'epsilonAfter(t) > query.targetEpsilon',
    replacement: 'epsilonAfter(t) >= query.targetEpsilon',
    reason:
      'stepping down past a t whose epsilon equals the target only makes the loop after it climb back: epsilon does not fall as t grows (per-step RDP >= 0)',
  },
  {
    file: 'shared/privacy/ledger.ts',
    code: 'rdp === undefined',
    reason: 'a cache: computing the per-step RDP again on a hit gives the same values',
  },
  {
    file: 'shared/privacy/ledger.ts',
    code: 'contributors > 0',
    reason:
      'in recordContributors the count is never 0 here: a round charged with 0 that is given 0 again returns before',
  },
  {
    file: 'shared/privacy/controller.ts',
    code: 'this.clip instanceof AdaptiveClipNorm && bitStd !== null',
    reason:
      'type narrowing: the clip is adaptive exactly when bitStd is set (both follow config.clipping.kind), so either test alone decides',
  },
  {
    file: 'shared/privacy/controller.ts',
    code: 'this.clip instanceof AdaptiveClipNorm && bitStd !== null && indicatorSum !== null',
    replacement: 'this.clip instanceof AdaptiveClipNorm && bitStd !== null || indicatorSum !== null',
    reason:
      'the three hold together or not at all: the indicator sum is refused above unless set exactly when bitStd is, and bitStd is set exactly when the clip is adaptive',
  },
  {
    file: 'shared/privacy/controller.ts',
    code: 'indicatorSum !== null',
    reason: 'type narrowing: finishRound refused an indicator sum that does not match bitStd above',
  },
  {
    file: 'shared/privacy/config.ts',
    code: "'custom'",
    reason: "parsePrivacyConfig reports only the issues' messages and paths, never their zod code",
  },
  {
    file: 'shared/secagg/task-digest.ts',
    code: 'a > b ? 1 : 0',
    reason:
      "one object's keys are distinct, so a > b holds whenever a < b does not; V8's sort only asks whether a comparison is negative",
  },
  {
    file: 'shared/secagg/identity.ts',
    code: '!key',
    reason: 'a cache of OpenSSL key objects: building the key again on a hit gives an equal key',
  },
  {
    file: 'shared/secagg/identity.ts',
    code: 'keys.size >= PUBLIC_KEY_CACHE',
    reason: 'the bound only limits memory: an evicted key is built again when next needed',
  },
  {
    file: 'shared/secagg/identity.ts',
    code: '!selectedSign',
    reason: 'memoizes the choice of backend: choosing again picks the same one',
  },
  {
    file: 'shared/secagg/identity.ts',
    code: '!selectedVerify',
    reason: 'memoizes the choice of backend: choosing again picks the same one',
  },
  {
    file: 'shared/secagg/identity.ts',
    code: '!bytes',
    reason: 'a cache of the encoded statement: encoding it again gives the same bytes',
  },
  {
    file: 'shared/secagg/identity.ts',
    code: '/=+$/',
    reason:
      'only 32-byte keys and seeds are encoded, whose base64 ends in exactly one =, so /=+/ and /=$/ strip the same',
  },
  {
    file: 'shared/secagg/identity.ts',
    code: '!this.pins.has(p.id)',
    reason: 'pinning an id again stores a copy of the same key: a changed key returned above',
  },
  {
    file: 'shared/secagg/bytes.ts',
    code: "{\n  if (!LITTLE_ENDIAN_HOST) {\n    throw new Error('secure aggregation needs a little-endian host: masked words are sent as raw bytes');\n  }\n}",
    reason:
      'on a little-endian host (every host this runs on) the check never throws, and a big-endian one cannot be simulated: LITTLE_ENDIAN_HOST is read once at load',
  },
  {
    file: 'shared/secagg/encoding.ts',
    code: 'i < values',
    reason:
      'i <= values only reads the weight word (or its low half) into out[values], which the next line overwrites with the weight',
  },
  {
    file: 'shared/secagg/client.ts',
    code: "'masking-key'",
    reason:
      "revealProof only asks whether the kind is 'self-mask-seed': any other string, '' too, proves a masking-key share",
  },
  {
    file: 'shared/secagg/server.ts',
    code: 'default: {\n        const unexpected: never = phase;\n        throw new Error(`unknown phase ${String(unexpected)}`);\n      }',
    reason:
      "unreachable: close() returns above for 'done' and 'aborted', and the state is private (the exhaustive-switch guard)",
  },
  {
    file: 'shared/secagg/server.ts',
    code: 'key.length === 32',
    reason: 'combine() of 33-byte shares (checkReveal refuses any other size) always yields 32 bytes',
  },
  {
    file: 'shared/secagg/server.ts',
    code: 'w < v',
    reason: 'w is a neighbour of v and the graph has no self-loops, so w <= v never sees w === v',
  },
  {
    file: 'shared/secagg/server.ts',
    code: 'this.neighboursIn(owner, responders).filter((h) => this.revealed.get(h)![kind].has(owner))',
    reason:
      "always true: checkReveal makes each responder reveal exactly its live neighbours' shares of that kind, and owner is one",
  },
  {
    file: 'shared/secagg/bytes.ts',
    code: 'i < bytes.length',
    reason: 'i <= length only ORs in bytes[length], undefined, which | treats as 0',
  },
  {
    file: 'shared/secagg/bytes.ts',
    code: 'i < a.length',
    reason: 'i <= length only ORs in undefined ^ undefined past both ends (equal lengths here), which is 0',
  },
  {
    file: 'shared/secagg/client.ts',
    code: 'id < v',
    reason: 'v is a neighbour of id and the graph has no self-loops, so id <= v never sees id === v',
  },
  {
    file: 'server/round/secure-evaluation.ts',
    code: 'this.selected.includes(clientId)',
    reason:
      'gone is only consulted for selected ids (the server awaits, dropouts and stage messages name participants only), so remembering another id changes nothing',
  },
  {
    file: 'server/round/secure-evaluation.ts',
    code: 'default: {\n        const never: never = step;\n        throw new Error(`unknown secure aggregation step ${JSON.stringify(never)}`);\n      }',
    reason: 'unreachable: SecAggServer.close returns only send, done or aborted steps (the exhaustive-switch guard)',
  },
  {
    file: 'server/round/secure-evaluation.ts',
    code: 'a.clientId < b.clientId',
    reason:
      'a client drops out at most once (SecAggServer stops awaiting it), so two dropouts never share an id and <= orders them as < does',
  },
  {
    file: 'server/round/aggregation-protocol.ts',
    code: '{\n    return undefined;\n  }',
    reason: 'a method body that returns nothing returns undefined as well',
  },
  {
    file: 'server/round/plaintext-protocol.ts',
    code: 'a.contribution.clientId < b.contribution.clientId',
    reason: 'a round keeps one update per client, so the ids compared are distinct and <= agrees with <',
  },
  {
    file: 'server/round/private-protocol.ts',
    code: 'i < m',
    reason:
      "i <= m only adds a read past the update's end and a write past the Float64Array's end, which typed arrays ignore",
  },
  {
    file: 'server/round/private-protocol.ts',
    code: 'adaptive',
    replacement: 'true',
    mutator: 'ConditionalExpression',
    line: 88,
    reason:
      'in central mode without adaptive clipping the indicator this sets is never read (only adaptive clipping sums indicators)',
  },
  {
    file: 'server/round/private-protocol.ts',
    code: 'wasClipped = false',
    reason: 'central mode sets wasClipped from the clip itself, and only central mode reports the clip count',
  },
  {
    file: 'server/round/private-protocol.ts',
    code: 'indicator !== undefined',
    reason:
      'with adaptive clipping every accepted update has an indicator, and without it the indicators are never read',
  },
  {
    file: 'server/round/secagg-protocol.ts',
    code: 'default: {\n        const never: never = step;\n        throw new Error(`unknown secure aggregation step ${JSON.stringify(never)}`);\n      }',
    reason: "unreachable: ServerStep is 'send', 'done' or 'aborted' (the exhaustive-switch guard)",
  },
  {
    file: 'server/round/secagg-protocol.ts',
    code: 'private participants: readonly string[] = [];',
    reason:
      "begin() sets the participants before anything but drop() reads them, and drop() finds no client id in either initial list (the mutant's is 'Stryker was here')",
  },
  {
    file: 'server/round/secagg-protocol.ts',
    code: 'a.clientId < b.clientId',
    reason: 'a client drops out once, so two dropouts of one stage have distinct ids and <= agrees with <',
  },
  {
    file: 'server/round/secagg-protocol.ts',
    code: 'step.culprit !== undefined',
    reason:
      'details() reports a culprit only when it is defined, so an outcome holding culprit: undefined reads the same',
  },
  {
    file: 'server/round/secagg-protocol.ts',
    code: "{ kind: 'aborted', reason, dropouts: [] }",
    reason: 'a round aborted at the start has no setup, so details(), the only reader of its dropouts, returns {}',
  },
  {
    file: 'server/round/secagg-protocol.ts',
    code: 'graph.k !== undefined',
    reason: 'resolveGraphParams treats k: undefined as no k (the copy only satisfies exactOptionalPropertyTypes)',
  },
  {
    file: 'server/round/secagg-protocol.ts',
    code: 'graph.threshold !== undefined',
    reason:
      'resolveGraphParams treats threshold: undefined as no threshold (the copy only satisfies exactOptionalPropertyTypes)',
  },
  {
    file: 'server/round/secagg-protocol.ts',
    code: 'this.deadline !== undefined',
    reason: 'without a deadline now >= undefined is false as well, so the guard only documents the case',
  },
  {
    file: 'server/round/secagg-protocol.ts',
    code: "this.outcome?.kind === 'done' ? this.outcome.sum.survivors : this.survivors",
    reason:
      "a round that is done sent its unmask request with the sum's own survivor list (server.ts: both are the sorted U3)",
  },
  {
    file: 'shared/privacy/ledger.ts',
    code: 'this.coordinatorRdp.every((r) => r === 0)',
    reason:
      'the coordinator account is charged at every order at once with a / (2 z^2) > 0, so one order is 0 exactly when all are',
  },
  {
    file: 'server/round/scheduler.ts',
    code: 'handle === undefined',
    reason:
      "cancelling a name with no timer only hands undefined to clearTimeout, which Node's and the tests' clocks ignore",
  },
  {
    file: 'server/round/round-machine.ts',
    code: 'deadline !== undefined',
    replacement: 'true',
    reason:
      'the deadline is undefined only while waiting, aggregating or closed, where now < undefined is false and the switch returns [] as well',
  },
  {
    file: 'server/round/update-norm.ts',
    code: 'n > norm',
    reason:
      'the list is read only for its median, the same kept descending (n <= norm) or with an equal norm on either side (n >= norm)',
  },
  {
    file: 'server/round/round-machine.ts',
    code: 'this.statusDeadline === undefined',
    reason: 'the protocol deadline counts only in training, where the status deadline is always set',
  },
  {
    file: 'server/round/round-machine.ts',
    code: 'this.statusDeadline !== undefined',
    reason: "in training the status deadline is always set (enter('training', now, now + trainingTimeoutMs))",
  },
  {
    file: 'server/round/round-machine.ts',
    code: 'default: {\n        const never: never = effect;\n        throw new Error(`unknown protocol effect ${JSON.stringify(never)}`);\n      }',
    reason: 'unreachable: ProtocolEffect is send or await (the exhaustive-switch guard)',
  },
  {
    file: 'server/round/round-machine.ts',
    code: 'default:\n        return unreachable(this.status);',
    replacement: 'default:',
    reason: 'unreachable: both switches on the status name all six RoundStatus values (the exhaustive-switch guard)',
  },
  {
    file: 'server/round/round-machine.ts',
    code: '{\n  throw new Error(`unknown round status ${String(status)}`);\n}',
    reason: 'unreachable: status is a RoundStatus and both switches name all six (the exhaustive-switch guard)',
  },
  // shared/secagg (mutx2)
  {
    file: 'shared/secagg/params.ts',
    code: 'k < n - 1',
    replacement: 'k <= n - 1',
    reason:
      'trying k = n - 1 in the loop returns what the fallback after it returns: the loop takes a t at or above the floor, the fallback max(floor, that same t)',
  },
  {
    file: 'shared/secagg/server.ts',
    code: "''",
    replacement: '"Stryker was here!"',
    reason:
      'the hex digest key is only a map key: joined with any separator that is not a hex digit, distinct digests still give distinct keys',
  },
  {
    file: 'shared/secagg/server.ts',
    code: '!statement',
    replacement: 'true',
    reason:
      "rebuilding a signer's statement builds an equal one (same round, nonce, digest, sorted U3), whose bytes verify alike",
  },
  {
    file: 'shared/secagg/server.ts',
    code: 'this.neighboursIn(v, this.u3).length > 0',
    replacement: 'true',
    reason:
      'on the Harary ring with t > k/2 a dropped client whose neighbours all left leaves the nearest survivor past the gap at most k/2 live neighbours, so the round aborts first either way',
  },
  {
    file: 'shared/secagg/server.ts',
    code: 'this.neighboursIn(v, this.u3).length > 0',
    replacement: 'this.neighboursIn(v, this.u3).length >= 0',
    reason: 'as for true: a dropped client with no live neighbour is never reached without an abort first',
  },
  {
    file: 'shared/secagg/server.ts',
    code: '(holder) => this.revealed.get(holder)![kind].get(id)!',
    replacement: '() => undefined',
    reason: "sharesOf's callers read only the length of its list, which the mapping does not change",
  },
  {
    file: 'shared/secagg/kdf.ts',
    code: 'a < b',
    replacement: 'a <= b',
    reason: 'equal ids are refused just above, so a <= b and a < b order every pair alike',
  },
  {
    file: 'shared/secagg/task-digest.ts',
    code: 'a < b',
    replacement: 'a <= b',
    reason: "the comparator sorts an object's own keys, which are distinct, so a === b never reaches it",
  },
  {
    file: 'shared/secagg/server.ts',
    code: "{\n      const n = count(v, 'maskingKeyShares');\n      if (n < t) return `${n} shares of the masking key of dropped client '${v}', fewer than the threshold ${t}`;\n    }",
    replacement: '{}',
    reason: 'the masking-key check it empties never fires (see the entry below)',
  },
  {
    file: 'shared/secagg/server.ts',
    code: "if (n < t) return `${n} shares of the masking key of dropped client '${v}', fewer than the threshold ${t}`;",
    reason:
      "unreachable abort: no dropout pattern on a Harary graph (exhaustive search up to 12 clients, every k and t) leaves a dropped client's key under t holders while every survivor's seed has t; its n <= t, n >= t and true mutants are killed (server.test.ts) and count as neither",
  },
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.config.ts', related: true },
  coverageAnalysis: 'perTest',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.mutation.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  checkerNodeArgs: [
    '--import',
    fileURLToPath(new URL('./scripts/mutation/typescript-api/register.js', import.meta.url)),
  ],
  plugins: ['@stryker-mutator/*', './scripts/mutation/equivalent-mutants.js', './scripts/mutation/survivor-log.js'],
  ignorers: ['equivalent'],
  // The machine is shared: one test runner (plus the checker) at a time.
  concurrency: 1,
  incremental: true,
  // Mutants in module-level code (zod schemas, constants) run only when a module is first
  // evaluated; with vitest 4.1 the runner did not re-evaluate them under the mutant, so they
  // "survived" whatever the tests did. They are left out and counted apart (run.ts prints them).
  ignoreStatic: true,
  reporters: ['html', 'json', 'progress', 'survivor-log'],
  thresholds: { high: 90, low: 80, break: null },
  ignorePatterns: ['dist', 'reports', 'simulations/results', 'test/browser', 'bench'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  timeoutMS: 10_000,
};
