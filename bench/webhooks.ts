// Webhook deliveries per second to a local receiver, with 1 and 2 real
// worker processes, beside a raw anchor at the same concurrency.
//
// Each round: tickets are created (their ticket.created events positioned)
// while the dispatcher's cursor row is held locked, so nothing is dispatched
// yet; the lock is released and the clock runs until the receiver has every
// delivery. That is the whole path: dispatch (deliveries and jobs in one
// transaction), pg-boss fetch, the event read, signing, the POST, the attempt
// record, completion.
//
// The anchor does the irreducible part of the same work in this process, with
// no queue: read the event row (raw SQL), sign it with standardwebhooks, POST
// it over keep-alive HTTP, insert an attempt row (raw SQL); as many loops as
// the workers run deliveries at once.
import http from 'node:http';
import { sql } from 'kysely';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { uuidv7 } from 'uuidv7';
import { createJobs } from '../server/src/core/jobs/send.ts';
import { sequencePass } from '../server/src/core/events/sequencer.ts';
import { createTicket } from '../server/src/core/tickets/create.ts';
import { createUser } from '../server/src/core/users/create.ts';
import type { SessionUser } from '../server/src/api/trpc.ts';
import { newSecret } from '../server/src/core/webhooks/signing.ts';
import { startReceiver } from '../test/helpers/receiver.ts';
import { startWorker, type WorkerProcess } from '../test/helpers/worker.ts';
import { createBoss } from '../server/src/core/jobs/boss.ts';
import { benchDatabase, fmt, report } from './harness.ts';

const N = Number(process.env.BENCH_WEBHOOKS ?? 2000);
const CONCURRENCY = 25; // WEBHOOK_CONCURRENCY's default, per worker
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchWebhooks() {
  const b = await benchDatabase();
  const boss = createBoss(b.url, { max: 1, supervise: false });
  boss.on('error', () => {});
  const receiver = await startReceiver();
  const workers: WorkerProcess[] = [];
  const workerEnv = { LOG_LEVEL: 'error', AUTO_ASSIGN: 'false', AI_CLASSIFY: 'off', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' };
  try {
    const customer = await createUser(b.db, null, { name: 'Bench customer', email: 'customer@bench.test', role: 'customer' });
    const caller: SessionUser = { id: customer.id, name: customer.name, email: customer.email, role: 'customer', contactId: customer.contactId, tokenId: '' };
    const jobs = createJobs(boss, false, async () => {});
    let k = 0;
    const secret = newSecret();
    await b.db
      .insertInto('webhook_endpoints')
      .values({ id: uuidv7(), url: receiver.url, event_types: ['ticket.created'], secret, from_position: 0 })
      .execute();

    /** N positioned ticket.created events; returns their positions. */
    const makeEvents = async () => {
      const queue = Array.from({ length: N }, () => k++);
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
            await createTicket(b.db, jobs, caller, { title: `Bench ticket ${i}`, description: 'Deliver me', category: 'general', priority: 'low' });
          }
        }),
      );
      while ((await sequencePass(b.db)) > 0);
    };

    /** Delivers the next N events with `count` workers; deliveries per second. */
    const round = async (count: number) => {
      while (workers.length < count) workers.push(await startWorker(b.url, workerEnv));
      const hold = new pg.Client({ connectionString: b.url });
      await hold.connect();
      await hold.query('begin');
      await hold.query('select * from webhook_dispatch for update');
      await makeEvents();
      const before = receiver.received.length;
      const started = performance.now();
      await hold.query('commit');
      await hold.end();
      for (let i = 0; receiver.received.length < before + N; i++) {
        if (i > 6000) throw new Error(`only ${receiver.received.length - before} of ${N} deliveries arrived in 5 min`);
        await sleep(50);
      }
      return N / ((performance.now() - started) / 1000);
    };

    // The anchor: the same work, no queue.
    await sql`create table bench_attempts (like webhook_attempts including defaults)`.execute(b.db);
    const anchor = async (concurrency: number) => {
      await makeEvents();
      const { rows } = await sql<{ position: string }>`select position from events where type = 'ticket.created' order by position desc limit ${N}`.execute(b.db);
      const positions = rows.map((r) => r.position);
      const pool = new pg.Pool({ connectionString: b.url, max: concurrency });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
      const wh = new Webhook(secret);
      const url = new URL(receiver.url);
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          for (let p = positions.pop(); p !== undefined; p = positions.pop()) {
            const e = (await pool.query('select position, type, ticket_id, actor_type, actor_id, data, occurred_at from events where position = $1', [p])).rows[0];
            const id = String(e.position).padStart(16, '0');
            const body = JSON.stringify({ type: e.type, timestamp: e.occurred_at, data: { id, type: e.type, ticketId: e.ticket_id, data: e.data } });
            const now = new Date();
            const t0 = performance.now();
            const status = await new Promise<number>((resolve, reject) => {
              const req = http.request(url, {
                method: 'POST',
                agent,
                headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': wh.sign(id, now, body) },
              });
              req.on('response', (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode ?? 0));
              });
              req.on('error', reject);
              req.end(body);
            });
            await pool.query(
              'insert into bench_attempts (delivery_id, number, started_at, duration_ms, status_code) values ($1, 1, $2, $3, $4)',
              [uuidv7(), now, Math.round(performance.now() - t0), status],
            );
          }
        }),
      );
      const rate = N / ((performance.now() - started) / 1000);
      agent.destroy();
      await pool.end();
      return rate;
    };

    console.error('[bench] webhooks: anchor, 1 worker, anchor x2, 2 workers');
    const raw1 = await anchor(CONCURRENCY);
    const one = await round(1);
    const raw2 = await anchor(2 * CONCURRENCY);
    const two = await round(2);
    report([
      { name: `webhook deliveries, 1 worker (${N.toLocaleString('en-US')})`, value: one, unit: 'deliv/s', anchor: raw1, anchorName: `raw read+sign+POST+insert x${CONCURRENCY}` },
      { name: `webhook deliveries, 2 workers (${N.toLocaleString('en-US')})`, value: two, unit: 'deliv/s', anchor: raw2, anchorName: `raw read+sign+POST+insert x${2 * CONCURRENCY}` },
    ]);
    console.log(`(2 workers / 1 worker: ${(two / one).toFixed(2)}; this machine has 2 cores shared by Postgres, the workers, the receiver and the bench)`);
    return { one, two, raw1, raw2 };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await receiver.close();
    await boss.stop({ close: true, graceful: false }).catch(() => {});
    await b.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchWebhooks();
