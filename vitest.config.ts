import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests import '@hazeljs/flow' exactly as users do; here it maps to the sources.
    alias: [
      { find: /^@hazeljs\/flow$/, replacement: src('index.ts') },
      { find: /^@hazeljs\/flow\/prisma$/, replacement: src('prisma.ts') },
      { find: /^@hazeljs\/flow\/runtime$/, replacement: src('runtime/index.ts') },
    ],
  },
  test: {
    include: ['tests/**/*.test.ts'],
    // Type tests (*.test-d.ts, expectTypeOf and @ts-expect-error): vitest runs tsc on them, so a
    // type that stops holding fails `npm test` too, not only `npm run typecheck`.
    typecheck: { enabled: true, include: ['tests/**/*.test-d.ts'], tsconfig: './tsconfig.typetests.json' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
