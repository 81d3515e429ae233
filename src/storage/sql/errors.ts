/**
 * Turns driver failures into typed `StorageError`s with a stable code, `retryable` decided from
 * the Postgres SQLSTATE (found by walking `cause`/`meta` chains, since Prisma and pools wrap the
 * original), the original kept in `cause`, and messages that name the server and database but
 * never a password.
 */
import { FlowError, StorageError } from '../../errors.js';

/** `postgres://user@host:port/db` from a connection string, without the password; `null` when unparsable. */
export function describeConnectionString(connectionString: string): string | null {
  try {
    const url = new URL(connectionString);
    if (!/^postgres(ql)?:$/.test(url.protocol)) return null;
    const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
    const host = url.hostname || url.searchParams.get('host') || 'localhost';
    const port = url.port || '5432';
    const db = decodeURIComponent(url.pathname.replace(/^\//, '')) || '(default database)';
    return `postgres://${user}${host}:${port}/${db}`;
  } catch {
    return null;
  }
}

/** Replaces whatever looks like a password in a connection string (for messages about unparsable ones). */
export function redactConnectionString(text: string): string {
  return text.replace(/(\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@').replace(/(password=)[^&\s]*/gi, '$1***');
}

const SQLSTATE = /^[0-9A-Z]{5}$/;
/** Prisma's own codes (P1001, P2010…) look like SQLSTATEs but say nothing about the database error. */
const PRISMA_CODE = /^P[1-6]\d{3}$/;
/** Prisma's codes for an unreachable or lost server, pool timeouts, and expired transactions. */
const PRISMA_CONNECTION_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** The SQLSTATE (or network error code) of an error, looking through wrappers. */
export function findErrorCode(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const e = queue.shift();
    if (!e || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    const o = e as Record<string, unknown>;
    for (const key of ['code', 'originalCode', 'sqlState']) {
      const v = o[key];
      if (typeof v === 'string' && ((SQLSTATE.test(v) && !PRISMA_CODE.test(v)) || NETWORK_CODES.has(v))) return v;
    }
    queue.push(o.cause, o.meta, o.driverAdapterError, o.error);
    if (Array.isArray(o.errors)) queue.push(...o.errors); // AggregateError from dual-stack connects
  }
  return undefined;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/**
 * A typed StorageError for a failed call against `target` (`postgres://host:port/db`).
 * FlowErrors (StaleRunError, an earlier StorageError…) pass through unchanged.
 */
export function toStorageError(err: unknown, target: string, what: string): FlowError {
  if (err instanceof FlowError) return err;
  const code = findErrorCode(err);
  const detail = redactConnectionString(messageOf(err));
  const fail = (c: string, message: string, retryable: boolean) => new StorageError(c, message, { retryable, cause: err });

  const prismaCode = (err as { code?: unknown } | null)?.code;
  if (typeof prismaCode === 'string' && PRISMA_CONNECTION_CODES.has(prismaCode) && !code) {
    return fail('CONNECTION_FAILED', `Cannot reach Postgres at ${target} (${prismaCode}) during ${what}: ${detail}`, true);
  }
  if (code && NETWORK_CODES.has(code)) return fail('CONNECTION_FAILED', `Cannot reach Postgres at ${target} (${code}) during ${what}: ${detail}`, true);
  if (code === undefined) {
    if (/connect|connection|terminat|timeout|socket/i.test(detail)) {
      return fail('CONNECTION_FAILED', `Lost or failed connection to ${target} during ${what}: ${detail}`, true);
    }
    return fail('STORAGE_ERROR', `${what} failed on ${target}: ${detail}`, false);
  }
  if (code === '28P01' || code === '28000') return fail('AUTH_FAILED', `Postgres at ${target} rejected the credentials (${code}): ${detail}`, false);
  if (code === '3D000') return fail('DATABASE_NOT_FOUND', `Database of ${target} does not exist: ${detail}`, false);
  if (code === '42P01' || code === '3F000' || code === '42704' || code === '42883') {
    return fail(
      'SCHEMA_MISSING',
      `${what} failed on ${target}: the flow tables are missing or incomplete (${detail}). Apply the migrations (\`prisma migrate deploy\`, or autoMigrate)`,
      false,
    );
  }
  if (code === '23505') return fail('DUPLICATE_KEY', `${what} failed on ${target}: ${detail}`, false);
  if (code.startsWith('08') || code.startsWith('53') || code.startsWith('57') || code === '40001' || code === '40P01' || code === '55P03') {
    return fail('TRANSIENT_DB_ERROR', `${what} failed on ${target} (${code}), try again: ${detail}`, true);
  }
  return fail('STORAGE_ERROR', `${what} failed on ${target} (${code}): ${detail}`, false);
}

/**
 * The transaction lost a race with another: a serialization failure (40001) or a deadlock
 * (40P01), Prisma's P2034 included. Running it again may succeed; nothing of it was kept.
 */
export function isTransactionConflict(err: unknown): boolean {
  const code = findErrorCode(err);
  if (code === '40001' || code === '40P01') return true;
  const seen = new Set<unknown>();
  for (let e: unknown = err; e && typeof e === 'object' && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    if ((e as { code?: unknown }).code === 'P2034') return true;
  }
  return false;
}
