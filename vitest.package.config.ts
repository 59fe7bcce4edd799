import { defineConfig } from 'vitest/config';

// `npm run test:package`: the packed package installed into an empty project (test/package).
export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
