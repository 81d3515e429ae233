/**
 * @hazeljs/flow — public API. Everything a user imports comes from here (plus the
 * `@hazeljs/flow/prisma` and `@hazeljs/flow/runtime` subpaths).
 */
// definitions
export { Flow, Entry, Node, Edge, Compensate, buildFlowDefinition } from './definitions/decorators.js';
export type { ClassFlowDefinition, FlowClassDecorator, FlowMethodDecorator, HandlerContextsOf, NodeDecoratorOptions } from './definitions/decorators.js';
export { flow, FlowBuilder } from './definitions/builder.js';
export type { NodeOutput } from './definitions/builder.js';
export { childRun, defineEvent, flowRef } from './definitions/typed.js';
export type { ChildRunResult, EventDefinition } from './definitions/typed.js';
export { validateDefinition } from './definitions/validate.js';
export { describeGraph, fingerprintDefinition } from './definitions/graph.js';
export type { GraphDescription, GraphEdge, GraphNode } from './definitions/graph.js';
export { DEFAULT_FOREACH_CONCURRENCY, TRANSACTION_ISOLATIONS } from './definitions/types.js';
export type {
  AnyFlowContext,
  CaughtError,
  DefaultServices,
  EdgeDefinition,
  FailureHandler,
  FailureHandlerInput,
  FlowContext,
  FlowContextFields,
  FlowRef,
  FlowTypes,
  InputOf,
  ResumeSlot,
  ServicesField,
  StateOf,
  StatePatch,
  FlowDefinition,
  FlowOptions,
  FlowRetention,
  ConcurrencyLimit,
  RateLimit,
  DebounceOption,
  FlowControlRecord,
  FlowRunStatus,
  NodeCatch,
  NodeDefinition,
  NodeHandler,
  NodeId,
  NodeOptions,
  NodeResult,
  RetryPolicy,
  FlowTransaction,
  SqlTransaction,
  TransactionIsolation,
} from './definitions/types.js';

// engine
export { FlowEngine, createFlowEngineFromEnv } from './flow-engine.js';
export type {
  CancelRunOptions,
  FlowEngineOptions,
  FlowRun,
  FlowEvent,
  FlowSummary,
  FlowControlSummary,
  PruneRunsOptions,
  RetentionOptions,
  SendEventArgs,
  StartRunArgs,
  StartRunResult,
} from './flow-engine.js';
export type { FlowHookMap, FlowHookName, FlowHookPayload } from './engine/events.js';
export type { ForkRunOptions, MigrateRunsOptions, MigrateRunsResult, RetryRunOptions, RetryRunsFilter } from './engine/versions.js';
export { ManualClock, systemClock } from './core/clock.js';
// schedules
export { FlowSchedules } from './schedules/api.js';
export type { FlowSchedule, SchedulePreviewOptions } from './schedules/types.js';
export type { FlowScheduleOption, ScheduleCatchup, ScheduleOptions, ScheduleOverlap } from './definitions/schedule-spec.js';
export type { ScheduleSkip, ScheduleSkipReason } from './storage/types.js';
export type { Clock } from './core/clock.js';
export { DEFAULT_MAX_JSON_BYTES } from './core/json.js';
export { RESERVED_STATE_KEYS } from './engine/reserved-keys.js';

// worker
export { FlowWorker } from './worker/worker.js';
export type { WorkerCounters, WorkerLogger, WorkerOptions, WorkerState, WorkerStatus } from './worker/types.js';
export { createFlowLogger, type FlowLogger, type FlowLoggerOptions } from './worker/logger.js';
export type { DueRunCount, RunCount, WorkerRecord } from './storage/types.js';
export type { WorkerHost } from './worker/host.js';

// errors
export {
  FlowError,
  LockBusyError,
  AmbiguousEdgeError,
  FlowNotFoundError,
  RunNotFoundError,
  InvalidRunStateError,
  FlowDefinitionError,
  DefinitionConflictError,
  SerializationError,
  InvalidArgumentError,
  StaleRunError,
  WaitAnsweredError,
  AmbiguousResumeError,
  StorageError,
  ScheduleNotFoundError,
  FlowControlKeyError,
  TransactionalNodeError,
  TransactionClosedError,
} from './errors.js';
export type { ErrorRecord, FlowErrorOptions } from './errors.js';

// storage
export { createMemoryStorage, MemoryStorage } from './storage/memory.js';
export type { MemoryStorageOptions } from './storage/memory.js';
export { createPostgresStorage } from './storage/postgres.js';
export { SqlFlowStorage } from './storage/sql/sql-storage.js';
export type { PostgresStorageOptions } from './storage/postgres.js';
export { createPGliteStorage } from './storage/pglite.js';
export type { PGliteStorageOptions } from './storage/pglite.js';
export type { GroupCommitOptions } from './storage/sql/statement-group.js';
export { migrateDatabase } from './storage/migrate-database.js';
export type { MigrateDatabaseOptions } from './storage/migrate-database.js';
/** 0.5.x's names for the run row and a run's creation, kept for code written against it. */
export type { FlowRunRecord as FlowRunRow, NewRun as CreateRunInput, IdempotencyRecord } from './storage/types.js';
export type {
  EventWait,
  InboxEntry,
  SentEvent,
  BranchRecord,
  BranchStatus,
  CompensationLog,
  MapItemRecord,
  MapProgress,
  MapValues,
  NodeValueWrite,
  DefinitionRecord,
  FlowEventRecord,
  FlowEventType,
  FlowRunRecord,
  FlowRunSummary,
  FlowStorage,
  LockRunOptions,
  PruneRunsQuery,
  RunFilter,
  RunLease,
  RunPage,
  TimelinePage,
  TimelinePageOptions,
  EventRange,
} from './storage/types.js';
export { DEFAULT_TIMELINE_PAGE_SIZE, MAX_TIMELINE_PAGE_SIZE } from './storage/timeline-page.js';
