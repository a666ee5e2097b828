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
   * and plans each once per connection instead of on every call. Default:
   * DB_PREPARED_STATEMENTS (true unless `false` or `0`), for every process
   * alike; off behind a pooler that cannot keep them (PgBouncer in
   * transaction mode, unless 1.21 or later with max_prepared_statements set).
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
const MAX_NAMED = 500;
const MIN_LENGTH = 24; // begin, commit, rollback and the like gain nothing
const MAX_LENGTH = 16_384; // bulk inserts (the seed's) are one-offs: never remembered
const seen = new Map<string, string | null>();
/** Texts a named run failed for in a way naming caused (see prepareRepeated): always unnamed from then on. */
const unnamed = new Set<string>();
let named = 0;

function statementName(text: string): string | undefined {
  if (text.length < MIN_LENGTH || text.length > MAX_LENGTH || unnamed.has(text)) return undefined;
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

/**
 * Errors that mean a named statement, not the query, is at fault: its plan's
 * result type changed under it (a migration altered a table it reads), or
 * the server no longer has it. The text runs unnamed from then on.
 */
const NAMING_FAULTS = new Set(['0A000', '26000']);

/**
 * Routes a client's `query(text, values)` calls (kysely's and pg-boss's)
 * through named statements. Only calls with parameters: a text without any
 * may hold several statements, which a prepared statement cannot.
 */
function prepareRepeated(client: pg.PoolClient) {
  const query = client.query.bind(client) as QueryFn;
  (client as unknown as { query: QueryFn }).query = (config, values, callback) => {
    if (typeof config === 'string' && Array.isArray(values) && values.length > 0 && typeof callback !== 'function') {
      const name = statementName(config);
      if (name) {
        return (query({ name, text: config, values }) as Promise<unknown>).catch((err: { code?: string }) => {
          if (err?.code && NAMING_FAULTS.has(err.code)) unnamed.add(config);
          throw err;
        });
      }
    }
    return query(config, values, callback);
  };
}

export function createPool(url: string, opts: CreateDbOptions = {}): pg.Pool {
  const prepared = opts.preparedStatements ?? !/^(false|0)$/.test(process.env.DB_PREPARED_STATEMENTS ?? '');
  const pool = new pg.Pool({
    // A prepared statement keeps its parse, not its plan: Postgres would
    // otherwise switch to a generic plan after five runs, blind to values
    // (a status with a partial index of its own, a rare tag) that decide
    // the plan at a million tickets. The setting holds for the session: our
    // PL/pgSQL trigger functions opt out (plan_cache_mode=auto, migration
    // 0010), or every row they fire on would be planned afresh.
    ...(prepared ? { options: '-c plan_cache_mode=force_custom_plan' } : {}),
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'relaydesk',
    // Waiting for a connection counts against the same bound as the statement.
    connectionTimeoutMillis: opts.statementTimeoutMs ?? 10_000,
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
    if (prepared) prepareRepeated(client);
  });
  return pool;
}

export function createDb(url: string, opts: CreateDbOptions = {}): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(url, opts) }) });
}

// int8 (counts, ticket numbers) as JS numbers: every value we store fits in
// 2^53. Event ids are selected as text where they leave the server.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
