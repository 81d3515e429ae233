/**
 * Names of prepared statements. A name stands for one exact text (a hash of it), so stores on
 * different schemas sharing a pool or a PGlite instance never reuse a name for another statement.
 */
import { createHash } from 'node:crypto';

export class StatementNames {
  private readonly names = new Map<string, string>();

  /** Give each text its name (idempotent). */
  register(sqls: readonly string[]): void {
    for (const sql of sqls) {
      if (!this.names.has(sql)) this.names.set(sql, `hazel_flow_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`);
    }
  }

  /** The name of a registered text; undefined for any other statement (run unnamed). */
  of(sql: string): string | undefined {
    return this.names.size === 0 ? undefined : this.names.get(sql);
  }

  /** Run `sql` unnamed from now on. */
  forget(sql: string): void {
    this.names.delete(sql);
  }
}

/**
 * A named statement the session cannot run as prepared — it was deallocated, or a schema change
 * altered the shape of its result — is refused before anything runs: running it again is safe.
 */
export function isStalePreparedStatement(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e?.code === '26000') return true;
  return e?.code === '0A000' && typeof e.message === 'string' && e.message.includes('cached plan must not change result type');
}
