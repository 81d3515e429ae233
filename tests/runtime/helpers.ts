/**
 * Runtime test support: a runtime on a free port of 127.0.0.1 (memory store, no worker unless
 * asked, silent worker log), an HTTP helper that returns status + parsed JSON, and polling.
 */
import { runFlowRuntime, type FlowRuntime, type FlowRuntimeOptions } from '../../src/runtime/index.js';
import { demoFlows } from '../../src/runtime/demo-flows.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import type { FlowRunRecord } from '../../src/storage/types.js';

export const silentLogger = { debug() {}, info() {}, warn() {}, error() {} };

export async function startRuntime(options: Partial<FlowRuntimeOptions> = {}): Promise<FlowRuntime> {
  return runFlowRuntime({
    flows: demoFlows,
    port: 0,
    host: '127.0.0.1',
    storage: options.storage ?? createMemoryStorage(),
    // '' = explicitly no token, whatever FLOW_API_TOKEN the environment has.
    apiToken: '',
    ...options,
    worker:
      options.worker === undefined || options.worker === false
        ? false
        : { logger: silentLogger, pollIntervalMs: 100, ...(options.worker === true ? {} : options.worker) },
  });
}

export interface HttpResult {
  status: number;
  body: any;
  headers: Headers;
  text: string;
}

export async function http(
  base: string,
  method: string,
  path: string,
  init: { json?: unknown; raw?: string; contentType?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers['content-type'] = 'application/json';
  } else if (init.raw !== undefined) {
    body = init.raw;
    headers['content-type'] = init.contentType ?? 'application/json';
  }
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, headers: res.headers, text };
}

export async function waitFor<T>(probe: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function waitForStatus(runtime: FlowRuntime, runId: string, status: FlowRunRecord['status'], timeoutMs?: number): Promise<FlowRunRecord> {
  return waitFor(
    async () => {
      const run = await runtime.engine.getRun(runId);
      return run?.status === status ? run : null;
    },
    `run ${runId} to be ${status}`,
    timeoutMs,
  );
}

export const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
