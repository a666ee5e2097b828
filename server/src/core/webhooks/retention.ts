// Webhook log retention: settled deliveries (delivered or dead) and their
// attempts are deleted once they are older than the retention, by the
// hourly `webhook.prune` job. A pending delivery is never deleted, whatever
// its age: it is still being tried.
//
// Bounded batches, each its own statement (and so its own transaction): no
// transaction holds thousands of row locks for long, and vacuum can reclaim
// what earlier batches freed while later ones run.
//
// Locks. A batch locks its deliveries `FOR UPDATE SKIP LOCKED` before it
// deletes them and their attempts, and it never touches an endpoint row, so
// it never waits on a delivery job, a redelivery or an endpoint's deletion
// (which lock deliveries first, then the endpoint: see deleteEndpoint), and
// cannot deadlock with them. A delivery someone holds is skipped and pruned
// by a later run. Locking re-reads the row, so one that a redelivery turned
// back to `pending` meanwhile is left alone. A job of a pruned delivery
// finds no row and stands down (see deliverOnce and markDead).
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';

export interface PruneOptions {
  /** Settled deliveries older than this (by completion, else creation) are deleted. */
  olderThanDays: number;
  /** Deliveries per batch (one statement each). Default 5,000. */
  batchSize?: number;
  /** No new batch starts after this long, in ms; the rest waits for the next run. Default 60 s. */
  timeBudgetMs?: number;
}

export interface PruneResult {
  deliveries: number;
  attempts: number;
  batches: number;
  /** False when the time budget ended the run with more to delete. */
  done: boolean;
}

export const PRUNE_BATCH_SIZE = 5000;
export const PRUNE_TIME_BUDGET_MS = 60_000;

export async function pruneWebhookLog(db: Kysely<Database>, opts: PruneOptions): Promise<PruneResult> {
  const batchSize = opts.batchSize ?? PRUNE_BATCH_SIZE;
  const budget = opts.timeBudgetMs ?? PRUNE_TIME_BUDGET_MS;
  const started = performance.now();
  // One cutoff for the whole run, by the database's clock.
  const { rows: at } = await sql<{ cutoff: Date }>`select now() - make_interval(days => ${opts.olderThanDays}) as cutoff`.execute(db);
  const cutoff = at[0]!.cutoff;
  const result: PruneResult = { deliveries: 0, attempts: 0, batches: 0, done: false };
  for (;;) {
    const batch = await pruneBatch(db, cutoff, batchSize);
    result.batches++;
    result.deliveries += batch.deliveries;
    result.attempts += batch.attempts;
    if (batch.deliveries < batchSize) {
      result.done = true;
      return result;
    }
    if (performance.now() - started >= budget) return result;
  }
}

/**
 * One batch, oldest first along webhook_deliveries_settled_idx (the
 * expression and the predicate are the index's). The batch's ids go to the
 * deletes as an array, so each is an index scan of the batch's rows: a join
 * with the CTE is planned as a hash join over the whole table, every batch.
 * The attempts go in the same statement, as one index scan: the foreign
 * key's cascade (one delete per delivery) measured slower here, and
 * it still catches an attempt recorded after this statement's snapshot.
 */
async function pruneBatch(db: Kysely<Database>, cutoff: Date, limit: number): Promise<{ deliveries: number; attempts: number }> {
  const { rows } = await sql<{ deliveries: number; attempts: number }>`
    with doomed as (
      select id from webhook_deliveries
       where status <> 'pending' and coalesce(completed_at, created_at) < ${cutoff}
       order by coalesce(completed_at, created_at)
       limit ${limit}
         for update skip locked
    ), attempts as (
      delete from webhook_attempts where delivery_id = any(array(select id from doomed))
      returning 1
    ), deliveries as (
      delete from webhook_deliveries where id = any(array(select id from doomed))
      returning 1
    )
    select (select count(*) from deliveries)::int as deliveries, (select count(*) from attempts)::int as attempts`.execute(db);
  return rows[0]!;
}
