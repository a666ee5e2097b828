// Rate limits shared by every process: fixed-window counters per key, kept
// in Postgres (the `rate_limits` table) by rate-limiter-flexible's Postgres
// store, so N server processes give an attacker the budget of one, not N.
//
// The store runs its statements through the process's kysely pool (an
// adapter with pg's `query({ text, values })` shape), outside any request's
// transaction: a counted failure stays counted when the request fails.
import { CompiledQuery, type Kysely } from 'kysely';
import { sql } from 'kysely';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Database } from '@relaydesk/db';

export interface RateLimitOptions {
  /** Distinguishes this limiter's keys from others' in the shared table. */
  name: string;
  /** Calls (or failures) allowed per window. */
  points: number;
  windowSeconds: number;
}

export class RateLimiter {
  readonly #store: RateLimiterPostgres;

  constructor(db: Kysely<Database>, opts: RateLimitOptions) {
    this.#store = new RateLimiterPostgres({
      storeClient: {
        async query(q: { text: string; values?: unknown[] }) {
          const { rows, numAffectedRows } = await db.executeQuery(CompiledQuery.raw(q.text, q.values ?? []));
          return { rows, rowCount: rows.length || Number(numAffectedRows ?? 0) };
        },
      },
      storeType: 'client',
      tableName: 'rate_limits',
      tableCreated: true, // by a migration
      // Expired rows are swept by the workers' maintenance (pruneRateLimits), not by a timer per limiter.
      clearExpiredByTimeout: false,
      keyPrefix: opts.name,
      points: opts.points,
      duration: opts.windowSeconds,
      // With the database away, each process counts in memory meanwhile: a
      // limit still holds (per process), and requests that need no database
      // (tickets.suggest offline) keep working.
      insuranceLimiter: new RateLimiterMemory({ keyPrefix: opts.name, points: opts.points, duration: opts.windowSeconds }),
    });
  }

  /**
   * Counts one call against `key`, atomically (one statement): 0 when it is
   * within the limit, else the seconds to wait.
   */
  async take(key: string): Promise<number> {
    try {
      await this.#store.consume(key, 1);
      return 0;
    } catch (err) {
      if (err instanceof RateLimiterRes) return secondsOf(err);
      throw err;
    }
  }

  /** Takes back one counted failure (the attempt succeeded). */
  async undo(key: string): Promise<void> {
    await this.#store.reward(key, 1);
  }

  async reset(key: string): Promise<void> {
    await this.#store.delete(key);
  }
}

const secondsOf = (res: RateLimiterRes) => Math.max(1, Math.ceil(res.msBeforeNext / 1000));

/** Deletes the counters whose window ended (any worker may run it; cheap when there is nothing to do). */
export async function pruneRateLimits(db: Kysely<Database>): Promise<number> {
  const r = await sql`delete from rate_limits where expire < ${Date.now()}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}
