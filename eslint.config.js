// @ts-check
/**
 * eslint for the whole project (`npm run lint`, run by .ci/run). Two project rules beyond the
 * recommended sets keep the imports pointing one way:
 * - `import-x/no-cycle`: no module reaches itself again through its imports (it does not count
 *   type-only imports, which are erased at run time: the layer zones below catch those too).
 * - `import-x/no-restricted-paths`: the layers of src/ (LAYERS below); a lower one never
 *   imports a higher one.
 * Formatting is prettier's (`npm run format`); no eslint rule here is about layout.
 */
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first (docs/architecture.md, "Layers"). A file may import its own
 * layer and the layers before it, never one after it — not even for a type.
 */
const LAYERS = [
  ['errors.ts'],
  ['config.ts'],
  ['core'],
  ['definitions'],
  ['storage', 'prisma.ts'],
  ['engine'],
  ['schedules'],
  ['worker'],
  ['flow-engine.ts'],
  ['runtime', 'index.ts'],
];

const layerZones = LAYERS.slice(0, -1).flatMap((layer, i) => {
  const allowed = LAYERS.slice(0, i + 1).flat();
  return layer.map((part) => ({
    target: `src/${part}`,
    from: 'src',
    except: [...allowed.map((p) => `./${p}`), './generated'],
    message: `src/${part} may import only ${allowed.join(', ')}: pass what it needs in instead (docs/architecture.md, "Layers").`,
  }));
});

export default defineConfig(
  {
    ignores: ['dist/', 'coverage/', 'test-output/', '.flow-data/', 'src/generated/', 'prisma/migrations/'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    plugins: { 'import-x': importX },
    settings: {
      // TypeScript files are parsed to follow their imports (no-cycle reads them), and a `.js`
      // specifier resolves to the `.ts` source, as NodeNext has it.
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.check.json' })],
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: layerZones }],
      'import-x/no-self-import': 'error',
      'import-x/no-useless-path-segments': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-explicit-any': ['error', { ignoreRestArgs: true }],
      // U+0000 is matched on purpose: Postgres cannot store it, so every store refuses it (core/json.ts).
      'no-control-regex': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-var': 'error',
      'prefer-const': 'error',
    },
  },
  {
    // The dashboard runs in the browser, as plain ES modules served as they are.
    files: ['src/runtime/dashboard/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // Boundaries with code this package does not type: a decorator must accept any class or method
    // (as TypeScript's own lib types decorators), and a Prisma client is matched by its shape.
    files: ['src/definitions/decorators.ts', 'src/storage/sql/prisma-executor.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-function-type': 'off',
    },
  },
  {
    // Tests stub freely, and their handlers keep the parameters of the signature they show.
    files: ['tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
);
