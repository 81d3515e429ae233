/**
 * `@hazeljs/flow/prisma`: the engine's store on an application's own Prisma client.
 *
 *   import { PrismaClient } from './generated/prisma/client.js';
 *   import { createPrismaStorage } from '@hazeljs/flow/prisma';
 *   const engine = new FlowEngine({ storage: createPrismaStorage(prisma) });
 *
 * The client may be any Prisma client whose database has the flow tables (apply this package's
 * prisma/migrations with `prisma migrate deploy`, or copy its models into your schema and let
 * `prisma migrate` create them). The tables are checked at `init()`: a missing one is a clear
 * `StorageError` ('SCHEMA_MISSING'), not a failure deep inside a run.
 */
import { environment } from './config.js';
import { StorageError } from './errors.js';
import { describeConnectionString } from './storage/sql/errors.js';
import { PrismaExecutor, type PrismaClientLike, type PrismaExecutorOptions } from './storage/sql/prisma-executor.js';
import type { GroupCommitOptions } from './storage/sql/statement-group.js';
import { SqlFlowStorage } from './storage/sql/sql-storage.js';

export type { PrismaClientLike, PrismaRawClient } from './storage/sql/prisma-executor.js';
export { SqlFlowStorage } from './storage/sql/sql-storage.js';

export interface PrismaStorageOptions extends Omit<PrismaExecutorOptions, 'target'> {
  /** Postgres schema of the flow tables (default 'public'): the schema your client's tables live in. */
  schema?: string;
  /** How commits of different runs are grouped into one statement (see `GroupCommitOptions`). */
  groupCommit?: GroupCommitOptions;
  /**
   * Apply this package's migrations through the client at `init()` (default false: migrations
   * belong to your Prisma workflow). They are recorded in `_prisma_migrations` of `schema`, so
   * only enable this when that schema's history is this package's, e.g. a schema of its own.
   */
  autoMigrate?: boolean;
}

/** A durable store that runs every statement through `prisma`. */
export function createPrismaStorage(prisma: PrismaClientLike, options: PrismaStorageOptions = {}): SqlFlowStorage {
  const target = options.listenConnectionString ? describeConnectionString(options.listenConnectionString) : null;
  const executor = new PrismaExecutor(prisma, { ...options, target: target ?? undefined });
  return new SqlFlowStorage(executor, {
    schema: options.schema,
    autoMigrate: options.autoMigrate ?? false,
    ownsExecutor: true, // closing the executor only disconnects when disconnectOnClose is set
    durable: true,
    onBackgroundError: options.onBackgroundError,
    groupCommit: options.groupCommit,
  });
}

export interface FlowPrismaClientOptions {
  /** Default: `process.env.DATABASE_URL`. */
  connectionString?: string;
  /** Postgres schema the client's queries use (default 'public'). */
  schema?: string;
  /** Pool size of the client's pg adapter (default 10). Each held lease uses one connection. */
  poolSize?: number;
}

/**
 * A Prisma client generated from this package's prisma/schema.prisma (models FlowRun, FlowEvent,
 * FlowDefinition, FlowIdempotency), on `@prisma/adapter-pg`. The generated client is created by
 * `npm run prisma:generate` (into src/generated/prisma; the build compiles it into dist/). Pass its
 * type to get typed models: `createFlowPrismaClient<PrismaClient>()`.
 */
export async function createFlowPrismaClient<T extends PrismaClientLike = PrismaClientLike>(options: string | FlowPrismaClientOptions = {}): Promise<T> {
  const o = typeof options === 'string' ? { connectionString: options } : options;
  const connectionString = o.connectionString ?? environment.databaseUrl;
  if (!connectionString) {
    throw new StorageError('NO_DATABASE_URL', 'createFlowPrismaClient: no connection string given and DATABASE_URL is not set');
  }
  // Specifiers in variables: the generated client exists only after `prisma generate`, so the
  // type checker must not require it, and the package works without it until this is called.
  const generatedClient = './generated/prisma/client.js';
  const adapterModule = '@prisma/adapter-pg';
  let generated: { PrismaClient: new (options: { adapter: unknown }) => T };
  try {
    generated = await import(generatedClient);
  } catch (err) {
    throw new Error('createFlowPrismaClient: the generated Prisma client is missing; run `npm run prisma:generate`', { cause: err });
  }
  const { PrismaPg } = (await import(adapterModule)) as { PrismaPg: new (config: object, options?: object) => unknown };
  const adapter = new PrismaPg({ connectionString, max: o.poolSize ?? 10 }, o.schema ? { schema: o.schema } : undefined);
  return new generated.PrismaClient({ adapter });
}
