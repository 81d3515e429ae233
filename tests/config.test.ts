/**
 * src/config.ts: the one module that reads the environment. Each variable is read when asked
 * for, an empty value counts as unset where the README says so; and storage/choose.ts, the one rule
 * for the store of the library and of the runtime when none is given.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { DEFAULT_API_URL, DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, environment, flowPeerRequested } from '../src/config.js';
import { FlowError } from '../src/errors.js';
import { FlowEngine, type FlowEngineOptions } from '../src/flow-engine.js';
import { chooseStorage, describeStorage, type StorageChoiceOptions } from '../src/storage/choose.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import type { FlowStorage } from '../src/storage/types.js';

const VARS = ['DATABASE_URL', 'FLOW_DATA_DIR', 'PORT', 'HOST', 'FLOW_API_TOKEN', 'FLOW_ALLOW_INSECURE_BIND', 'FLOW_URL'] as const;
const saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]));

afterEach(() => {
  for (const k of VARS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('environment', () => {
  it('gives the defaults when nothing is set, and reads each variable when asked', () => {
    for (const k of VARS) delete process.env[k];
    expect(environment.databaseUrl).toBeUndefined();
    expect(environment.dataDir).toBeUndefined();
    expect(environment.port).toBe(DEFAULT_PORT);
    expect(environment.host).toBe(DEFAULT_HOST);
    expect(environment.apiToken).toBeUndefined();
    expect(environment.allowInsecureBind).toBe(false);
    expect(environment.apiUrl).toBe(DEFAULT_API_URL);
    Object.assign(process.env, { DATABASE_URL: 'postgres://u@h/db', FLOW_DATA_DIR: 'data', PORT: '8080', FLOW_ALLOW_INSECURE_BIND: '1' });
    expect(environment).toMatchObject({ databaseUrl: 'postgres://u@h/db', dataDir: 'data', port: 8080, allowInsecureBind: true });
  });

  it('treats an empty DATABASE_URL, FLOW_DATA_DIR, PORT or FLOW_API_TOKEN as unset, and refuses a bad PORT', () => {
    Object.assign(process.env, { DATABASE_URL: '', FLOW_DATA_DIR: '', PORT: '', FLOW_API_TOKEN: '' });
    expect(environment).toMatchObject({ databaseUrl: undefined, dataDir: undefined, port: DEFAULT_PORT, apiToken: undefined });
    process.env.PORT = '70000';
    expect(() => environment.port).toThrow(FlowError);
  });

  it('createFlowEngineFromEnv asks for exactly "1"', () => {
    expect(flowPeerRequested({ AGENT_OS_FLOW_PEER: '1' })).toBe(true);
    expect(flowPeerRequested({ AGENT_OS_FLOW_PEER: 'true' })).toBe(false);
    expect(flowPeerRequested({ MY_PEER: '1' }, 'MY_PEER')).toBe(true);
  });
});

describe('the default store: one rule for the library and the runtime', () => {
  // Where each store points; none of them is opened (every store connects at its first call).
  const postgres = (host: string) => `postgres (postgres://u@${host}:5432/db)`;
  const pglite = (dir: string) => `pglite (pglite://${resolve(dir)})`;
  const cases: Array<{ env: Record<string, string>; options?: FlowEngineOptions & StorageChoiceOptions; library: string; runtime: string }> = [
    { env: {}, library: 'memory', runtime: pglite(DEFAULT_DATA_DIR) },
    { env: { DATABASE_URL: '', FLOW_DATA_DIR: '' }, library: 'memory', runtime: pglite(DEFAULT_DATA_DIR) },
    { env: { DATABASE_URL: 'postgres://u@env/db' }, library: postgres('env'), runtime: postgres('env') },
    { env: { DATABASE_URL: 'postgres://u@env/db', FLOW_DATA_DIR: 'env-dir' }, library: postgres('env'), runtime: postgres('env') },
    { env: { FLOW_DATA_DIR: 'env-dir' }, library: pglite('env-dir'), runtime: pglite('env-dir') },
    { env: { DATABASE_URL: 'postgres://u@env/db' }, options: { databaseUrl: 'postgres://u@opt/db' }, library: postgres('opt'), runtime: postgres('opt') },
    { env: { FLOW_DATA_DIR: 'env-dir' }, options: { dataDir: 'opt-dir' }, library: pglite('opt-dir'), runtime: pglite('opt-dir') },
    { env: { DATABASE_URL: 'postgres://u@env/db' }, options: { storage: createMemoryStorage() }, library: 'memory', runtime: 'memory' },
  ];

  it.each(cases)('$env $options: library $library, runtime $runtime', async ({ env, options, library, runtime }) => {
    for (const k of VARS) delete process.env[k];
    Object.assign(process.env, env);
    const engine = new FlowEngine({ ...options });
    // The runtime's entry points (runFlowRuntime, `hazel-flow serve|worker|migrate`) ask the same function with their default folder.
    const service = chooseStorage({ ...options, defaultDataDir: DEFAULT_DATA_DIR });
    try {
      expect(describeStorage(engine.storage)).toBe(library);
      expect(describeStorage(service)).toBe(runtime);
      const durable = (s: FlowStorage, kind: string) => expect(s.durable).toBe(kind !== 'memory');
      durable(engine.storage, engine.storage.kind);
      durable(service, service.kind);
    } finally {
      await engine.close();
      await service.close();
    }
  });
});
