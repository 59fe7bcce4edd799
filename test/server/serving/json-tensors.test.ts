import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DenseTensor, JsonBodyError, parseJsonTensors } from '../../../server/serving/json-tensors.js';

const parse = (text: string, maxDepth = 64) => parseJsonTensors(Buffer.from(text, 'utf8'), { maxDepth });

/** DenseTensors back to nested arrays, to compare with JSON.parse. */
function plain(value: unknown): unknown {
  if (value instanceof DenseTensor) {
    if (value.shape.length === 1) return Array.from(value.values);
    return Array.from({ length: value.shape[0] }, (_, i) => plain(value.item(i)));
  }
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      Object.defineProperty(out, k, { value: plain(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/** JSON values whose numbers are exactly representable as float32, so both parsers agree exactly. */
const float32Json = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.float({ noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v)),
    fc.integer({ min: -1000, max: 1000 }),
    fc.string({ unit: 'binary' }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.array(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 2, maxLength: 2 }), {
      maxLength: 4,
    }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'prototype')), tie('value'), {
      maxKeys: 4,
    }),
  ),
})).value;

describe('parseJsonTensors', () => {
  it('agrees with JSON.parse on any JSON (numbers exact in float32)', () => {
    fc.assert(
      fc.property(float32Json, (value) => {
        const text = JSON.stringify(value);
        expect(plain(parse(text))).toEqual(JSON.parse(text));
      }),
      { numRuns: 2000 },
    );
  });

  /** Number literals of every JSON form: long mantissas, leading zeros, big and small exponents. */
  const numberLiteral = fc
    .tuple(
      fc.boolean(),
      fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9][0-9]{0,24}$/)),
      fc.option(fc.stringMatching(/^[0-9]{1,25}$/), { nil: undefined }),
      fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 400 })), {
        nil: undefined,
      }),
    )
    .map(
      ([negative, int, frac, exp]) =>
        `${negative ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}${exp === undefined ? '' : `${exp[0]}${exp[1]}${exp[2]}`}`,
    );

  it('reads any number literal as JSON.parse does, to the bit (or refuses it when not finite as float32)', () => {
    fc.assert(
      fc.property(numberLiteral, (literal) => {
        const expected = JSON.parse(literal) as number;
        if (!Number.isFinite(Math.fround(expected))) {
          expect(() => parse(`[${literal}]`)).toThrow(/which is not finite as float32/);
          return;
        }
        expect(Object.is(parse(literal), expected)).toBe(true);
        const [got] = (parse(`[${literal}, 0]`) as DenseTensor).values;
        expect(Object.is(got, Math.fround(expected))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it.each([
    '-0',
    '0.0',
    '-0.0e5',
    '0e400',
    '1e-400',
    '123456789012345',
    '1234567890123456',
    '9007199254740993',
    '0.1',
    '0.30000000000000004',
    '1e22',
    '1e23',
    '1e-22',
    '1e-23',
    '4.9406564584124654e-324',
    '2.2250738585072014e-308',
    '1.4e-45',
    '7e-46',
    '3.4028235e38',
    '0.000000000000000000001234567',
    '123456789012345.6789',
    '1E+2',
    '1e-0',
  ])('reads %s as JSON.parse does', (literal) => {
    expect(Object.is(parse(literal), JSON.parse(literal))).toBe(true);
  });

  it('reads rectangular nests of numbers as one float32 tensor, whatever the nesting', () => {
    const t = parse('{"instances": [[[0.5], [1]], [[2], [3.25]]]}') as { instances: DenseTensor };
    expect(t.instances).toBeInstanceOf(DenseTensor);
    expect(t.instances.shape).toEqual([2, 2, 1]);
    expect(Array.from(t.instances.values)).toEqual([0.5, 1, 2, 3.25]);
    expect((parse('[]') as DenseTensor).shape).toEqual([0]);
    expect((parse('[[], []]') as DenseTensor).shape).toEqual([2, 0]);
    expect(Array.from((parse('[0.1]') as DenseTensor).values)).toEqual([Math.fround(0.1)]);
  });

  it('keeps ragged or mixed arrays as JS arrays, with their rectangular parts as tensors', () => {
    const ragged = parse('[[1, 2], [3]]') as DenseTensor[];
    expect(Array.isArray(ragged)).toBe(true);
    expect(ragged.map((t) => t.shape)).toEqual([[2], [1]]);
    expect(ragged.map((t) => Array.from(t.values))).toEqual([[1, 2], [3]]);
    expect(plain(parse('[1, [2], "x", {"a": [[3, 4]]}, null]'))).toEqual([1, [2], 'x', { a: [[3, 4]] }, null]);
    expect(plain(parse('[[1, 2], [3, 4], 5]'))).toEqual([[1, 2], [3, 4], 5]);
  });

  it('keeps __proto__ as a plain key, as JSON.parse does', () => {
    const parsed = parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.keys(parsed)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses 10,000 levels of nesting without recursing', () => {
    for (const open of ['[', '{"a":']) {
      const text = open.repeat(10_000) + '1' + (open === '[' ? ']' : '}').repeat(10_000);
      expect(() => parse(text)).toThrow(JsonBodyError);
      expect(() => parse(text)).toThrow(/request body nests deeper than 64 levels \(at byte \d+\)/);
    }
    expect(() => parse('[[[1]]]', 3)).not.toThrow();
    expect(() => parse('[[[[1]]]]', 3)).toThrow(/deeper than 3 levels/);
  });

  it.each([
    ['{"instances": [[1, 3.5e38]]}', /^instances\[0\]\[1\] is 3\.5e38, which is not finite as float32/],
    ['{"inputs": {"x": [-1e39]}}', /^inputs\.x\[0\] is -1e39, which is not finite as float32/],
    ['[1e400]', /^\[0\] is 1e400, which is not finite as float32/],
    ['3.5e38', /^request body is 3\.5e38/],
  ])('refuses %s: a number that is not finite as float32', (text, message) => {
    expect(() => parse(text)).toThrow(message);
  });

  it('accepts the largest float32 and values that round down to it', () => {
    expect(Array.from((parse('[3.4028234663852886e38, -3.4028235e38]') as DenseTensor).values)).toEqual([
      3.4028234663852886e38, -3.4028234663852886e38,
    ]);
  });

  it.each([
    ['', /unexpected end of input at byte 0/],
    ['[1, 2', /unexpected end of input/],
    ['[1, 2,]', /unexpected '\]' at byte 6/],
    ['{"a": 1,}', /expected a string key at byte 8/],
    ['{"a" 1}', /expected ':' after a key/],
    ['[01]', /expected ',' or '\]' at byte 2/],
    ['[.5]', /unexpected '\.'/],
    ['[1.]', /expected a digit after '\.'/],
    ['[1e]', /expected a digit in the exponent/],
    ['[-]', /expected a digit/],
    ['[NaN]', /unexpected 'N'/],
    ['[Infinity]', /unexpected 'I'/],
    ['[tru]', /unexpected 't'/],
    ['"abc', /unterminated string/],
    ['"a\tb"', /control character in a string/],
    ['"\\x"', /bad escape/],
    ['"\\u12G4"', /bad \\u escape/],
    ['\uFEFF[1]', /unexpected/],
    ['[1] [2]', /after the end of the document/],
  ])('refuses malformed JSON %j like JSON.parse does', (text, message) => {
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    expect(() => parse(text)).toThrow(JsonBodyError);
    expect(() => parse(text)).toThrow(/^request body is not valid JSON: /);
    expect(() => parse(text)).toThrow(message);
  });

  it('decodes escapes, surrogate pairs and UTF-8 like JSON.parse', () => {
    const text = '["a\\"b\\\\c\\/d\\b\\f\\n\\r\\t", "\\u00e9\\ud83d\\ude00", "é😀", "x\\u0000y"]';
    expect(plain(parse(text))).toEqual(JSON.parse(text));
  });
});
