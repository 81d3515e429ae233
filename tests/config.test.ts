/**
 * src/config.ts: the one module that reads the environment. Each variable is read when asked
 * for, an empty value counts as unset where the README says so, and the library and the runtime
 * pick their different default stores from it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_API_URL, DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, environment, flowPeerRequested } from '../src/config.js';
import { FlowError } from '../src/errors.js';
import { FlowEngine } from '../src/flow-engine.js';
import { chooseStorage } from '../src/runtime/storage-choice.js';

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
    expect(environment.dataDir).toBe(DEFAULT_DATA_DIR);
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
    expect(environment).toMatchObject({ databaseUrl: undefined, dataDir: DEFAULT_DATA_DIR, port: DEFAULT_PORT, apiToken: undefined });
    process.env.PORT = '70000';
    expect(() => environment.port).toThrow(FlowError);
  });

  it('createFlowEngineFromEnv asks for exactly "1"', () => {
    expect(flowPeerRequested({ AGENT_OS_FLOW_PEER: '1' })).toBe(true);
    expect(flowPeerRequested({ AGENT_OS_FLOW_PEER: 'true' })).toBe(false);
    expect(flowPeerRequested({ MY_PEER: '1' }, 'MY_PEER')).toBe(true);
  });
});

describe('the default store', () => {
  it('library: memory without DATABASE_URL (not durable); runtime: PGlite', async () => {
    delete process.env.DATABASE_URL;
    const engine = new FlowEngine();
    expect(engine.storage.kind).toBe('memory');
    expect(engine.storage.durable).toBe(false);
    await engine.close();
    const storage = chooseStorage({ dataDir: 'unused-never-opened' });
    expect(storage.kind).toBe('pglite');
    await storage.close();
  });
});
