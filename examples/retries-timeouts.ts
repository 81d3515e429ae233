/**
 * Retries with exponential backoff, a timeout that aborts ctx.signal, and an idempotency key
 * that keeps a side effect (a charge) from happening twice.
 * Run: npx tsx --conditions=hazel-source examples/retries-timeouts.ts
 */
import { FlowEngine, flow } from '@hazeljs/flow';

/** A stand-in for a payment provider: fails twice, then charges. Counts real charges. */
export function createFlakyPaymentApi() {
  let calls = 0;
  const charges = new Map<string, string>();
  return {
    charges,
    get calls() {
      return calls;
    },
    async charge(orderId: string, signal: AbortSignal): Promise<string> {
      calls++;
      if (calls <= 2) throw new Error(`provider unavailable (call ${calls})`);
      signal.throwIfAborted();
      const id = charges.get(orderId) ?? `ch_${orderId}`;
      charges.set(orderId, id);
      return id;
    },
  };
}

export function buildRetriesFlow(api: ReturnType<typeof createFlakyPaymentApi>) {
  return flow('charge-with-retries', '1.0.0')
    .entry('charge')
    .node(
      'charge',
      async (ctx) => {
        const { orderId } = ctx.input as { orderId: string };
        const chargeId = await api.charge(orderId, ctx.signal);
        return { status: 'ok', output: { chargeId } };
      },
      {
        retry: { maxAttempts: 5, backoff: 'exponential', baseDelayMs: 20, maxDelayMs: 200, jitter: true },
        timeoutMs: 2_000,
        // Once committed, any later run for the same order reuses this result instead of charging again.
        idempotencyKey: (ctx) => `charge:${(ctx.input as { orderId: string }).orderId}`,
      },
    )
    .node(
      'receipt',
      async (ctx) => {
        // Cooperates with the timeout: stops when ctx.signal aborts.
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, 5);
          ctx.signal.addEventListener('abort', () => (clearTimeout(t), reject(ctx.signal.reason)));
        });
        return { status: 'ok', output: { sent: true } };
      },
      { timeoutMs: 1_000 },
    )
    .edge('charge', 'receipt')
    .build();
}

/** A ready definition for the runtime (`npm start`): its provider fails the first two calls of the process. */
export const retriesFlow = buildRetriesFlow(createFlakyPaymentApi());

export async function runRetriesExample(engine: FlowEngine) {
  const api = createFlakyPaymentApi();
  const def = buildRetriesFlow(api);
  await engine.registerDefinition(def);
  const first = await engine.startRun({ flowId: def.flowId, version: def.version, input: { orderId: 'o-42' } });
  const run = await engine.runToCompletion(first.runId);
  const second = await engine.startRun({ flowId: def.flowId, version: def.version, input: { orderId: 'o-42' } });
  const rerun = await engine.runToCompletion(second.runId);
  return { run, rerun, api, timeline: await engine.getTimeline(first.runId) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  const { run, rerun, api, timeline } = await runRetriesExample(engine);
  console.log(run.status, run.outputsJson, `provider calls: ${api.calls}`);
  console.log('second run reused the charge:', rerun.outputsJson);
  for (const e of timeline) console.log(e.seq, e.type, e.nodeId ?? '', e.attempt ?? '', e.error?.message ?? '');
  await engine.close();
}
