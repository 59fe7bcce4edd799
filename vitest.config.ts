import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Packs and installs the package from the registry, minutes of work: `npm run test:package`, run by .ci/run.
    exclude: [...configDefaults.exclude, 'test/package/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
