// A mixed load on the seeded million tickets: 1,000 agents working their
// queues (list, open, reply, change status, resolve, claim, search) over HTTP,
// 1,000 live subscribers, and customers creating tickets that workers assign
// and classify — for BENCH_MIXED_SECONDS (default 600).
//
// The load is open-loop at a fixed offered rate (each action is started on
// schedule whether or not earlier ones finished; an agent does one thing at a
// time), so latency is measured as users feel it, not hidden by a slow
// generator. Reported: sustained throughput per minute, p50/p99 per action
// beside the same action as raw SQL at the same rate (measured first, in
// this run), live-delivery latency, job lag, dead-tuple counts of the queue
// and log tables, and the processes' memory over time.
import fs from 'node:fs';
import { sql } from 'kysely';
import pg from 'pg';
import { createRelaydeskClient, type RelaydeskClient } from '@relaydesk/client';
import { issueToken } from '../server/src/core/users/auth.ts';
import { ticketColumns } from '../server/src/core/tickets/queries.ts';
import { createUser } from '../server/src/core/users/create.ts';
import type { SeedResult } from '../scripts/seed.ts';
import { startServer } from '../test/helpers/server.ts';
import { startWorker, waitFor } from '../test/helpers/worker.ts';
import { createBoss } from '../server/src/core/jobs/boss.ts';
import { fmt, insertTokens, percentile, record, type BenchDb } from './harness.ts';
import { describeWindow, startMonitor, type LoadView } from './monitor.ts';
import { startSubscribers, type Subscribers, type Subscription } from './subscribers.ts';

const SECONDS = Number(process.env.BENCH_MIXED_SECONDS ?? 600);
const RATE = Number(process.env.BENCH_MIXED_RATE ?? 100); // agent actions per second, all agents together
const CREATES = Number(process.env.BENCH_MIXED_CREATES ?? 5); // new tickets per second
const AGENTS = Number(process.env.BENCH_MIXED_AGENTS ?? 1000);
const DASHBOARDS = 100; // subscribers to the whole stream of new/assigned/resolved tickets
const ANCHOR_SECONDS = Number(process.env.BENCH_MIXED_ANCHOR_SECONDS ?? 60);
const TRACE = process.env.BENCH_MIXED_TRACE === '1';
const BURST = Number(process.env.BENCH_MIXED_BURST ?? 0);

const KINDS = ['queue', 'open', 'reply', 'status', 'resolve', 'claim', 'search', 'create'] as const;
type Kind = (typeof KINDS)[number];
/** How often an agent does each thing (creates come from customers, at their own rate). */
const WEIGHTS: [Exclude<Kind, 'create'>, number][] = [
  ['queue', 30],
  ['open', 25],
  ['reply', 18],
  ['status', 8],
  ['resolve', 8],
  ['claim', 6],
  ['search', 5],
];
const TERMS = ['invoice', 'password reset', 'refund', 'login', 'export', 'charged twice', 'webhook', 'sso'];
const OPEN = ['open', 'in_progress', 'waiting'] as const;
const COLUMNS = ticketColumns.join(', ');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

interface Agent {
  id: string;
  rd: RelaydeskClient;
  tickets: string[];
  busy: boolean;
}

/** An action for an agent, as the SDK (ours) or as raw SQL (the anchor). */
interface Driver {
  act(kind: Kind, agent: Agent, i: number): Promise<void>;
}

function pickKind(r: number): Exclude<Kind, 'create'> {
  const total = WEIGHTS.reduce((s, [, w]) => s + w, 0);
  let x = r * total;
  for (const [k, w] of WEIGHTS) if ((x -= w) < 0) return k;
  return 'queue';
}

const pickTicket = (a: Agent, i: number) => a.tickets[i % Math.max(1, a.tickets.length)];

/**
 * The seed leaves its newest open tickets unassigned while every agent has
 * room, a state a running desk never sits in: the workers assign them all at
 * once, a burst of thousands of `ticket.assigned` events to every dashboard.
 * That burst is measured on its own (bench/README.md); here it is let run
 * out before the subscribers attach, so the window measures steady work.
 */
async function warmUp(url: string, q: (text: string) => Promise<pg.QueryResult>) {
  const started = performance.now();
  const waiting = async () =>
    Number(
      (
        await q(`select count(*) as n from tickets where assignee_id is null and status = 'open'
                  and exists (select 1 from users where role = 'agent' and active and open_tickets < capacity)`)
      ).rows[0].n,
    );
  const before = await waiting();
  const boss = createBoss(url, { max: 1 });
  boss.on('error', () => {});
  await boss.start();
  try {
    // A job assigns at most 500: send drains until nothing assignable is left.
    for (let left = before; left > 0 && performance.now() - started < 300_000; left = await waiting()) {
      await boss.send('ticket.assign', { reason: 'sweep' });
      await waitFor('the assignment jobs to finish', async () =>
        Number((await q(`select count(*) as n from pgboss.job where name = 'ticket.assign' and state in ('created', 'active')`)).rows[0].n) === 0,
      120_000);
    }
  } finally {
    await boss.stop({ graceful: false, close: true });
  }
  console.log(`  warm-up: the workers assigned the seed's ${before.toLocaleString('en-US')} waiting tickets in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** An error and its causes: "fetch failed" alone does not say whether a connection timed out or was closed. */
function causes(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: string; code?: string; cause?: unknown } | undefined; e && parts.length < 5; e = e.cause as typeof e) {
    parts.push(`${e.message ?? String(e)}${e.code ? ` [${e.code}]` : ''}`);
  }
  return parts.join(' ← ');
}

/** Runs the open-loop schedule for `seconds`; returns latencies per kind and error count. */
async function drive(driver: Driver, agents: Agent[], seconds: number, onMinute?: (done: number) => void, live?: LoadView) {
  const lat = new Map<Kind, number[]>(KINDS.map((k) => [k, []]));
  const errors: string[] = [];
  let done = 0;
  let skipped = 0;
  let i = 0;
  const inflight = new Set<Promise<void>>();
  const run = (kind: Kind, agent: Agent) => {
    const n = i++;
    const t = performance.now();
    const p = driver
      .act(kind, agent, n)
      .then(
        () => {
          const ms = performance.now() - t;
          lat.get(kind)!.push(ms);
          live?.window.push(ms);
          done++;
        },
        (err: Error) => {
          if (live) live.errors++;
          if (errors.length < 20) errors.push(`${kind}: ${causes(err)}`);
          else errors.push('');
        },
      )
      .finally(() => {
        agent.busy = false;
        inflight.delete(p);
        if (live) live.inflight = inflight.size;
      });
    inflight.add(p);
    if (live) live.inflight = inflight.size;
  };
  const start = performance.now();
  const end = start + seconds * 1000;
  let nextAction = start;
  let nextCreate = start;
  let nextMinute = start + 60_000;
  const creator: Agent = { id: '', rd: null as never, tickets: [], busy: false };
  while (performance.now() < end) {
    const now = performance.now();
    while (nextAction <= now) {
      // Poisson arrivals; an agent busy with the previous action hands it to another.
      nextAction += -Math.log(1 - Math.random()) * (1000 / RATE);
      let agent = agents[Math.floor(Math.random() * agents.length)]!;
      for (let tries = 0; agent.busy && tries < 10; tries++) agent = agents[Math.floor(Math.random() * agents.length)]!;
      if (agent.busy) {
        skipped++;
        continue;
      }
      agent.busy = true;
      const kind = pickKind(Math.random());
      // An agent with nothing in hand takes work first.
      run(agent.tickets.length === 0 && (kind === 'open' || kind === 'reply' || kind === 'status' || kind === 'resolve') ? 'claim' : kind, agent);
    }
    while (nextCreate <= now) {
      nextCreate += -Math.log(1 - Math.random()) * (1000 / CREATES);
      run('create', creator);
    }
    if (onMinute && now >= nextMinute) {
      onMinute(done);
      nextMinute += 60_000;
    }
    await sleep(Math.max(0, Math.min(nextAction, nextCreate) - performance.now()));
  }
  await Promise.all(inflight);
  return { lat, errors, done, skipped, seconds: (performance.now() - start) / 1000 };
}

export async function benchMixed(b: BenchDb, seeded: SeedResult) {
  const pool = new pg.Pool({ connectionString: b.url, max: 20 });
  pool.on('error', () => {});
  const q = (text: string, values: unknown[] = []) => pool.query(text, values);
  const seededAgents = seeded.agents.slice(0, AGENTS);
  const run = Date.now().toString(36); // the load may run again on the same database
  const tokens = await insertTokens(b.db, seededAgents.map((a) => a.id));
  const customers = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const u = await createUser(b.db, null, { name: `Customer ${i}`, email: `mixed-customer-${i}-${run}@bench.test`, role: 'customer' });
      return { id: u.id, contactId: u.contactId!, token: (await issueToken(b.db, u.id, 'bench')).token };
    }),
  );
  const { rows: mine } = await q(
    `select assignee_id, array_agg(id order by id desc) as ids from tickets
      where assignee_id = any($1) and status in ('open', 'in_progress', 'waiting') group by assignee_id`,
    [seededAgents.map((a) => a.id)],
  );
  const held = new Map<string, string[]>(mine.map((r) => [r.assignee_id as string, (r.ids as string[]).slice(0, 30)]));

  // ---- anchor: the same actions as raw SQL, same rate, same mix -------------------
  const rawAgents: Agent[] = seededAgents.map((a) => ({ id: a.id, rd: null as never, tickets: [...(held.get(a.id) ?? [])], busy: false }));
  const raw: Driver = {
    async act(kind, a, i) {
      const ticket = pickTicket(a, i);
      switch (kind) {
        case 'queue': {
          const { rows } = await q(
            `select ${COLUMNS} from tickets where assignee_id = $1 and status in ('open', 'in_progress', 'waiting') order by id desc limit 26`,
            [a.id],
          );
          a.tickets = rows.map((r) => r.id);
          return;
        }
        case 'open':
          if (!ticket) return;
          await q(`select ${COLUMNS} from tickets where id = $1`, [ticket]);
          await q(`select m.*, u.name, u.role from messages m left join users u on u.id = m.author_id where m.ticket_id = $1 order by m.id`, [ticket]);
          return;
        case 'reply':
        case 'status':
        case 'resolve': {
          if (!ticket) return;
          const c = await pool.connect();
          try {
            await c.query('begin');
            await c.query(`select id from tickets where id = $1 for update`, [ticket]);
            if (kind === 'reply') {
              await c.query(`insert into messages (id, ticket_id, author_type, author_id, body) values (gen_random_uuid(), $1, 'user', $2, 'Working on it')`, [ticket, a.id]);
            }
            const status = kind === 'resolve' ? 'resolved' : kind === 'status' ? OPEN[1 + (i % 2)] : null;
            await c.query(
              `update tickets set status = coalesce($2, status), resolution = case when $2 = 'resolved' then 'Fixed' else resolution end,
                      resolved_at = case when coalesce($2, status) in ('resolved', 'closed') then coalesce(resolved_at, now()) end,
                      version = version + 1, updated_at = now() where id = $1`,
              [ticket, status],
            );
            await c.query(`insert into events (type, ticket_id, data) values ('ticket.updated', $1, '{}')`, [ticket]);
            await c.query('commit');
          } catch (err) {
            await c.query('rollback');
            throw err;
          } finally {
            c.release();
          }
          if (kind === 'resolve') a.tickets = a.tickets.filter((t) => t !== ticket);
          return;
        }
        case 'claim': {
          const { rows } = await q(
            `update tickets set assignee_id = $1, version = version + 1, updated_at = now()
              where id in (select id from tickets where assignee_id is null and status = 'open' order by id limit 2 for update skip locked)
              returning id`,
            [a.id],
          );
          a.tickets.push(...rows.map((r) => r.id));
          return;
        }
        case 'search':
          await q(`select ${COLUMNS} from tickets where search @@ websearch_to_tsquery('english', $1) order by id desc limit 26`, [TERMS[i % TERMS.length]]);
          return;
        case 'create': {
          const cu = customers[i % customers.length]!;
          const c = await pool.connect();
          try {
            await c.query('begin');
            const { rows } = await c.query(`insert into tickets (id, title, description, contact_id) values (gen_random_uuid(), 'Cannot log in', 'Since this morning', $1) returning id`, [cu.contactId]);
            await c.query(`insert into events (type, ticket_id, data) values ('ticket.created', $1, '{}')`, [rows[0].id]);
            await c.query('commit');
          } finally {
            c.release();
          }
        }
      }
    },
  };
  console.log(`  anchor: the same mix as raw SQL at ${RATE} actions/s + ${CREATES} creates/s for ${ANCHOR_SECONDS} s`);
  const anchor = await drive(raw, rawAgents, ANCHOR_SECONDS);
  if (anchor.errors.length) console.log(`  anchor errors: ${anchor.errors.filter(Boolean).slice(0, 5).join('; ')}`);
  await sql`vacuum analyze tickets`.execute(b.db);

  // ---- the system --------------------------------------------------------------------
  // BENCH_SERVER_NODE_OPTIONS: e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the server under the load.
  const server = await startServer(b.url, { LOG_LEVEL: 'error', DB_POOL_SIZE: '20', ...(process.env.BENCH_SERVER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS } : {}) });
  const workers = [await startWorker(b.url, { LOG_LEVEL: 'error' }), await startWorker(b.url, { LOG_LEVEL: 'error' })];
  let subs: Subscribers | undefined;
  try {
    await warmUp(b.url, q);
    if (BURST > 0) {
      // BENCH_MIXED_BURST=N: the window opens on N waiting tickets, which the
      // workers assign at once (N events to every dashboard).
      await q(
        `insert into tickets (id, title, description, contact_id)
         select gen_random_uuid(), 'Burst ' || i, 'Waiting for an agent', $1 from generate_series(1, $2::int) i`,
        [customers[0]!.contactId, BURST],
      );
      console.log(`  burst: ${BURST.toLocaleString('en-US')} waiting tickets for the workers to assign as the load starts`);
    }
    const agents: Agent[] = seededAgents.map((a, k) => ({
      id: a.id,
      rd: createRelaydeskClient({ url: server.url, token: tokens[k]! }),
      tickets: [...(held.get(a.id) ?? [])],
      busy: false,
    }));
    const customerClients = customers.map((c) => createRelaydeskClient({ url: server.url, token: c.token }));

    // 1,000 live subscribers: dashboards on the whole stream of new, assigned and
    // resolved tickets, and every other agent following the ticket they have open.
    // In a process of their own (bench/subscribers.ts), as the browsers they stand for.
    const subscriptions: Subscription[] = [];
    for (const [k, a] of agents.entries()) {
      const input =
        k < DASHBOARDS
          ? { types: ['ticket.created', 'ticket.assigned', 'ticket.resolved'] }
          : { ticketId: a.tickets[0] ?? (await q(`select id from tickets order by id desc limit 1 offset $1`, [k])).rows[0].id };
      subscriptions.push({ token: tokens[k]!, input });
    }
    subs = await startSubscribers(server.url, subscriptions);
    await sleep(3000);

    const ours: Driver = {
      async act(kind, a, i) {
        const ticket = pickTicket(a, i);
        switch (kind) {
          case 'queue': {
            const page = await a.rd.tickets.list.query({ assigneeId: a.id, status: [...OPEN] });
            a.tickets = page.items.map((t) => t.id);
            return;
          }
          case 'open':
            if (ticket) await a.rd.tickets.get.query({ id: ticket });
            return;
          case 'reply':
            if (ticket) await a.rd.messages.add.mutate({ ticketId: ticket, body: 'Thanks, I am working on it and will update you shortly.' });
            return;
          case 'status':
            if (ticket) await a.rd.tickets.update.mutate({ id: ticket, status: OPEN[1 + (i % 2)]! });
            return;
          case 'resolve':
            if (!ticket) return;
            await a.rd.tickets.update.mutate({ id: ticket, status: 'resolved', resolution: 'Fixed: cleared the cache and re-synced the account.' });
            a.tickets = a.tickets.filter((t) => t !== ticket);
            return;
          case 'claim': {
            const r = await a.rd.tickets.claim.mutate({ limit: 2 });
            a.tickets.push(...r.items.map((t) => t.id));
            return;
          }
          case 'search':
            await a.rd.tickets.list.query({ search: TERMS[i % TERMS.length]! });
            return;
          case 'create':
            await customerClients[i % customerClients.length]!.tickets.create.mutate({
              title: 'Cannot log in since this morning',
              description: 'I reset my password twice and the login page still says my session expired. We are on the business plan.',
            });
        }
      },
    };

    const pids = { server: server.child.pid!, worker1: workers[0]!.child.pid!, worker2: workers[1]!.child.pid! };
    const deadTuples = async () => {
      const { rows } = await q(
        `select case when schemaname = 'pgboss' then 'pgboss (all queue tables)' else relname end as t, sum(n_dead_tup)::int as dead, sum(n_live_tup)::int as live
           from pg_stat_user_tables where schemaname = 'pgboss' or relname in ('events', 'tickets', 'messages', 'event_commits', 'ticket_count_deltas')
          group by 1 order by 1`,
      );
      return new Map(rows.map((r) => [r.t as string, { dead: r.dead as number, live: r.live as number }]));
    };
    const samples: { minute: number; done: number; mem: Record<string, number>; dead: Map<string, { dead: number; live: number }> }[] = [];
    const sample = async (minute: number, done: number) => {
      const mem = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, rssMb(pid)]));
      samples.push({ minute, done, mem, dead: await deadTuples() });
    };
    await sample(0, 0);
    const windowStart = new Date();
    console.log(`  load: ${AGENTS} agents at ${RATE} actions/s, ${CREATES} new tickets/s, ${subscriptions.length} live subscribers, 1 server + 2 workers, ${SECONDS} s`);
    let lastDone = 0;
    let minute = 0;
    // Every 5 s: a window whose actions stalled is printed with what each
    // process and Postgres were doing at the time (all windows with BENCH_MIXED_TRACE=1).
    const view: LoadView = { inflight: 0, errors: 0, window: [] };
    const startedAt = Math.round(performance.now() / 1000);
    const stalled = (w: { p99: number; errors: number; serverLoop: number | null }) => w.p99 > 1000 || w.errors > 0 || w.serverLoop === null || w.serverLoop > 500;
    const monitor = startMonitor({
      view,
      pool,
      serverUrl: server.url,
      pids: { server: server.child.pid!, worker1: workers[0]!.child.pid!, worker2: workers[1]!.child.pid!, subscribers: subs.child.pid! },
      onWindow: (w) => {
        if (TRACE || stalled(w)) console.log(`  ${stalled(w) ? 'STALL ' : ''}t+${w.at - startedAt}s: ${describeWindow(w)}`);
      },
    });
    const result = await drive(
      ours,
      agents,
      SECONDS,
      (done) => {
        minute++;
        const m = minute;
        console.log(`  minute ${m}: ${((done - lastDone) / 60).toFixed(1)} actions/s completed`);
        lastDone = done;
        void sample(m, done);
      },
      view,
    );
    await monitor.stop();
    const stalls = monitor.windows.filter(stalled);
    await sleep(2000);
    await sample(minute + 1, result.done);
    const live = await subs.stop();
    subs = undefined;
    const delivery = live.deliveries.map(([, occurredAt, receivedAt]) => receivedAt - occurredAt);

    // ---- report ------------------------------------------------------------------------
    const errorsN = result.errors.length;
    const all = [...result.lat.values()].flat();
    const allRaw = [...anchor.lat.values()].flat();
    const perMinute = samples.slice(1, -1).map((s, k) => (s.done - samples[k]!.done) / 60);
    const sustained = result.done / result.seconds;
    record({
      name: `mixed load, ${AGENTS} agents, ${Math.round(result.seconds / 60)} min: actions completed`,
      figure: `${fmt(sustained)} /s`,
      anchor: `offered: ${fmt(RATE + CREATES)} /s (per minute: ${perMinute.length ? `${fmt(Math.min(...perMinute))}–${fmt(Math.max(...perMinute))}` : 'n/a'} /s)`,
      ratio: sustained / (RATE + CREATES),
    });
    if (allRaw.length) {
      // (No anchor with BENCH_MIXED_ANCHOR_SECONDS=0, a diagnostic run.)
      record({
        name: 'mixed load, all actions: p99 latency',
        figure: `p50 ${percentile(all, 50).toFixed(1)} ms, p99 ${percentile(all, 99).toFixed(1)} ms`,
        anchor: `raw SQL, same mix and rate: p50 ${percentile(allRaw, 50).toFixed(1)} ms, p99 ${percentile(allRaw, 99).toFixed(1)} ms`,
        ratio: percentile(allRaw, 99) / percentile(all, 99),
      });
    }
    for (const k of KINDS) {
      const xs = result.lat.get(k)!;
      const rs = anchor.lat.get(k)!;
      if (!xs.length || !rs.length) continue;
      record({
        name: `  ${k} (${xs.length.toLocaleString('en-US')} calls)`,
        figure: `p50 ${percentile(xs, 50).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms`,
        anchor: `raw SQL: p50 ${percentile(rs, 50).toFixed(1)} ms, p99 ${percentile(rs, 99).toFixed(1)} ms`,
        ratio: percentile(rs, 99) / percentile(xs, 99),
      });
    }
    console.log(`5-second windows with a stall (p99 over 1 s, an error, or the server's event loop blocked over 0.5 s): ${stalls.length} of ${monitor.windows.length}`);
    console.log(`errors: ${errorsN}${errorsN ? ` (first: ${result.errors.filter(Boolean).slice(0, 5).join('; ')})` : ''}; actions skipped because every picked agent was busy: ${result.skipped}`);
    console.log(
      `live: ${live.received.toLocaleString('en-US')} events delivered to ${subscriptions.length} subscribers (in a process of their own); occurred → received p50 ${percentile(delivery, 50).toFixed(0)} ms, p99 ${percentile(delivery, 99).toFixed(0)} ms`,
    );
    const { rows: lag } = await q(
      `select name, count(*)::int as n,
              percentile_cont(0.5) within group (order by extract(epoch from started_on - created_on)) * 1000 as p50,
              percentile_cont(0.99) within group (order by extract(epoch from started_on - created_on)) * 1000 as p99,
              count(*) filter (where state = 'failed')::int as failed,
              count(*) filter (where state in ('created', 'retry', 'active'))::int as pending
         from pgboss.job where created_on >= $1 and name in ('ticket.assign', 'ticket.classify') group by name order by name`,
      [windowStart],
    );
    for (const l of lag) {
      console.log(
        `job lag ${l.name}: ${l.n.toLocaleString('en-US')} jobs, created → started p50 ${Math.round(l.p50 ?? 0)} ms, p99 ${Math.round(l.p99 ?? 0)} ms; failed ${l.failed}, still pending ${l.pending}`,
      );
    }
    const first = samples[0]!;
    const last = samples.at(-1)!;
    for (const [t, s] of last.dead) {
      const max = Math.max(...samples.map((x) => x.dead.get(t)?.dead ?? 0));
      console.log(`dead tuples ${t}: ${first.dead.get(t)?.dead ?? 0} at start, ${s.dead} at end, max ${max} (live rows ${s.live.toLocaleString('en-US')})`);
    }
    for (const p of Object.keys(pids)) {
      const series = samples.map((s) => Math.round(s.mem[p]!));
      console.log(`memory ${p} (RSS MB, each minute): ${series.join(' ')}`);
    }
    return { result, anchor, samples };
  } finally {
    await subs?.stop().catch(() => {});
    await Promise.all(workers.map((w) => w.stop()));
    await server.stop();
    await pool.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { seededDatabase } = await import('./queries.ts');
  const big = await seededDatabase();
  try {
    await benchMixed(big.b, big.seeded);
  } finally {
    await big.b.close();
  }
}
