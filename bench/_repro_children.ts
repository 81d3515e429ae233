import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { flow, type NodeResult } from '../src/index.js';
import { engineOn, quietLogger, threeNodeFlow } from './worker-scenarios.js';
const URL_ = 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.N ?? 100), FAN = Number(process.env.FAN ?? 20), POLL = Number(process.env.POLL ?? 60000);
const schema = `repro_children_${Date.now()}`;
const parent = flow('bench-parent', '1').entry('fan')
  .node('fan', (ctx): NodeResult => ({ status: 'child', flowId: 'bench-3', version: '1', input: ctx.item }), { forEach: () => Array.from({ length: N }, (_, i) => ({ i })), concurrency: FAN })
  .node('done', (ctx) => ({ status: 'ok', output: (ctx.outputs.fan as unknown[]).length })).edge('fan', 'done').build();
const client = engineOn(URL_, schema, 4), w = engineOn(URL_, schema);
for (const d of [threeNodeFlow, parent]) { await client.registerDefinition(d); await w.registerDefinition(d); }
{
  const db0 = new pg.Client(URL_); await db0.connect();
  await db0.query(`CREATE TABLE "${schema}".inbox_log (at timestamptz default clock_timestamp(), op text, id bigint, run_id text, kind text, wait_id int, payload jsonb, txid bigint default txid_current());
  CREATE FUNCTION "${schema}".log_inbox() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
    IF TG_OP = 'DELETE' THEN INSERT INTO "${schema}".inbox_log(op,id,run_id,kind,wait_id,payload) VALUES ('DEL', OLD.id, OLD.run_id, OLD.kind, OLD.wait_id, OLD.payload_json); RETURN OLD;
    ELSE INSERT INTO "${schema}".inbox_log(op,id,run_id,kind,wait_id,payload) VALUES ('INS', NEW.id, NEW.run_id, NEW.kind, NEW.wait_id, NEW.payload_json); RETURN NEW; END IF; END $f$;
  CREATE TRIGGER log_inbox AFTER INSERT OR DELETE ON "${schema}".flow_inbox FOR EACH ROW EXECUTE FUNCTION "${schema}".log_inbox();`);
  await db0.end();
}
let completed = 0; w.on('run:completed', () => completed++);
const worker = w.startWorker({ concurrency: 8, pollIntervalMs: POLL, logger: quietLogger });
await worker.started;
const t0 = performance.now();
const { runId } = await client.startRun({ flowId: 'bench-parent', version: '1', input: {} });
const done = new Promise<void>((r) => w.on('run:completed', ({ run }) => run.runId === runId && r()));
const res = await Promise.race([done.then(() => 'done'), new Promise((r) => setTimeout(() => r('timeout'), Number(process.env.WAIT ?? 15000)))]);
console.log(res, ((performance.now() - t0) / 1000).toFixed(2), 's; completions seen', completed, 'worker', JSON.stringify(worker.status().counters), 'inFlight', worker.status().inFlight);
const db = new pg.Client(URL_); await db.connect();
const q = async (s: string) => (await db.query(s)).rows;
console.log(await q(`SELECT status, parent_run_id IS NULL AS top, count(*) FROM "${schema}".flow_runs GROUP BY 1,2 ORDER BY 1`));
console.log(await q(`SELECT op, count(*) FROM "${schema}".inbox_log GROUP BY 1`));
//console.log(await q(`SELECT table_name FROM information_schema.tables WHERE table_schema='${schema}'`));
const p = (await client.getRun(runId));
console.log('parent', p?.status, JSON.stringify(p?.branches), 'hasInbox', p?.hasInbox);
await db.end(); await client.close(); await w.close();
console.log('schema', schema);
