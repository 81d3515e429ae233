/**
 * One worker process of the scale-out measurement in bench/worker.ts. It connects, registers the
 * 3-node flow, prints READY, and starts its worker when it reads GO on stdin, so that every
 * process of a measurement starts claiming at the same moment. SIGTERM stops it gracefully.
 * Env: BENCH_DB_URL, BENCH_SCHEMA.
 */
import { engineOn, quietLogger, threeNodeFlow, WORKER_CONCURRENCY } from './worker-scenarios.js';

const engine = engineOn(process.env.BENCH_DB_URL!, process.env.BENCH_SCHEMA!);
await engine.registerDefinition(threeNodeFlow);
process.stdout.write('READY\n');
process.stdin.setEncoding('utf8').once('data', () => {
  engine.startWorker({ concurrency: WORKER_CONCURRENCY, logger: quietLogger });
});
process.once('SIGTERM', () => void engine.close().then(() => process.exit(0)));
