import { defineConfig } from 'vitest/config';

// Tests import the built package ('pcpress' resolves to dist/ through package.json exports): run `npm run build` first.
export default defineConfig({
  test: {
    include: ['test/node/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
