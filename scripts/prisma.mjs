#!/usr/bin/env node
/**
 * Runs the Prisma CLI of this package (`node scripts/prisma.mjs <args>`), used by the
 * prisma:* npm scripts.
 *
 * `prisma generate` needs no database and no schema engine, but the CLI still wants to locate
 * one and tries to download it; where that is impossible (offline CI, sandboxes) generation
 * would fail for nothing. So for `generate` only, when PRISMA_SCHEMA_ENGINE_BINARY is unset, it
 * is pointed at an existing file (this Node binary), which the CLI accepts and never runs.
 * migrate/studio do need the real engine and are left alone.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const args = process.argv.slice(2);
const require = createRequire(import.meta.url);
const cli = join(dirname(require.resolve('prisma/package.json')), 'build', 'index.js');

const env = { ...process.env };
if (args[0] === 'generate' && !env.PRISMA_SCHEMA_ENGINE_BINARY) env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;

const result = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit', env });
if (result.error) {
  console.error(`prisma ${args.join(' ')}: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
