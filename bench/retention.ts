// Webhook log retention at a million deliveries: pruneWebhookLog (batches of
// 5,000, oldest first, SKIP LOCKED, attempts deleted with them) beside raw
// SQL doing the same deletion: a loop of `DELETE … WHERE id IN (SELECT …
// LIMIT 5000)` (attempts by the foreign key's cascade), and one single
// DELETE of everything old (the floor: one statement, no batches). For the
// loop's `id IN (SELECT … LIMIT 5000)` Postgres plans a hash semi-join over
// the whole table, every batch, so its cost grows with the table;
// pruneWebhookLog hands its batch to the deletes as an array (two index scans).
//
// Each run starts from the same freshly loaded tables: BENCH_RETENTION
// (default 1,000,000) old settled deliveries, 1.6 attempts each on average,
// plus deliveries that must survive (recent ones, and old pending ones),
// written by generate_series inside Postgres, then vacuumed and analyzed.
//
// It also measures the event log's size per seeded ticket (a 20,000-ticket
// `npm run seed` into the same database): the events table is the audit
// trail and is not pruned, so this is what it grows by.
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { seed } from '../scripts/seed.ts';
import { pruneWebhookLog } from '../server/src/core/webhooks/retention.ts';
import { benchDatabase, fmt, report } from './harness.ts';

const N = Number(process.env.BENCH_RETENTION ?? 1_000_000);
const BATCH = 5000;
/** Deliveries that must stay: settled within the retention, and pending ones however old. */
const RECENT = 20_000;
const PENDING = 5_000;
const RETENTION_DAYS = 30;
const ENDPOINT = '00000000-0000-7000-8000-000000000001';

/** A uuid v7 stamped with `ts` (as the app's ids are), so the primary key follows time as in production. */
const uuid7 = (ts: string) =>
  `encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing substring(int8send((extract(epoch from ${ts}) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid`;

/** Loads the tables afresh; returns how long migration 0009's index took to build over them, in seconds. */
async function load(db: Kysely<Database>): Promise<number> {
  await sql`truncate webhook_attempts, webhook_deliveries`.execute(db);
  await sql`drop index webhook_deliveries_settled_idx`.execute(db);
  // Old settled deliveries, 40 to 100 days ago, 9 in 10 delivered (1 or 2
  // attempts), 1 in 10 dead (3 attempts); recent settled ones, 0 to 20 days
  // ago; old pending ones (a delivery still being retried is never pruned).
  await sql
    .raw(
      `insert into webhook_deliveries (id, endpoint_id, event_position, event_type, status, attempts, created_at, last_attempt_at, completed_at)
       select ${uuid7('at')}, '${ENDPOINT}', i, 'ticket.created', status, attempts, at, at + interval '1 second', case when status = 'pending' then null else at + interval '1 second' end
         from (
           select i, at,
                  case when i > ${N + RECENT} then 'pending' when i % 10 = 0 then 'dead' else 'delivered' end as status,
                  case when i > ${N + RECENT} then 2 when i % 10 = 0 then 3 when i % 2 = 0 then 2 else 1 end as attempts
             from (
               select i, case when i <= ${N} then now() - interval '40 days' - interval '60 days' * (i::float8 / ${N})
                              when i <= ${N + RECENT} then now() - interval '20 days' * ((i - ${N})::float8 / ${RECENT})
                              else now() - interval '90 days' end as at
                 from generate_series(1, ${N + RECENT + PENDING}) i
             ) t
         ) d
        order by at`,
    )
    .execute(db);
  await sql`
    insert into webhook_attempts (delivery_id, number, started_at, duration_ms, status_code, error)
    select d.id, n, d.created_at + make_interval(secs => n), 40, case when n = d.attempts and d.status = 'delivered' then 200 else 503 end,
           case when n = d.attempts and d.status = 'delivered' then null else 'HTTP 503' end
      from webhook_deliveries d, generate_series(1, d.attempts) n`.execute(db);
  const built = performance.now();
  await sql`create index webhook_deliveries_settled_idx on webhook_deliveries ((coalesce(completed_at, created_at))) where status <> 'pending'`.execute(db);
  const indexSeconds = (performance.now() - built) / 1000;
  await sql`vacuum analyze webhook_deliveries, webhook_attempts`.execute(db);
  await sql`checkpoint`.execute(db);
  return indexSeconds;
}

async function counts(db: Kysely<Database>) {
  const { rows } = await sql<{ deliveries: number; attempts: number; pending: number }>`
    select (select count(*) from webhook_deliveries)::int as deliveries, (select count(*) from webhook_attempts)::int as attempts,
           (select count(*) from webhook_deliveries where status = 'pending')::int as pending`.execute(db);
  return rows[0]!;
}

/** Times `prune` on freshly loaded tables; checks that exactly the old settled deliveries went. */
async function timed(db: Kysely<Database>, what: string, prune: () => Promise<unknown>) {
  const indexSeconds = await load(db);
  if (what === 'pruneWebhookLog') console.log(`  migration 0009's index over ${(N + RECENT + PENDING).toLocaleString('en-US')} deliveries: ${indexSeconds.toFixed(1)} s to build`);
  const before = await counts(db);
  const started = performance.now();
  await prune();
  const seconds = (performance.now() - started) / 1000;
  const after = await counts(db);
  const deleted = before.deliveries - after.deliveries;
  if (deleted !== N || after.pending !== PENDING || after.deliveries !== RECENT + PENDING) {
    throw new Error(`${what}: deleted ${deleted} of ${N} old deliveries, ${after.deliveries} left (${after.pending} pending)`);
  }
  const attempts = before.attempts - after.attempts;
  console.log(`  ${what}: ${deleted.toLocaleString('en-US')} deliveries and ${attempts.toLocaleString('en-US')} attempts in ${seconds.toFixed(1)} s`);
  return deleted / seconds;
}

export async function benchRetention() {
  const b = await benchDatabase();
  try {
    // The event log at the seed's volume, before any webhook endpoint exists (the seed refuses active ones).
    const tickets = 20_000;
    const seeded = await seed(b.url, { tickets });
    const { rows: size } = await sql<{ bytes: string; heap: string; n: string }>`
      select pg_total_relation_size('events') as bytes, pg_relation_size('events') as heap, count(*) as n from events`.execute(b.db);
    const bytes = Number(size[0]!.bytes);
    const perEvent = bytes / Number(size[0]!.n);
    const perTicket = Number(size[0]!.n) / tickets;
    console.log(
      `event log at the seed's volume: ${seeded.events.toLocaleString('en-US')} events for ${tickets.toLocaleString('en-US')} tickets (${perTicket.toFixed(1)} per ticket), ` +
        `${Math.round(perEvent)} bytes per event with its indexes (${Math.round(Number(size[0]!.heap) / Number(size[0]!.n))} in the table): ` +
        `about ${fmt((perEvent * perTicket * 1e6) / 2 ** 20)} MB per million tickets`,
    );

    await sql`insert into webhook_endpoints (id, url, event_types, secret, from_position, active) values (${ENDPOINT}, 'https://receiver.example.com/hook', ${['*']}, 'whsec_bench', 0, false)`.execute(b.db);
    console.error(`[bench] retention: ${N.toLocaleString('en-US')} old deliveries; raw batched, pruneWebhookLog, raw single DELETE`);

    const raw = await timed(b.db, 'raw DELETE … IN (SELECT … LIMIT 5000) loop', async () => {
      for (;;) {
        const r = await sql`
          delete from webhook_deliveries where id in (
            select id from webhook_deliveries
             where status <> 'pending' and coalesce(completed_at, created_at) < now() - make_interval(days => ${RETENTION_DAYS})
             limit ${BATCH})`.execute(b.db);
        if (Number(r.numAffectedRows) < BATCH) break;
      }
    });
    const ours = await timed(b.db, 'pruneWebhookLog', async () => {
      const r = await pruneWebhookLog(b.db, { olderThanDays: RETENTION_DAYS, batchSize: BATCH, timeBudgetMs: Infinity });
      if (r.batches !== Math.ceil((N + 1) / BATCH)) throw new Error(`pruneWebhookLog took ${r.batches} batches`);
    });
    const single = await timed(b.db, 'raw single DELETE', () =>
      sql`delete from webhook_deliveries where status <> 'pending' and coalesce(completed_at, created_at) < now() - make_interval(days => ${RETENTION_DAYS})`.execute(b.db),
    );
    const label = `webhook log pruned (${N.toLocaleString('en-US')} deliveries, 1.6 attempts each)`;
    report([
      { name: label, value: ours, unit: 'deliv/s', anchor: raw, anchorName: `raw DELETE … LIMIT ${BATCH} loop` },
      { name: `${label} vs one DELETE`, value: ours, unit: 'deliv/s', anchor: single, anchorName: 'raw single DELETE' },
    ]);
    return { ours, raw, single };
  } finally {
    await b.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchRetention();
