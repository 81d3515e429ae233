/**
 * Schema-qualified names, the lock-key expression and the wake channel of one store.
 * Every statement names its tables with the schema, so a store never depends on the
 * connection's search_path (pooled connections, a user's Prisma client) and several stores
 * with different schemas can share one database (each test file uses its own).
 */
import { createHash } from 'node:crypto';
import { StorageError } from '../../errors.js';

export const DEFAULT_SCHEMA = 'public';

/** `"name"` with embedded quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `'text'` with embedded quotes doubled (standard_conforming_strings is on since Postgres 9.1). */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

export function checkSchemaName(schema: string): string {
  // Postgres truncates identifiers at 63 bytes; refuse instead of silently using another schema.
  if (typeof schema !== 'string' || schema.length === 0 || Buffer.byteLength(schema) > 63 || schema.includes('\0')) {
    throw new StorageError('INVALID_SCHEMA', `Invalid Postgres schema name ${JSON.stringify(schema)} (1 to 63 bytes expected)`);
  }
  return schema;
}

export interface SqlNames {
  schema: string;
  /** `"schema"` */
  schemaIdent: string;
  runs: string;
  events: string;
  definitions: string;
  idempotency: string;
  /** Node outputs, map item lists and item outputs, one row each (see the branches migration). */
  nodeValues: string;
  /** Answers to a run's waits (resumes, events, child ends), applied by its holder (see the inbox_events migration). */
  inbox: string;
  /** Events sent with `sendEvent`, kept until pruned. */
  sentEvents: string;
  /** The event waits of parked branches. */
  eventWaits: string;
  /** The events each run received. */
  eventReceipts: string;
  /** Schedules (see the schedules migration). */
  schedules: string;
  /** The workers' registry (see the operations migration). */
  workers: string;
  migrations: string;
  /** The run status enum type, qualified. */
  statusType: string;
  /** The volatile read-after-lock function (see the init migration), qualified. */
  freshRunFn: string;
  /** Its companion for the run's outputs (see the branches migration), qualified. */
  freshOutputsFn: string;
  /** Its companion for whether the run's inbox holds entries (see the inbox_events migration), qualified. */
  freshInboxFn: string;
  /** Cancels runs and all their unfinished descendants (see the cancel_cascade migration), qualified. */
  cancelRunsFn: string;
  /** Active-scope concurrency slots and rate-limit states (see the flow_control migration). */
  concurrencySlots: string;
  rateLimits: string;
  /** Admits a locked run under its flow control limits (see the flow_control migration), qualified. */
  admitRunFn: string;
  /**
   * SQL literal of the namespace of executing-scope slot locks: `hashtext(ns || flow_id || ':' ||
   * limit index || ':' || key)` is the first int of a slot's two-int advisory lock, the slot number
   * the second (pg_locks.objsubid 2).
   */
  slotNamespace: string;
  /**
   * SQL expression of a run's 64-bit advisory-lock key given a text expression of its id.
   * Namespaced by package and schema so that it collides neither with other users of
   * advisory locks nor with a run of the same id in another schema.
   */
  lockKey(runIdSql: string): string;
  /**
   * SQL of the namespace (first int) of the two-int advisory locks that serialize `sendEvent` with
   * the registration of waits for the same event name; the second int is `hashtext(name)`.
   * Two-int keys live apart from the 64-bit keys of run locks (pg_locks.objsubid 2, not 1), and
   * the namespace is this schema's. Two names of one hash share a lock: that only serializes more.
   */
  eventLockNamespace: string;
  /** The advisory-lock namespace of (event name, key) pairs (see `EventLock` in inbox-rows.ts). */
  eventKeyLockNamespace: string;
  /** NOTIFY channel of this schema's wake-ups (payload: the run id). */
  wakeChannel: string;
}

export function sqlNames(schema: string = DEFAULT_SCHEMA): SqlNames {
  checkSchemaName(schema);
  const s = quoteIdent(schema);
  const keyPrefix = quoteLiteral(`hazel-flow:${schema}:`);
  return {
    schema,
    schemaIdent: s,
    runs: `${s}.flow_runs`,
    events: `${s}.flow_events`,
    definitions: `${s}.flow_definitions`,
    idempotency: `${s}.flow_idempotency`,
    nodeValues: `${s}.flow_node_values`,
    inbox: `${s}.flow_inbox`,
    sentEvents: `${s}.flow_sent_events`,
    eventWaits: `${s}.flow_event_waits`,
    eventReceipts: `${s}.flow_event_receipts`,
    schedules: `${s}.flow_schedules`,
    workers: `${s}.flow_workers`,
    migrations: `${s}._prisma_migrations`,
    statusType: `${s}.flow_run_status`,
    freshRunFn: `${s}.flow_run_fresh`,
    freshOutputsFn: `${s}.flow_run_outputs`,
    freshInboxFn: `${s}.flow_run_has_inbox`,
    cancelRunsFn: `${s}.flow_cancel_runs`,
    concurrencySlots: `${s}.flow_concurrency_slots`,
    rateLimits: `${s}.flow_rate_limits`,
    admitRunFn: `${s}.flow_admit_run`,
    slotNamespace: quoteLiteral(`hazel-flow-slot:${schema}:`),
    lockKey: (runIdSql) => `hashtextextended(${keyPrefix} || ${runIdSql}, 0)`,
    eventLockNamespace: `hashtext(${quoteLiteral(`hazel-flow-event:${schema}`)})`,
    eventKeyLockNamespace: `hashtext(${quoteLiteral(`hazel-flow-event-key:${schema}`)})`,
    wakeChannel: wakeChannelFor(schema),
  };
}

/** Channel names are identifiers (at most 63 bytes): long schema names are replaced by a hash. */
function wakeChannelFor(schema: string): string {
  if (schema === DEFAULT_SCHEMA) return 'hazel_flow_wake';
  const channel = `hazel_flow_wake:${schema}`;
  if (Buffer.byteLength(channel) <= 63) return channel;
  return `hazel_flow_wake:${createHash('sha256').update(schema).digest('hex').slice(0, 40)}`;
}
