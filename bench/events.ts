// Live events: commit → subscriber latency with 100 subscribers while tickets
// are created at a steady rate, and ticket-create throughput with live events
// on, beside the same rows inserted by raw-SQL transactions without NOTIFY
// (and without the log's trigger), in this run.
//
// Tickets are created in this process with the server's own createTicket
// (the transaction tickets.create runs: ticket row, event, commit-order
// trigger), so the commit time and the receipt time share one clock. The
// subscribers are SDK clients (eventsource) on a real server process, whose
// hub and sequencer are live throughout.
import { sql } from 'kysely';
import pg from 'pg';
import { issueToken } from '../server/src/core/users/auth.ts';
import { createJobs } from '../server/src/core/jobs/send.ts';
import { createTicket } from '../server/src/core/tickets/create.ts';
import { createUser } from '../server/src/core/users/create.ts';
import type { SessionUser } from '../server/src/api/trpc.ts';
import { startServer } from '../test/helpers/server.ts';
import { createBoss } from '../server/src/core/jobs/boss.ts';
import { benchDatabase, fmt, insertTokens, report, throughput } from './harness.ts';
import { epochNow, startSubscribers } from './subscribers.ts';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 100);
const RATES = (process.env.BENCH_EVENT_RATES ?? '20,100').split(',').map(Number); // tickets per second
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = 8;

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchEvents() {
  const b = await benchDatabase();
  const boss = createBoss(b.url, { max: 1, supervise: false });
  boss.on('error', () => {});
  try {
    const admin = await createUser(b.db, null, { name: 'Bench admin', email: 'admin@bench.test', role: 'admin' });
    const customer = await createUser(b.db, null, { name: 'Bench customer', email: 'customer@bench.test', role: 'customer' });
    const { token } = await issueToken(b.db, admin.id, 'bench');
    // One token per subscriber, as separate dashboards have (a token may hold EVENTS_STREAMS_PER_TOKEN streams).
    const subscriberTokens = await insertTokens(b.db, Array.from({ length: SUBSCRIBERS }, () => admin.id));
    const caller: SessionUser = { id: customer.id, name: customer.name, email: customer.email, role: 'customer', contactId: customer.contactId, tokenId: '' };
    // Auto-assignment off: the transaction is the ticket and its event, nothing else.
    const jobs = createJobs(boss, false, async () => {});
    const create = (i: number) => createTicket(b.db, jobs, caller, { title: `Bench ticket ${i}`, description: 'The printer is on fire again' });

    const server = await startServer(b.url, { LOG_LEVEL: 'error', AUTO_ASSIGN: 'false' });
    try {
      // ---- latency -----------------------------------------------------------
      const latency: { rate: number; p50: number; p99: number; max: number; n: number }[] = [];
      const { rows } = await sql<{ head: number | null }>`select max(position) as head from events`.execute(b.db);
      const from = String(rows[0]!.head ?? 0);
      // In a process of their own (bench/subscribers.ts): parsing their events
      // here would delay this process's commits and receipts alike.
      console.error('[bench] subscribers connecting');
      const subs = await startSubscribers(
        server.url,
        subscriberTokens.map((t) => ({ token: t, input: { lastEventId: from, types: ['ticket.created'] } })),
      );
      try {
        // Every subscriber connected and live: a warm-up ticket reaches all.
        const warm = await create(-1);
        for (let i = 0; (await subs.count(warm.id)) < SUBSCRIBERS; i++) {
          if (i > 600) throw new Error(`only ${await subs.count(warm.id)} of ${SUBSCRIBERS} subscribers connected`);
          await sleep(50);
        }
        await subs.take();

        console.error('[bench] creating at a steady rate');
        for (const rate of RATES) {
          const committed = new Map<string, number>();
          const total = rate * SECONDS * 2;
          const started = performance.now();
          const inFlight: Promise<void>[] = [];
          const before = await subs.received();
          for (let i = 0; i < total; i++) {
            const due = started + (i * 1000) / rate;
            const wait = due - performance.now();
            if (wait > 0) await sleep(wait);
            inFlight.push(
              create(i).then((t) => {
                committed.set(t.id, epochNow());
              }),
            );
          }
          await Promise.all(inFlight);
          for (let i = 0; (await subs.received()) - before < committed.size * SUBSCRIBERS; i++) {
            if (i > 600) throw new Error('not every subscriber received every ticket within 30 s');
            await sleep(50);
          }
          const latencies: number[] = [];
          for (const [ticketId, , at] of await subs.take()) {
            const c = ticketId ? committed.get(ticketId) : undefined;
            if (c !== undefined) latencies.push(at - c);
          }
          latencies.sort((x, y) => x - y);
          latency.push({ rate, p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies.at(-1)!, n: latencies.length });
        }
      } finally {
        await subs.stop().catch(() => {});
      }

      // ---- create throughput ------------------------------------------------
      // One raw-SQL transaction: the ticket row, then its ticket.created event
      // carrying the row (as tickets.create does), into `tickets`/`events`
      // (log trigger on) or into copies of them with no trigger at all.
      await sql`create table bench_tickets (like tickets including defaults including identity including constraints including indexes)`.execute(b.db);
      await sql`create table bench_events (like events including defaults including identity including constraints including indexes)`.execute(b.db);
      const pool = new pg.Pool({ connectionString: b.url, max: CONCURRENCY });
      pool.on('error', () => {});
      let m = 0;
      const rawTxn = (tickets: string, events: string) => async () => {
        const c = await pool.connect();
        try {
          await c.query('begin');
          const t = await c.query<{ id: string }>(
            `insert into ${tickets} (id, title, description, contact_id, tags)
             values (gen_random_uuid(), $1, 'The printer is on fire again', $2, '{}') returning *`,
            [`Bench ticket ${m++}`, customer.contactId],
          );
          await c.query(
            `insert into ${events} (type, ticket_id, actor_type, actor_id, data, contact_id)
             values ('ticket.created', $1, 'user', $2, jsonb_build_object('ticket', $3::jsonb), $4)`,
            [t.rows[0]!.id, customer.id, JSON.stringify(t.rows[0]), customer.contactId],
          );
          await c.query('commit');
        } finally {
          c.release();
        }
      };
      // Anchor: no trigger, no NOTIFY, nobody listening.
      const raw = await throughput(CONCURRENCY, SECONDS, rawTxn('bench_tickets', 'bench_events'));

      // Live events on (trigger, sequencer, hub, a NOTIFY per pass), nobody subscribed.
      const rawOn = await throughput(CONCURRENCY, SECONDS, rawTxn('tickets', 'events'));
      let k = 0;
      const oursOn = await throughput(CONCURRENCY, SECONDS, () => create(k++));
      // And with the subscribers receiving every ticket: their fan-out shares
      // the same two cores.
      const live = await startSubscribers(
        server.url,
        subscriberTokens.map((t) => ({ token: t, input: { types: ['ticket.created'] } })),
        { record: false },
      );
      let rawLive: number;
      let ours: number;
      try {
        await sleep(1000);
        rawLive = await throughput(CONCURRENCY, SECONDS, rawTxn('tickets', 'events'));
        let n = 0;
        ours = await throughput(CONCURRENCY, SECONDS, () => create(n++));
      } finally {
        await live.stop().catch(() => {});
      }
      await pool.end();

      for (const l of latency) {
        console.log(
          `commit → subscriber latency, ${SUBSCRIBERS} subscribers, ${l.rate} tickets/s (${(l.rate * SUBSCRIBERS).toLocaleString('en-US')} deliveries/s) for ${SECONDS * 2} s: ` +
            `p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms, max ${fmt(l.max)} ms over ${l.n.toLocaleString('en-US')} deliveries ` +
            `(target p99 < 100 ms: ${l.p99 < 100 ? 'met' : 'NOT met'})`,
        );
      }
      const anchorName = `raw txn x${CONCURRENCY}, no trigger/NOTIFY`;
      const rowsOut = [
        { name: 'same raw txn, live events on', value: rawOn, unit: 'tickets/s', anchor: raw, anchorName },
        { name: "tickets.create's txn (createTicket), live on", value: oursOn, unit: 'tickets/s', anchor: raw, anchorName },
        { name: `same raw txn, live on, ${SUBSCRIBERS} subs receiving`, value: rawLive, unit: 'tickets/s', anchor: raw, anchorName },
        { name: `createTicket, live on, ${SUBSCRIBERS} subs receiving`, value: ours, unit: 'tickets/s', anchor: raw, anchorName },
      ];
      report(rowsOut);
      console.log(
        `(target ratio ≥ 0.6 with live events on: the same transaction ${rawOn / raw >= 0.6 ? 'met' : 'NOT met'}, ` +
          `tickets.create's transaction ${oursOn / raw >= 0.6 ? 'met' : 'NOT met'}. With ${SUBSCRIBERS} subscribers receiving ` +
          `every ticket at full speed, their fan-out shares the two cores with the writers.)`,
      );
      return { latency, raw, rawOn, oursOn, rawLive, ours };
    } catch (err) {
      console.error('[bench] events failed:', err);
      throw err;
    } finally {
      await server.stop();
    }
  } finally {
    await boss.stop({ close: true, graceful: false }).catch(() => {});
    await b.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchEvents();
