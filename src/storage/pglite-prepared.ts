/**
 * Prepared statements on PGlite. `PGlite#query` parses and plans its statement on every call;
 * the store's hot statements are long CTEs, for which that is most of the cost. Here a statement
 * is parsed once per PGlite instance (its one session) as a named statement, then each call only
 * binds and executes it — with PGlite's own wire-protocol helpers, locks and type (de)serializers,
 * so that results are exactly those of `query`.
 */
import { parse as pgParse, protocol, type PGlite } from '@electric-sql/pglite';
import type { SqlParam, SqlRow } from './sql/executor.js';
import { isStalePreparedStatement } from './sql/statement-names.js';

/** The members of a PGlite instance used here (all public in its type declarations). */
export type PGlitePreparable = Pick<
  PGlite,
  'execProtocolStream' | 'syncToFs' | 'serializers' | 'parsers' | '_checkReady' | '_runExclusiveQuery' | '_runExclusiveTransaction'
>;

type BackendMessages = Awaited<ReturnType<PGlite['execProtocolStream']>>;

interface Prepared {
  /** Parameter type oids, for PGlite's serializers. */
  paramTypes: number[];
  /** The statement's RowDescription (none when it returns no columns): how to read its DataRows. */
  rowDescription: BackendMessages;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Statements prepared in each instance's session, by name. */
const preparedByInstance = new WeakMap<object, Map<string, Prepared>>();

export function canPrepare(db: object): db is PGlitePreparable {
  const d = db as Partial<PGlitePreparable>;
  return (
    typeof d.execProtocolStream === 'function' &&
    typeof d._runExclusiveTransaction === 'function' &&
    typeof d._runExclusiveQuery === 'function' &&
    d.serializers !== undefined
  );
}

/** Runs `text` as the named statement `name` (prepared on first use): one statement, its rows. */
export async function queryPrepared<R extends SqlRow>(db: PGlitePreparable, name: string, text: string, params: readonly SqlParam[] = []): Promise<R[]> {
  try {
    return await runPrepared<R>(db, name, text, params);
  } catch (err) {
    // Lost by the session, or its result shape changed: prepare it again (nothing ran).
    if (!isStalePreparedStatement(err)) throw err;
    await db._runExclusiveTransaction(() =>
      db._runExclusiveQuery(async () => {
        preparedByInstance.get(db)?.delete(name);
        await db
          .execProtocolStream(concat([protocol.serialize.close({ type: 'S', name }), protocol.serialize.sync()]), { syncToFs: false })
          .catch(() => undefined);
      }),
    );
    return runPrepared<R>(db, name, text, params);
  }
}

async function runPrepared<R extends SqlRow>(db: PGlitePreparable, name: string, text: string, params: readonly SqlParam[]): Promise<R[]> {
  await db._checkReady();
  // Both PGlite locks, as `query` takes them: never inside another caller's transaction.
  return db._runExclusiveTransaction(() =>
    db._runExclusiveQuery(async () => {
      let statements = preparedByInstance.get(db);
      if (!statements) preparedByInstance.set(db, (statements = new Map()));
      // One call per batch of messages, ending with Sync: PGlite runs the whole batch, then throws
      // the first error (the session is ready for the next statement either way).
      const send = (...messages: Uint8Array[]) => db.execProtocolStream(concat(messages), { syncToFs: false });
      let prepared = statements.get(name);
      if (!prepared) {
        let described: BackendMessages;
        try {
          described = await send(protocol.serialize.parse({ name, text }), protocol.serialize.describe({ type: 'S', name }), protocol.serialize.sync());
        } catch (err) {
          // Whatever got created, drop it, so that the next call starts over.
          await send(protocol.serialize.close({ type: 'S', name }), protocol.serialize.sync()).catch(() => undefined);
          throw err;
        }
        prepared = {
          paramTypes: pgParse.parseDescribeStatementResults(described),
          rowDescription: described.filter((m) => m.name === 'rowDescription'),
        };
        statements.set(name, prepared);
      }
      const types = prepared.paramTypes;
      const values = params.map((p, i) => {
        if (p === null || p === undefined) return null;
        const serialize = db.serializers[types[i]!];
        return serialize ? (serialize(p) as string) : p.toString();
      });
      const messages = [
        ...prepared.rowDescription,
        ...(await send(protocol.serialize.bind({ statement: name, values }), protocol.serialize.execute({}), protocol.serialize.sync())),
      ];
      await db.syncToFs();
      return (pgParse.parseResults(messages, db.parsers)[0]?.rows ?? []) as R[];
    }),
  );
}
