/**
 * Adding uint32 word vectors mod 2^32: the inner loop of masking (client) and of summing and
 * unmasking (coordinator). Plain JS manages about one word per nanosecond; a WebAssembly SIMD
 * kernel (four words per instruction) is about ten times faster, so it is used wherever
 * WebAssembly SIMD exists (Node 16.4+, current browsers) and JS is the fallback.
 *
 * The kernel works on one block of at most BLOCK_WORDS words held in its own memory: begin()
 * loads a block, add() adds words to it (signed), end() writes it back.
 */
export const BLOCK_WORDS = 1 << 14;

export interface WordAdder {
  /** Makes `block` (at most BLOCK_WORDS words) the accumulator. */
  begin(block: Int32Array): void;
  /** accumulator += sign * words, word by word mod 2^32; words has the block's length. */
  add(words: Int32Array, sign: 1 | -1): void;
  /** Writes the accumulator back into the block given to begin(). */
  end(): void;
}

export function jsWordAdder(): WordAdder {
  let acc: Int32Array = new Int32Array(0);
  return {
    begin: (block) => {
      acc = block;
    },
    add: (words, sign) => {
      const n = acc.length;
      if (sign === 1) for (let i = 0; i < n; i++) acc[i] = (acc[i] + words[i]) | 0;
      else for (let i = 0; i < n; i++) acc[i] = (acc[i] - words[i]) | 0;
    },
    end: () => {
      acc = new Int32Array(0);
    },
  };
}

function uleb128(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb128(content.length), ...content];
}

const I32 = 0x7f;
const V128_LOAD = [0xfd, 0x00, 0x04, 0x00]; // v128.load align=16 offset=0
const V128_STORE = [0xfd, 0x0b, 0x04, 0x00];
const I32X4_ADD = [0xfd, 0xae, 0x01];
const I32X4_SUB = [0xfd, 0xb1, 0x01];

/**
 * func (dst, src, bytes): while bytes != 0 { mem[dst] = mem[dst] op mem[src] (4 lanes);
 * dst += 16; src += 16; bytes -= 16 }. `bytes` must be a multiple of 16.
 */
function laneLoop(op: number[]): number[] {
  const get = (i: number) => [0x20, i];
  const step = (i: number, opcode: number) => [...get(i), 0x41, 0x10, opcode, 0x21, i]; // local.set i (local.get i +/- 16)
  const code = [
    0x00, // no locals
    0x02,
    0x40, // block
    0x03,
    0x40, // loop
    ...get(2),
    0x45,
    0x0d,
    0x01, // br_if 1 (bytes == 0): exit
    ...get(0),
    ...get(0),
    ...V128_LOAD,
    ...get(1),
    ...V128_LOAD,
    ...op,
    ...V128_STORE,
    ...step(0, 0x6a),
    ...step(1, 0x6a),
    ...step(2, 0x6b), // dst += 16, src += 16, bytes -= 16
    0x0c,
    0x00, // br 0: next iteration
    0x0b,
    0x0b,
    0x0b, // end loop, end block, end func
  ];
  return [...uleb128(code.length), ...code];
}

const ACC_OFFSET = 0;
const SCRATCH_OFFSET = BLOCK_WORDS * 4;
const PAGES = 2; // 128 KB: accumulator, then scratch

function kernelModule(): Uint8Array<ArrayBuffer> {
  const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00, // "\0asm", version 1
    ...section(1, [0x01, 0x60, 0x03, I32, I32, I32, 0x00]), // one type: (i32, i32, i32) -> ()
    ...section(3, [0x02, 0x00, 0x00]), // two functions of that type
    ...section(5, [0x01, 0x00, PAGES]), // one memory, PAGES pages
    ...section(7, [0x03, ...name('memory'), 0x02, 0x00, ...name('add'), 0x00, 0x00, ...name('sub'), 0x00, 0x01]),
    ...section(10, [0x02, ...laneLoop(I32X4_ADD), ...laneLoop(I32X4_SUB)]),
  ]);
}

interface Kernel {
  memory: WebAssembly.Memory;
  add(dst: number, src: number, bytes: number): void;
  sub(dst: number, src: number, bytes: number): void;
}

export function simdWordAdder(): WordAdder | undefined {
  if (typeof WebAssembly !== 'object') return undefined;
  const bytes = kernelModule();
  if (!WebAssembly.validate(bytes)) return undefined;
  const kernel = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Kernel;
  const acc = new Int32Array(kernel.memory.buffer, ACC_OFFSET, BLOCK_WORDS);
  const scratch = new Int32Array(kernel.memory.buffer, SCRATCH_OFFSET, BLOCK_WORDS);
  let block: Int32Array = new Int32Array(0);
  return {
    begin: (b) => {
      if (b.length > BLOCK_WORDS) throw new Error(`block of ${b.length} words exceeds ${BLOCK_WORDS}`);
      block = b;
      acc.set(b);
    },
    add: (words, sign) => {
      const n = block.length;
      if (words.length !== n) throw new Error(`adding ${words.length} words to a block of ${n}`);
      const lanes = n & ~3;
      scratch.set(words);
      if (sign === 1) kernel.add(ACC_OFFSET, SCRATCH_OFFSET, lanes * 4);
      else kernel.sub(ACC_OFFSET, SCRATCH_OFFSET, lanes * 4);
      for (let i = lanes; i < n; i++) acc[i] = (acc[i] + sign * scratch[i]) | 0;
    },
    end: () => {
      block.set(acc.subarray(0, block.length));
      block = new Int32Array(0);
    },
  };
}

let selected: WordAdder | undefined;

export function defaultWordAdder(): WordAdder {
  selected ??= simdWordAdder() ?? jsWordAdder();
  return selected;
}

/** target += sign * words over whole vectors, block by block. */
export function addWords(
  target: Int32Array,
  words: Int32Array,
  sign: 1 | -1,
  adder: WordAdder = defaultWordAdder(),
): void {
  if (words.length !== target.length) throw new Error(`adding ${words.length} words to ${target.length}`);
  for (let start = 0; start < target.length; start += BLOCK_WORDS) {
    const end = Math.min(target.length, start + BLOCK_WORDS);
    adder.begin(target.subarray(start, end));
    adder.add(words.subarray(start, end), sign);
    adder.end();
  }
}

/** Where addWordBytes lines up an unaligned block: one block, reused. */
const staging = new Int32Array(BLOCK_WORDS);
const stagingBytes = new Uint8Array(staging.buffer);

/**
 * target += sign * `bytes` read as little-endian int32 words, block by block. Bytes at any offset
 * (a window on a received message) are lined up one cache-sized block at a time, never copied
 * whole: a coordinator adds a masked vector per client and drops it.
 */
export function addWordBytes(
  target: Int32Array,
  bytes: Uint8Array,
  sign: 1 | -1,
  adder: WordAdder = defaultWordAdder(),
): void {
  if (bytes.length !== target.length * 4) throw new Error(`adding ${bytes.length} bytes to ${target.length} words`);
  if (bytes.byteOffset % 4 === 0) {
    addWords(target, new Int32Array(bytes.buffer, bytes.byteOffset, target.length), sign, adder);
    return;
  }
  for (let start = 0; start < target.length; start += BLOCK_WORDS) {
    const end = Math.min(target.length, start + BLOCK_WORDS);
    stagingBytes.set(bytes.subarray(start * 4, end * 4));
    adder.begin(target.subarray(start, end));
    adder.add(staging.subarray(0, end - start), sign);
    adder.end();
  }
}
