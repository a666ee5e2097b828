// Webhook log retention: pruneWebhookLog in process for what it deletes,
// what it keeps and its batches; one real worker process for the
// webhook.prune job (its schedule, a job sent by hand, queues.stats) and for
// a delivery job whose delivery was pruned.
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { uuidv7 } from 'uuidv7';
import type { Database } from '@relaydesk/db';
import { commonEnv } from '../server/src/core/env.ts';
import { createBoss } from '../server/src/core/jobs/boss.ts';
import { createJobs } from '../server/src/core/jobs/send.ts';
import { queueCounts } from '../server/src/core/jobs/stats.ts';
import { createLogger } from '../server/src/core/logger.ts';
import { webhookConfigFrom } from '../server/src/core/webhooks/config.ts';
import { deliverOnce, markDead } from '../server/src/core/webhooks/deliver.ts';
import { pruneWebhookLog } from '../server/src/core/webhooks/retention.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startWorker, waitFor, type WorkerProcess } from './helpers/worker.ts';

let t: TestDatabase;
let endpointId: string;
let position = 0;

beforeAll(async () => {
  t = await createTestDatabase('retention');
  endpointId = uuidv7();
  await t.db
    .insertInto('webhook_endpoints')
    .values({ id: endpointId, url: 'https://receiver.example.com/hook', event_types: ['*'], secret: 'whsec_test', from_position: 0 })
    .execute();
});

interface Rows {
  n?: number;
  status: 'pending' | 'delivered' | 'dead';
  /** Days ago; null: never completed. */
  completed: number | null;
  created: number;
  attempts?: number;
}

/** Inserts deliveries (with `attempts` attempt rows each, default 2) by generate_series; returns their ids. */
async function deliveries(db: Kysely<Database>, r: Rows): Promise<string[]> {
  const n = r.n ?? 1;
  const first = position + 1;
  position += n;
  const { rows } = await sql<{ id: string }>`
    insert into webhook_deliveries (id, endpoint_id, event_position, event_type, status, attempts, created_at, completed_at)
    select gen_random_uuid(), ${endpointId}, i, 'ticket.created', ${r.status}, ${r.attempts ?? 2},
           now() - make_interval(days => ${r.created}),
           case when ${r.completed}::int is null then null else now() - make_interval(days => ${r.completed}::int) end
      from generate_series(${first}::int, ${first + n - 1}::int) i
    returning id`.execute(db);
  await sql`
    insert into webhook_attempts (delivery_id, number, started_at, duration_ms, status_code)
    select d.id, k, d.created_at, 10, 200 from webhook_deliveries d, generate_series(1, d.attempts) k
     where d.id = any(${rows.map((x) => x.id)}::uuid[])`.execute(db);
  return rows.map((x) => x.id);
}

async function present(db: Kysely<Database>, ids: string[]) {
  const d = await db.selectFrom('webhook_deliveries').select('id').where('id', 'in', ids).execute();
  const a = await db.selectFrom('webhook_attempts').select('delivery_id').where('delivery_id', 'in', ids).execute();
  return { deliveries: d.length, attempts: a.length };
}

const clear = () => sql`truncate webhook_attempts, webhook_deliveries`.execute(t.db);

describe('pruneWebhookLog', () => {
  beforeEach(clear);

  it('deletes settled deliveries older than the retention with their attempts; keeps recent and pending ones', async () => {
    const oldDelivered = await deliveries(t.db, { n: 3, status: 'delivered', completed: 40, created: 40 });
    const oldDead = await deliveries(t.db, { n: 2, status: 'dead', completed: 31, created: 32, attempts: 3 });
    // Settled with no completion time (not written today): its creation counts.
    const noCompletion = await deliveries(t.db, { status: 'dead', completed: null, created: 45 });
    // Created long ago, settled recently (retried for a day, or redelivered): kept.
    const lateSettled = await deliveries(t.db, { status: 'delivered', completed: 2, created: 40 });
    const recent = await deliveries(t.db, { n: 2, status: 'delivered', completed: 0, created: 0 });
    const recentDead = await deliveries(t.db, { status: 'dead', completed: 29, created: 29 });
    // Still being tried: never pruned, however old.
    const pending = await deliveries(t.db, { n: 2, status: 'pending', completed: null, created: 90 });

    const r = await pruneWebhookLog(t.db, { olderThanDays: 30 });
    expect(r).toEqual({ deliveries: 6, attempts: 3 * 2 + 2 * 3 + 2, batches: 1, done: true });
    expect(await present(t.db, [...oldDelivered, ...oldDead, ...noCompletion])).toEqual({ deliveries: 0, attempts: 0 });
    const kept = [...lateSettled, ...recent, ...recentDead, ...pending];
    expect(await present(t.db, kept)).toEqual({ deliveries: 6, attempts: 12 });

    // Nothing left to do: one empty batch.
    expect(await pruneWebhookLog(t.db, { olderThanDays: 30 })).toEqual({ deliveries: 0, attempts: 0, batches: 1, done: true });
    // A shorter retention reaches further, still not to the pending ones.
    expect((await pruneWebhookLog(t.db, { olderThanDays: 1 })).deliveries).toBe(2);
    expect(await present(t.db, [...lateSettled, ...recentDead])).toEqual({ deliveries: 0, attempts: 0 });
    expect(await present(t.db, [...recent, ...pending])).toEqual({ deliveries: 4, attempts: 8 });
  });

  it('works in bounded batches: 12,000 old deliveries go in 3 batches of at most 5,000', async () => {
    await deliveries(t.db, { n: 12_000, status: 'delivered', completed: 60, created: 60, attempts: 1 });
    const keep = await deliveries(t.db, { n: 10, status: 'delivered', completed: 3, created: 3 });
    // A batch deletes at most batchSize (its LIMIT), and the loop ends at the
    // first short one: 3 batches for 12,000 is 5,000 + 5,000 + 2,000.
    const r = await pruneWebhookLog(t.db, { olderThanDays: 30, batchSize: 5000 });
    expect(r).toEqual({ deliveries: 12_000, attempts: 12_000, batches: 3, done: true });
    expect(await present(t.db, keep)).toEqual({ deliveries: 10, attempts: 20 });
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhook_deliveries`.execute(t.db);
    expect(rows[0]!.n).toBe(10);
  });

  it('stops starting batches when its time budget is spent, oldest first, and the next run goes on', async () => {
    const older = await deliveries(t.db, { n: 4, status: 'delivered', completed: 50, created: 50, attempts: 1 });
    const newer = await deliveries(t.db, { n: 4, status: 'delivered', completed: 40, created: 40, attempts: 1 });
    const first = await pruneWebhookLog(t.db, { olderThanDays: 30, batchSize: 3, timeBudgetMs: 0 });
    expect(first).toEqual({ deliveries: 3, attempts: 3, batches: 1, done: false });
    expect((await present(t.db, older)).deliveries).toBe(1);
    expect((await present(t.db, newer)).deliveries).toBe(4);
    expect(await pruneWebhookLog(t.db, { olderThanDays: 30, batchSize: 3 })).toEqual({ deliveries: 5, attempts: 5, batches: 2, done: true });
  });

  it('skips a delivery another transaction holds instead of waiting for it, and prunes it on a later run', async () => {
    const [held, other] = await deliveries(t.db, { n: 2, status: 'dead', completed: 40, created: 40 });
    // A delivery job (or a redelivery) holding the row, as writeAttempt or redeliver do.
    const c = new pg.Client({ connectionString: t.url });
    await c.connect();
    try {
      await c.query('begin');
      await c.query('select 1 from webhook_deliveries where id = $1 for update', [held]);
      // A prune that waited for the row would hang here until the test's own timeout.
      const r = await pruneWebhookLog(t.db, { olderThanDays: 30 });
      expect(r.deliveries).toBe(1);
      expect(await present(t.db, [other!])).toEqual({ deliveries: 0, attempts: 0 });
      // Meanwhile the holder turns it back to pending (a redelivery): it must survive.
      await c.query(`update webhook_deliveries set status = 'pending', generation = generation + 1, completed_at = null where id = $1`, [held]);
      await c.query('commit');
    } finally {
      await c.end();
    }
    expect((await pruneWebhookLog(t.db, { olderThanDays: 30 })).deliveries).toBe(0);
    expect(await present(t.db, [held!])).toEqual({ deliveries: 1, attempts: 2 });
  });

  it('a delivery job for a pruned delivery does nothing', async () => {
    const [gone] = await deliveries(t.db, { status: 'delivered', completed: 40, created: 40 });
    await pruneWebhookLog(t.db, { olderThanDays: 30 });
    const config = webhookConfigFrom(commonEnv.parse({}));
    const log = createLogger('test', 'silent');
    await expect(deliverOnce(t.db, config, log, { deliveryId: gone!, generation: 1 }, { lastAttempt: true })).resolves.toBeUndefined();
    expect(await markDead(t.db, { deliveryId: gone!, generation: 1 }, 'gave up')).toBe(false);
    expect(await present(t.db, [gone!])).toEqual({ deliveries: 0, attempts: 0 });
  });
});

describe('the webhook.prune job, in a worker process', () => {
  let worker: WorkerProcess;
  let boss: PgBoss;

  beforeAll(async () => {
    worker = await startWorker(t.url, { AUTO_ASSIGN: 'false', AI_CLASSIFY: 'off', WEBHOOK_LOG_RETENTION_DAYS: '10', LOG_LEVEL: 'error' });
    boss = createBoss(t.url, { max: 1 });
    boss.on('error', () => {});
    await boss.start();
  });
  afterAll(async () => {
    await boss?.stop({ graceful: false, close: true });
    await worker?.stop();
  });

  it('is scheduled hourly, once for all workers, and appears in queues.stats', async () => {
    const schedules = (await boss.getSchedules()).filter((s) => s.name === 'webhook.prune');
    expect(schedules).toHaveLength(1);
    expect(schedules[0]).toMatchObject({ cron: '17 * * * *', data: { reason: 'schedule' } });
    const stats = await queueCounts(createJobs(boss, false, async () => {}));
    expect(stats.map((q) => q.name)).toContain('webhook.prune');
  });

  it('prunes with the worker\'s WEBHOOK_LOG_RETENTION_DAYS when a job is sent', async () => {
    await clear();
    const old = await deliveries(t.db, { n: 20, status: 'delivered', completed: 11, created: 11 });
    const kept = await deliveries(t.db, { n: 5, status: 'dead', completed: 9, created: 9 });
    const pending = await deliveries(t.db, { n: 5, status: 'pending', completed: null, created: 30 });
    const id = await boss.send('webhook.prune', { reason: 'manual' });
    const job = await waitFor('the prune job to finish', async () => {
      const j = await boss.getJobById('webhook.prune', id!);
      return j && ['completed', 'failed'].includes(j.state) ? j : undefined;
    });
    expect(job.state).toBe('completed');
    expect(await present(t.db, old)).toEqual({ deliveries: 0, attempts: 0 });
    expect(await present(t.db, [...kept, ...pending])).toEqual({ deliveries: 10, attempts: 20 });
  });

  it('a webhook.deliver job whose delivery was pruned completes and records nothing', async () => {
    const [gone] = await deliveries(t.db, { status: 'dead', completed: 40, created: 40 });
    await pruneWebhookLog(t.db, { olderThanDays: 30 });
    const id = await boss.send('webhook.deliver', { deliveryId: gone!, generation: 1 });
    const job = await waitFor('the delivery job to finish', async () => {
      const j = await boss.getJobById('webhook.deliver', id!);
      return j && !['created', 'active', 'retry'].includes(j.state) ? j : undefined;
    });
    expect(job.state).toBe('completed');
    expect(await present(t.db, [gone!])).toEqual({ deliveries: 0, attempts: 0 });
  });
});
