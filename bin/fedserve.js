#!/usr/bin/env node
// An installed package runs the CLI compiled at pack time. A checkout (its TypeScript sources are
// next to this file; the package ships none) runs them through tsx, a dev dependency, so
// development needs no build step and never runs a stale build.
import { existsSync } from 'node:fs';

const source = new URL('../cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const tsx = await import('tsx/esm/api').catch(() => {
    console.error(
      'fedserve: this checkout runs from its TypeScript sources, which needs the dev dependencies: run npm install',
    );
    process.exit(1);
  });
  tsx.register();
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
