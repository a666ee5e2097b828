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
  /**
   * Run repeated statements as named prepared statements, so Postgres parses
   * and plans each once per connection instead of on every call. Default
   * true; off behind a pooler that cannot keep them (PgBouncer in transaction
   * mode before 1.21).
   */
  preparedStatements?: boolean;
}

/**
 * Which statement texts run as named prepared statements: a text is named
 * the second time this process sees it (one-off statements, such as DDL or a
 * list with an unusual number of values, stay unnamed), up to `MAX_NAMED`
 * texts per process, which bounds what each connection keeps prepared (and
 * this map: at most 4 × MAX_NAMED texts of at most 16 KB are remembered).
 */
const MAX_NAMED = 2000;
const MIN_LENGTH = 24; // begin, commit, rollback and the like gain nothing
const MAX_LENGTH = 16_384; // bulk inserts (the seed's) are one-offs: never remembered
const seen = new Map<string, string | null>();
let named = 0;

function statementName(text: string): string | undefined {
  if (text.length < MIN_LENGTH || text.length > MAX_LENGTH) return undefined;
  const known = seen.get(text);
  if (known) return known;
  if (known === undefined) {
    if (seen.size < MAX_NAMED * 4) seen.set(text, null);
    return undefined;
  }
  if (named >= MAX_NAMED) return undefined;
  const name = `rd_${++named}`;
  seen.set(text, name);
  return name;
}

type QueryFn = (config: unknown, values?: unknown, callback?: unknown) => unknown;

/** Routes a client's `query(text, values)` calls (kysely's and pg-boss's) through named statements. */
function prepareRepeated(client: pg.PoolClient) {
  const query = client.query.bind(client) as QueryFn;
  (client as unknown as { query: QueryFn }).query = (config, values, callback) => {
    if (typeof config === 'string' && Array.isArray(values) && typeof callback !== 'function') {
      const name = statementName(config);
      if (name) return query({ name, text: config, values });
    }
    return query(config, values, callback);
  };
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
    if (opts.preparedStatements ?? true) prepareRepeated(client);
  });
  return pool;
}

export function createDb(url: string, opts: CreateDbOptions = {}): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(url, opts) }) });
}

// int8 (counts, ticket numbers) as JS numbers: every value we store fits in
// 2^53. Event ids are selected as text where they leave the server.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
