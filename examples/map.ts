/**
 * A map: `resize` runs once per image (`forEach`), at most 3 at a time (`concurrency`), each item
 * with its own retries and idempotency key; its output is the item outputs in item order.
 * Run: npx tsx --conditions=hazel-source examples/map.ts
 */
import { FlowEngine, flow } from '@hazeljs/flow';

interface Album {
  images: string[];
}

export function buildMapFlow(flaky: Set<string> = new Set()) {
  const failedOnce = new Set<string>();
  return flow('album-thumbnails', '1.0.0')
    .entry('resize')
    .node(
      'resize',
      async (ctx) => {
        const image = ctx.item as string;
        // A transient failure the retry policy absorbs (once per listed image).
        if (flaky.has(image) && !failedOnce.has(image)) {
          failedOnce.add(image);
          return { status: 'error', error: { code: 'BUSY', message: `resizer busy for ${image}`, retryable: true } };
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
        return { status: 'ok', output: { image, thumbnail: `thumbs/${ctx.itemIndex}-${image}` } };
      },
      {
        forEach: (ctx) => (ctx.input as Album).images,
        concurrency: 3,
        retry: { maxAttempts: 3, backoff: 'fixed', baseDelayMs: 10 },
        // Per item: a retried or recovered run never resizes the same image twice.
        idempotencyKey: (ctx) => `${ctx.runId}:resize:${ctx.itemIndex}`,
      },
    )
    .node('publish', (ctx) => {
      const thumbs = ctx.outputs.resize as Array<{ thumbnail: string }>;
      return { status: 'ok', output: { published: thumbs.length, first: thumbs[0]?.thumbnail ?? null } };
    })
    .edge('resize', 'publish')
    .build();
}

/** The flow as `npm start` serves it (no image fails on purpose). */
export const mapFlow = buildMapFlow();

export async function runMapExample(engine: FlowEngine, images: string[], flaky: string[] = []) {
  await engine.registerDefinition(buildMapFlow(new Set(flaky)));
  const { runId } = await engine.startRun({ flowId: 'album-thumbnails', version: '1.0.0', input: { images } });
  return engine.runToCompletion(runId);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const engine = new FlowEngine();
  const run = await runMapExample(engine, ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg'], ['c.jpg']);
  console.log(run.status, run.outputsJson);
  await engine.close();
}
