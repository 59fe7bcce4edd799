import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  fileViolations,
  importSpecifiers,
  layerViolations,
  readLayerSources,
} from '../../../scripts/layers/import-rules.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('the layer rules', () => {
  it('hold for every source file in shared/, client/, server/, simulations/ and cli/', () => {
    const files = readLayerSources(ROOT);
    expect(files.length).toBeGreaterThan(100);
    expect(layerViolations(files)).toEqual([]);
  });

  it('refuse an import against the direction of the layers', () => {
    const bad = [
      { path: 'shared/task.ts', text: "import { startCoordinator } from '../server/app.js';" },
      { path: 'client/browser/client-page.ts', text: "import type { FeedHandlers } from '../../server/web/x.js';" },
      { path: 'server/app.ts', text: "export { loadDataSpec } from '../client/data.js';" },
      { path: 'server/app.ts', text: "const cli = await import('../cli/main.js');" },
      { path: 'simulations/lab/run.ts', text: "import { USAGE } from '../../cli/main.js';" },
    ];
    expect(bad.flatMap(fileViolations).map((v) => v.rule)).toEqual([
      'shared/ may not import server/',
      'client/ may not import server/',
      'server/ may not import client/',
      'server/ may not import cli/',
      'simulations/ may not import cli/',
    ]);
  });

  it('refuse Node builtins and *.node.ts modules in isomorphic code, and allow them in Node-only files', () => {
    const nodeImports =
      "import { readFileSync } from 'node:fs';\nimport { loadMnist } from './mnist.node.js';\nimport 'fs';";
    expect(fileViolations({ path: 'shared/data/partition.ts', text: nodeImports })).toEqual([
      { file: 'shared/data/partition.ts', specifier: 'node:fs', rule: 'isomorphic code imports a Node builtin' },
      {
        file: 'shared/data/partition.ts',
        specifier: './mnist.node.js',
        rule: 'isomorphic code imports a Node-only (*.node.ts) module',
      },
      { file: 'shared/data/partition.ts', specifier: 'fs', rule: 'isomorphic code imports a Node builtin' },
    ]);
    expect(fileViolations({ path: 'server/web/dashboard/playground.ts', text: "import 'node:path';" })).toHaveLength(1);
    expect(fileViolations({ path: 'shared/data/idx-file.node.ts', text: nodeImports })).toEqual([]);
    expect(fileViolations({ path: 'client/trainer-pool.ts', text: "import { cpus } from 'node:os';" })).toEqual([]);
  });

  it('read type-only, re-exported, dynamic and multi-line imports, and skip imports quoted in comments', () => {
    const text = [
      "import type { A } from './a.js';",
      "export * from './b.js';",
      'import {',
      '  c,',
      '  type D,',
      "} from './c.js';",
      "const e = await import('./e.js');",
      "// import { f } from '../server/f.js';",
      "/* import('../server/g.js') */",
      "const url = 'http://example.com/x'; import './h.js';",
    ].join('\n');
    expect(importSpecifiers(text)).toEqual(['./a.js', './b.js', './c.js', './e.js', './h.js']);
  });
});
