import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataSpec, loadDataSpecSync, parseDataSpec } from '../../../shared/data/data-spec.node.js';
import { parseCsv, parseJsonLines } from '../../../shared/data/text-formats.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedserve-data-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('data specs', () => {
  it('parses mnist shards and file kinds, refusing anything else by name', () => {
    expect(parseDataSpec('mnist:2/4')).toEqual({ kind: 'mnist', shard: 2, shards: 4 });
    expect(parseDataSpec('mnist:test')).toEqual({ kind: 'mnist-test' });
    expect(parseDataSpec('a/b.CSV')).toEqual({ kind: 'csv', path: 'a/b.CSV' });
    expect(parseDataSpec('x.ndjson')).toEqual({ kind: 'jsonl', path: 'x.ndjson' });
    expect(() => parseDataSpec('mnist:4/4')).toThrow(
      "data spec 'mnist:4/4': shard index must be in 0..3 for 4 shard(s)",
    );
    expect(() => parseDataSpec('mnist:1-4')).toThrow(/expected mnist:<i>\/<n>/);
    expect(() => parseDataSpec('data.parquet')).toThrow(/expected a \.csv or \.jsonl file/);
    expect(parseDataSpec('idx:a/i.gz,b:c/l.gz')).toEqual({ kind: 'idx', images: 'a/i.gz', labels: 'b:c/l.gz' });
    expect(parseDataSpec('idx:i,l:1/3')).toEqual({
      kind: 'idx',
      images: 'i',
      labels: 'l',
      shard: { shard: 1, shards: 3 },
    });
    expect(parseDataSpec('fashion-mnist:test')).toEqual({ kind: 'fashion-mnist', split: 'test' });
    expect(parseDataSpec('fashion-mnist:2/10')).toEqual({
      kind: 'fashion-mnist',
      split: 'train',
      shard: { shard: 2, shards: 10 },
    });
    expect(() => parseDataSpec('fashion-mnist:val')).toThrow(
      /expected fashion-mnist:train, fashion-mnist:test or fashion-mnist:<i>\/<n>/,
    );
    expect(() => parseDataSpec('idx:only-images.gz')).toThrow(/expected idx:IMAGES,LABELS/);
    expect(() => parseDataSpec('idx:i,l:3/3')).toThrow('shard index must be in 0..2 for 3 shard(s)');
    expect(() => loadDataSpecSync('idx:i,l')).toThrow(/load it with loadDataSpec/);
  });

  it('loads an MNIST shard of the 8,000 training digits', async () => {
    const ds = await loadDataSpec('mnist:1/4');
    expect(ds.n).toBe(2000);
    expect(ds.inputShape).toEqual([28, 28, 1]);
  });

  it('reads a CSV by its label column, the other columns being features', () => {
    const ds = parseCsv('f1,"label",f2\n0.5,1,2\n\n-1,0,3e-1\n', 't.csv', 'label');
    expect(ds.n).toBe(2);
    expect(Array.from(ds.x)).toEqual([0.5, 2, -1, Math.fround(0.3)]);
    expect(Array.from(ds.y)).toEqual([1, 0]);
    expect(ds.inputShape).toEqual([2]);
    expect(parseCsv('a,b\n1,7\n', 't.csv', 'a').y[0]).toBe(1);
  });

  it.each([
    ['', 'label', 't.csv is empty'],
    ['a,b\n1,2\n', 'label', "t.csv: no 'label' column in the header (a, b); pass --label-column"],
    ['a,label\n1,2,3\n', 'label', 't.csv line 2 has 3 fields, the header has 2'],
    ['a,label\n1,0\nx,1\n', 'label', "t.csv line 3, column 'a': 'x' is not a finite number"],
    ['a,label\n1,0.5\n', 'label', 't.csv line 2: label 0.5 is not a class index'],
    ['a,label\n', 'label', 't.csv has no examples'],
  ])('refuses a malformed CSV (%#)', (text, column, message) => {
    expect(() => parseCsv(text, 't.csv', column)).toThrow(message);
  });

  it('reads JSON lines with flat or nested x', () => {
    const ds = parseJsonLines('{"x":[[1,2],[3,4]],"y":1}\n{"x":[5,6,7,8],"y":0}\n', 't.jsonl');
    expect(ds.n).toBe(2);
    expect(Array.from(ds.x)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(ds.y)).toEqual([1, 0]);
  });

  it.each([
    ['{"x":[1],"y":0}\n{oops\n', 't.jsonl line 2 is not valid JSON'],
    ['{"x":[1,2],"y":0}\n{"x":[1],"y":1}\n', 't.jsonl line 2: x has 1 values, earlier lines have 2'],
    ['{"x":[1],"label":0}\n', 't.jsonl line 1: expected {"x": [numbers], "y": class index}'],
    ['{"x":[1],"y":-1}\n', 't.jsonl line 1: label -1 is not a class index'],
  ])('refuses malformed JSON lines (%#)', (text, message) => {
    expect(() => parseJsonLines(text, 't.jsonl')).toThrow(message);
  });

  it('names a missing file', async () => {
    await expect(loadDataSpec(join(dir, 'nope.csv'))).rejects.toThrow(
      `data file ${join(dir, 'nope.csv')} does not exist`,
    );
    const path = join(dir, 'ok.jsonl');
    await writeFile(path, '{"x":[1,2],"y":3}\n');
    expect((await loadDataSpec(path)).numClasses).toBe(4);
    expect(loadDataSpecSync(path).numClasses).toBe(4);
  });
});
