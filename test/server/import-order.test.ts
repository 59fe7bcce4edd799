import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A module imported first in a fresh process: an import cycle that reaches a value before it is
 * initialised (config.ts <-> serving/routes.ts once did) fails here, whatever order the other
 * tests happen to import things in.
 */
describe('server modules imported first, alone', () => {
  it.each([
    'server/config.ts',
    'server/serving/routes.ts',
    'server/serving/model-registry.ts',
    'server/serving/serving-overrides.ts',
    'server/app.ts',
  ])(
    '%s loads',
    (module) => {
      const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', `await import('./${module}')`], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.stderr).not.toMatch(/Error/);
      expect(run.status).toBe(0);
    },
    70_000,
  );
});
