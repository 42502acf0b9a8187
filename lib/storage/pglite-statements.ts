import { type PGlite, parse, protocol, type Results } from '@electric-sql/pglite';

type BackendMessage = Awaited<ReturnType<PGlite['execProtocol']>>['messages'][number];

/**
 * Parameterised statements on PGlite as named prepared statements, each parsed and planned once.
 *
 * `PGlite.query` parses, describes and plans the SQL on every call, in six separate calls into the WASM
 * backend; for the short statements of a request path that is most of the cost (a primary-key SELECT:
 * ~260 µs of CPU, ~55 µs prepared). Here the first use of a SQL text parses it under a name and learns
 * its parameter types (so values are serialised exactly as `PGlite.query` does) and row shape; every
 * later use is one call: Bind, Execute, Sync.
 *
 * A statement is remembered only once its Parse succeeded. Past `MAX_STATEMENTS` distinct texts (only
 * generated SQL could get there) the rest go through `PGlite.query` unchanged.
 */
const MAX_STATEMENTS = 500;

export interface PreparedStatements {
  /** Runs `sql` with `params`. `inTransaction`: the caller holds PGlite's transaction (so only the query lock is taken). */
  query<R>(sql: string, params: unknown[], inTransaction: boolean): Promise<Results<R>>;
}

export function preparedStatements(lite: PGlite): PreparedStatements {
  /** SQL text → statement name, parameter type OIDs and the shape of its rows (none for NoData). */
  const statements = new Map<
    string,
    { name: string; paramTypes: number[]; rowDescription: BackendMessage | undefined }
  >();

  const run = async <R>(sql: string, params: unknown[]): Promise<Results<R>> => {
    let statement = statements.get(sql);
    if (!statement) {
      const name = `obkit_${statements.size + 1}`;
      const { messages } = await lite.execProtocol(
        concat([
          protocol.serialize.parse({ name, text: sql }),
          protocol.serialize.describe({ type: 'S', name }),
          protocol.serialize.sync(),
        ]),
        { syncToFs: false },
      );
      statement = {
        name,
        paramTypes: parse.parseDescribeStatementResults(messages),
        rowDescription: messages.find((message) => message.name === 'rowDescription'),
      };
      statements.set(sql, statement);
    }
    const values = params.map((param, index) => {
      if (param === null || param === undefined) return null;
      const serialize = lite.serializers[statement.paramTypes[index] ?? 0];
      return serialize ? serialize(param) : String(param);
    });
    const { messages } = await lite.execProtocol(
      concat([
        protocol.serialize.bind({ statement: statement.name, values }),
        protocol.serialize.execute({}),
        protocol.serialize.sync(),
      ]),
      // lib/storage opens PGlite only on NodeFS or in memory, whose syncToFs does nothing: skipping it saves
      // a mutex and ~30 µs a statement.
      { syncToFs: false },
    );
    // The row shape learnt when the statement was prepared stands in for a Describe on every execution
    // (results are in text format either way).
    const described = statement.rowDescription ? [statement.rowDescription, ...messages] : messages;
    return parse.parseResults(described, lite.parsers)[0] as Results<R>;
  };

  return {
    query<R>(sql: string, params: unknown[], inTransaction: boolean): Promise<Results<R>> {
      if (!statements.has(sql) && statements.size >= MAX_STATEMENTS) return lite.query<R>(sql, params);
      // The same locks as PGlite.query: outside a transaction, wait for any running one to end.
      const locked = () => lite.runExclusive(() => run<R>(sql, params));
      return inTransaction ? locked() : lite._runExclusiveTransaction(locked);
    },
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((length, part) => length + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
