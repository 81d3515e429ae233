#!/usr/bin/env node
// The `hazel-flow` command. It runs the compiled CLI (dist/) when the package has been built,
// as an installed package is; otherwise — a fresh clone, no build step — it runs the TypeScript
// source through tsx, with the `hazel-source` export condition so that flow modules importing
// '@hazeljs/flow' get the sources too. HAZEL_FLOW_FROM_SOURCE=1 forces the source (tests use it
// so that a stale dist/ is never what they test).
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const compiled = new URL('../dist/runtime/cli/main.js', import.meta.url);

if (existsSync(compiled) && process.env.HAZEL_FLOW_FROM_SOURCE !== '1') {
  await import(compiled.href);
} else {
  let tsx;
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    console.error('hazel-flow: no compiled build in dist/ and tsx is not installed; run `npm run build` or `npm install`.');
    process.exit(1);
  }
  tsx.register();
  // Registered after tsx, so it runs first and hands tsx the extra condition.
  register('./source-condition-hook.js', import.meta.url);
  await import(new URL('../src/runtime/cli/main.ts', import.meta.url).href);
}
