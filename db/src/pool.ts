// One kysely instance per process over a bounded pg pool.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

export interface CreateDbOptions {
  /** Pool size. Default 10: concurrency into Postgres must stay bounded. */
  max?: number;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
  /** Called for idle-client errors (e.g. Postgres restarting); default ignores. */
  onError?: (err: Error) => void;
  /**
   * Bound on every statement, in ms: Postgres cancels it past this
   * (statement_timeout), and the client gives up on it a moment later even
   * if Postgres does not answer at all (a frozen server), as it does on
   * getting a connection. Unset: no bound (workers, migrations, the seed).
   */
  statementTimeoutMs?: number;
}

export function createPool(url: string, opts: CreateDbOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'relaydesk',
    connectionTimeoutMillis: opts.statementTimeoutMs ? Math.min(10_000, opts.statementTimeoutMs) : 10_000,
    idleTimeoutMillis: 30_000,
    ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs, query_timeout: opts.statementTimeoutMs + 250 } : {}),
  });
  // Without a listener an idle client's error (server restart) crashes the process.
  pool.on('error', opts.onError ?? (() => {}));
  // The same for a client that is checked out but between queries (inside a
  // transaction): the pool only listens while it is idle. The next query on
  // it fails and says so; the client is not reused.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

export function createDb(url: string, opts: CreateDbOptions = {}): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(url, opts) }) });
}

// int8 (counts, ticket numbers) as JS numbers: every value we store fits in
// 2^53. Event ids are selected as text where they leave the server.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
