/**
 * A JSON parser for predict bodies that reads numeric arrays straight into float32.
 *
 * JSON.parse turns an 8 MiB body of pixels into a JS array per row (or per pixel, for
 * [28][28][1] images) plus a string copy of the body: 35 to 85 MiB for one request. Here every
 * array whose content is a rectangular nest of numbers becomes a DenseTensor: a shape and a view
 * into one shared float32 buffer, filled in document order, so a body costs about its float32
 * size. Arrays that are not rectangular nests of numbers (objects inside, ragged rows) stay JS
 * arrays, their rectangular parts still DenseTensors. The parser is iterative (no recursion) with
 * a nesting limit, keeps `__proto__` as a plain key, and refuses numbers that are not finite as
 * float32 (3.5e38 is valid JSON but Infinity as float32), naming where they are.
 */

/** A rectangular nest of numbers from the body, as float32 values in row-major order. */
export class DenseTensor {
  readonly #pool: ValuePool;
  readonly #offset: number;

  constructor(
    readonly shape: readonly number[],
    pool: ValuePool,
    offset: number,
    /** The number of values, the product of the shape. */
    readonly size: number,
  ) {
    this.#pool = pool;
    this.#offset = offset;
  }

  /** Entry i along the first dimension. */
  item(i: number): DenseTensor {
    const shape = this.shape.slice(1);
    const size = shape.reduce((a, b) => a * b, 1);
    return new DenseTensor(shape, this.#pool, this.#offset + i * size, size);
  }

  /** The values (a view into the parse's buffer: valid once parsing has finished). */
  get values(): Float32Array {
    return this.#pool.values.subarray(this.#offset, this.#offset + this.size);
  }
}

/** The body is not JSON, nests too deeply, or holds a number float32 cannot represent. */
export class JsonBodyError extends Error {
  override name = 'JsonBodyError';
}

/** The growing float32 buffer all tensors of one parse point into. */
class ValuePool {
  values = new Float32Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.values.length) {
      const grown = new Float32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = v;
  }
}

/**
 * What an open array holds so far. empty: nothing; numbers: only numbers, in the pool from
 * `start`; tensors: only DenseTensors of `childShape`, back to back in the pool from `start`;
 * generic: anything else, the elements in `items`.
 */
type Mode = 'empty' | 'numbers' | 'tensors' | 'generic';

interface ArrayFrame {
  kind: 'array';
  mode: Mode;
  start: number;
  count: number;
  childShape: readonly number[];
  childSize: number;
  items: unknown[];
}

interface ObjectFrame {
  kind: 'object';
  object: Record<string, unknown>;
  key: string;
}

type Frame = ArrayFrame | ObjectFrame;

/**
 * What may come next. value; value-or-end: a value or `]` (just after `[`); key-or-end: a key or
 * `}` (just after `{`); key: after a `,` in an object; next: `,` or the end of the enclosing array
 * or object, or the end of the body.
 */
type Expect = 'value' | 'value-or-end' | 'key-or-end' | 'key' | 'next';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const ESCAPES: Record<number, string> = {
  0x22: '"',
  0x5c: '\\',
  0x2f: '/',
  0x62: '\b',
  0x66: '\f',
  0x6e: '\n',
  0x72: '\r',
  0x74: '\t',
};

const isDigit = (b: number) => b >= ZERO && b <= NINE;
/** 10^0 .. 10^22, every one exactly representable as a double. */
const POWERS_OF_TEN = Float64Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

export interface JsonTensorOptions {
  /** Deepest nesting of arrays and objects accepted. */
  maxDepth: number;
}

/** Parses one JSON document from UTF-8 bytes; see the module comment for what differs from JSON.parse. */
export function parseJsonTensors(bytes: Uint8Array, options: JsonTensorOptions): unknown {
  return new Parser(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), options.maxDepth).parse();
}

class Parser {
  private pos = 0;
  private readonly stack: Frame[] = [];
  private readonly pool = new ValuePool();

  constructor(
    private readonly text: Buffer,
    private readonly maxDepth: number,
  ) {}

  parse(): unknown {
    const { text } = this;
    let expect: Expect = 'value';
    let result: unknown;
    for (;;) {
      this.skipWhitespace();
      if (this.pos >= text.length) {
        if (expect === 'next' && this.stack.length === 0) return result;
        throw this.error('unexpected end of input');
      }
      const b = text[this.pos];
      let value: unknown;
      switch (expect) {
        case 'next': {
          const top = this.stack.at(-1);
          if (!top) throw this.error(`unexpected '${String.fromCharCode(b)}' after the end of the document`);
          if (b === COMMA) {
            this.pos++;
            expect = top.kind === 'array' ? 'value' : 'key';
            continue;
          }
          if (top.kind === 'array' ? b !== CLOSE_ARRAY : b !== CLOSE_OBJECT) {
            throw this.error(`expected ',' or '${top.kind === 'array' ? ']' : '}'}'`);
          }
          this.pos++;
          value = this.close();
          break;
        }
        case 'key-or-end':
        case 'key': {
          if (b === CLOSE_OBJECT && expect === 'key-or-end') {
            this.pos++;
            value = this.close();
            break;
          }
          if (b !== QUOTE) throw this.error('expected a string key');
          const key = this.string();
          this.skipWhitespace();
          if (text[this.pos] !== COLON) throw this.error("expected ':' after a key");
          this.pos++;
          (this.stack.at(-1) as ObjectFrame).key = key;
          expect = 'value';
          continue;
        }
        case 'value-or-end':
        case 'value': {
          if (b === CLOSE_ARRAY && expect === 'value-or-end') {
            this.pos++;
            value = this.close();
            break;
          }
          if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
            if (this.stack.length >= this.maxDepth)
              throw new JsonBodyError(`request body nests deeper than ${this.maxDepth} levels (at byte ${this.pos})`);
            this.pos++;
            if (b === OPEN_ARRAY) {
              this.stack.push({
                kind: 'array',
                mode: 'empty',
                start: this.pool.length,
                count: 0,
                childShape: [],
                childSize: 0,
                items: [],
              });
              expect = 'value-or-end';
            } else {
              this.stack.push({ kind: 'object', object: {}, key: '' });
              expect = 'key-or-end';
            }
            continue;
          }
          value = this.scalar(b);
          break;
        }
        default: {
          const never: never = expect;
          throw new Error(`unknown parser state ${String(never)}`);
        }
      }
      const top = this.stack.at(-1);
      if (top) this.add(top, value);
      else result = value;
      expect = 'next';
    }
  }

  /** Appends a finished value to the enclosing array or object. */
  private add(frame: Frame, value: unknown): void {
    if (frame.kind === 'object') {
      // Assignment would set the prototype for "__proto__"; JSON.parse makes it a plain key too.
      if (frame.key === '__proto__')
        Object.defineProperty(frame.object, frame.key, { value, enumerable: true, writable: true, configurable: true });
      else frame.object[frame.key] = value;
      return;
    }
    if (typeof value === 'number' && (frame.mode === 'empty' || frame.mode === 'numbers')) {
      this.pool.push(value);
      frame.mode = 'numbers';
    } else if (value instanceof DenseTensor && frame.mode === 'empty') {
      frame.mode = 'tensors';
      frame.childShape = value.shape;
      frame.childSize = value.size;
    } else if (!(
      value instanceof DenseTensor &&
      frame.mode === 'tensors' &&
      sameShape(value.shape, frame.childShape)
    )) {
      if (frame.mode !== 'generic') this.toGeneric(frame);
      frame.items.push(value);
    }
    frame.count++;
  }

  /** The array turned out not to be a rectangular nest of numbers: its elements so far become JS values. */
  private toGeneric(frame: ArrayFrame): void {
    for (let i = 0; i < frame.count; i++) {
      frame.items.push(
        frame.mode === 'numbers'
          ? this.pool.values[frame.start + i]
          : new DenseTensor(frame.childShape, this.pool, frame.start + i * frame.childSize, frame.childSize),
      );
    }
    frame.mode = 'generic';
  }

  /** Pops the innermost array or object and returns its value. */
  private close(): unknown {
    const frame = this.stack.pop()!;
    if (frame.kind === 'object') return frame.object;
    switch (frame.mode) {
      case 'empty':
        return new DenseTensor([0], this.pool, frame.start, 0);
      case 'numbers':
        return new DenseTensor([frame.count], this.pool, frame.start, frame.count);
      case 'tensors':
        return new DenseTensor(
          [frame.count, ...frame.childShape],
          this.pool,
          frame.start,
          frame.count * frame.childSize,
        );
      case 'generic':
        return frame.items;
      default: {
        const never: never = frame.mode;
        throw new Error(`unknown array mode ${String(never)}`);
      }
    }
  }

  private scalar(b: number): unknown {
    if (b === QUOTE) return this.string();
    if (b === MINUS || isDigit(b)) return this.number();
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.toString('latin1', this.pos, this.pos + word.length) === word) {
        this.pos += word.length;
        return value;
      }
    }
    throw this.error(`unexpected '${String.fromCharCode(b)}'`);
  }

  /**
   * Reads a number without making a string of it when it has at most 15 significant digits and a
   * decimal exponent within 22: then the digits are an exact integer and 10^e an exact double, so
   * one multiplication or division gives the correctly rounded double, the value Number() and
   * JSON.parse give. Anything else goes through Number() on the literal.
   */
  private number(): number {
    const { text } = this;
    const start = this.pos;
    let p = start;
    const negative = text[p] === MINUS;
    if (negative) p++;
    let mantissa = 0;
    let significant = 0;
    let exponent = 0;
    if (text[p] === ZERO) p++;
    else if (isDigit(text[p])) {
      for (; isDigit(text[p]); p++) {
        mantissa = mantissa * 10 + (text[p] - ZERO);
        if (mantissa !== 0) significant++;
      }
    } else {
      this.pos = p;
      throw this.error('expected a digit');
    }
    if (text[p] === DOT) {
      p++;
      if (!isDigit(text[p])) {
        this.pos = p;
        throw this.error("expected a digit after '.'");
      }
      for (; isDigit(text[p]); p++) {
        mantissa = mantissa * 10 + (text[p] - ZERO);
        if (mantissa !== 0) significant++;
        exponent--;
      }
    }
    if (text[p] === 0x65 || text[p] === 0x45) {
      p++;
      const negativeExponent = text[p] === MINUS;
      if (text[p] === PLUS || text[p] === MINUS) p++;
      if (!isDigit(text[p])) {
        this.pos = p;
        throw this.error('expected a digit in the exponent');
      }
      let e = 0;
      // Past 1e6 the fast path is out of reach anyway; keep e small so it stays exact.
      for (; isDigit(text[p]); p++) if (e < 1e6) e = e * 10 + (text[p] - ZERO);
      exponent += negativeExponent ? -e : e;
    }
    this.pos = p;
    if (significant <= 15 && exponent >= -22 && exponent <= 22) {
      // At most 15 significant digits and |exponent| <= 22: below 1e37, finite as float32.
      const value = exponent >= 0 ? mantissa * POWERS_OF_TEN[exponent] : mantissa / POWERS_OF_TEN[-exponent];
      return negative ? -value : value;
    }
    const literal = text.toString('latin1', start, p);
    const value = Number(literal);
    if (!Number.isFinite(Math.fround(value))) {
      throw new JsonBodyError(
        `${this.path()} is ${literal}, which is not finite as float32 (the largest float32 is 3.4028235e38); inputs must be finite`,
      );
    }
    return value;
  }

  private string(): string {
    const { text } = this;
    const start = ++this.pos;
    let end = start;
    while (end < text.length && text[end] !== QUOTE && text[end] !== BACKSLASH && text[end] >= 0x20) end++;
    if (text[end] === QUOTE) {
      this.pos = end + 1;
      return text.toString('utf8', start, end);
    }
    // Escapes (or an error): decode piece by piece.
    let out = text.toString('utf8', start, end);
    this.pos = end;
    for (;;) {
      const b = text[this.pos];
      if (b === undefined) throw this.error('unterminated string');
      if (b === QUOTE) {
        this.pos++;
        return out;
      }
      if (b < 0x20) throw this.error('control character in a string');
      if (b === BACKSLASH) {
        const e = text[this.pos + 1];
        if (e === 0x75) {
          const hex = text.toString('latin1', this.pos + 2, this.pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.error('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 6;
        } else {
          const c = e === undefined ? undefined : ESCAPES[e];
          if (c === undefined) throw this.error('bad escape');
          out += c;
          this.pos += 2;
        }
        continue;
      }
      let run = this.pos;
      while (run < text.length && text[run] !== QUOTE && text[run] !== BACKSLASH && text[run] >= 0x20) run++;
      out += text.toString('utf8', this.pos, run);
      this.pos = run;
    }
  }

  private skipWhitespace(): void {
    const { text } = this;
    for (;;) {
      const b = text[this.pos];
      if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return;
      this.pos++;
    }
  }

  /** Where the parser is, as a path like instances[0][3]. */
  private path(): string {
    let out = '';
    for (const frame of this.stack) {
      if (frame.kind === 'array') out += `[${frame.count}]`;
      else out += out === '' ? frame.key : `.${frame.key}`;
    }
    return out === '' ? 'request body' : out;
  }

  private error(what: string): JsonBodyError {
    return new JsonBodyError(`request body is not valid JSON: ${what} at byte ${this.pos}`);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
