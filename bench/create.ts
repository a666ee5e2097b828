// Ticket creation over HTTP, end to end, at the durability `npm start` uses
// (fsync and synchronous_commit on): 16 SDK clients creating tickets on a
// real server while a real worker assigns every one (without an LLM the
// built-in model classifies each in its create transaction), beside
//   - the same rows (ticket, its two events, an assignment job) written by
//     raw-SQL transactions on 16 connections (the anchor), and
//   - a bare node:http server doing that transaction per request, driven the
//     same way: the nearest simple system, which shows what the framework costs.
// Then one client alone: a create's p50 beside the raw transaction plus a
// bare HTTP round trip. Job pickup (pg-boss created → started) for the
// assignment jobs; and, with an LLM configured (a local fake of Groq's API,
// where classification is a job), the same two phases again for the
// classification jobs.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import pg from 'pg';
import { createRelaydeskClient } from '@relaydesk/client';
import { createBoss } from '../server/src/core/jobs/boss.ts';
import { issueToken } from '../server/src/core/users/auth.ts';
import { createUser } from '../server/src/core/users/create.ts';
import { startServer } from '../test/helpers/server.ts';
import { startWorker } from '../test/helpers/worker.ts';
import { startFakeGroq } from '../test/helpers/fake-groq.ts';
import { rawCreate } from './create-sql.ts';
import { benchDatabase, fmt, insertAgents, percentile, record, throughput } from './harness.ts';

const CLIENTS = Number(process.env.BENCH_CREATE_CLIENTS ?? 16);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SINGLE = Number(process.env.BENCH_CREATE_SINGLE ?? 300);
const here = path.dirname(fileURLToPath(import.meta.url));

const ticket = (i: number) => ({ title: `Bench ${i}: the invoice page shows an error`, description: 'It fails every time I try to pay my invoice.' });

async function startBare(url: string, contactId: string): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(path.join(here, 'bare-create.ts'), [], { env: { ...process.env, DATABASE_URL: url, CONTACT_ID: contactId, POOL: String(CLIENTS) }, stdio: 'inherit' });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`bare server exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** p50/p99 of pg-boss's created → started, in ms, for a queue's jobs created since `since`. */
async function pickup(db: Kysely<Database>, queue: string, since: Date) {
  const { rows } = await sql<{ ms: number }>`
    select extract(epoch from (started_on - created_on)) * 1000 as ms from pgboss.job
     where name = ${queue} and created_on >= ${since} and started_on is not null`.execute(db);
  const ms = rows.map((r) => Number(r.ms));
  return { n: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

interface Stack {
  url: string;
  stop(): Promise<void>;
}

/** The server and one worker, as `npm start` runs them, with `env` added. */
async function startStack(url: string, env: Record<string, string>, children: ChildProcess[]): Promise<Stack> {
  const server = await startServer(url, { LOG_LEVEL: 'warn', ...env });
  children.push(server.child);
  const worker = await startWorker(url, { LOG_LEVEL: 'warn', ...env });
  children.push(worker.child);
  return {
    url: server.url,
    async stop() {
      await worker.stop();
      await server.stop();
    },
  };
}

type Client = ReturnType<typeof createRelaydeskClient>;

/**
 * CLIENTS clients creating for SECONDS; then waits until every ticket of the
 * window is classified and assigned (how long after the window that took),
 * and reads the jobs' pickup.
 */
async function loadPhase(db: Kysely<Database>, clients: Client[], next: () => number, opts: { llm?: boolean } = {}) {
  const since = new Date();
  let ids = 0;
  const rate = await throughput(CLIENTS, SECONDS, async (loop) => {
    await clients[loop]!.tickets.create.mutate(ticket(next()));
    ids++;
  });
  const windowEnd = performance.now();
  for (;;) {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from tickets where created_at >= ${since}
         and (assignee_id is null or category is null or (${opts.llm ?? false} and classification->>'source' is distinct from 'llm'))`.execute(db);
    if (rows[0]!.n === 0) break;
    if (performance.now() - windowEnd > 120_000) throw new Error(`${rows[0]!.n} tickets still unassigned or unclassified 2 minutes after the window`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const settled = performance.now() - windowEnd;
  const jobs = { assign: await pickup(db, 'ticket.assign', since), classify: await pickup(db, 'ticket.classify', since) };
  if (opts.llm && jobs.classify.n !== ids) throw new Error(`${ids} tickets with an LLM configured, but ${jobs.classify.n} classification jobs`);
  return { rate, ids, settled, pickup: jobs };
}

/** One client, SINGLE creates spaced out so each job is picked up from idle, as in normal traffic. */
async function quietPhase(db: Kysely<Database>, client: Client, next: () => number) {
  await new Promise((r) => setTimeout(r, 1000));
  const since = new Date();
  const latencies: number[] = [];
  for (let i = 0; i < SINGLE; i++) {
    const t0 = performance.now();
    await client.tickets.create.mutate(ticket(next()));
    latencies.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 1000));
  return { latencies, pickup: { assign: await pickup(db, 'ticket.assign', since), classify: await pickup(db, 'ticket.classify', since) } };
}

export async function benchCreate() {
  // The embedded Postgres as npm start runs it: fsync and synchronous_commit on.
  const b = await benchDatabase({ fsync: 'on', synchronous_commit: 'on' });
  const boss = createBoss(b.url, { max: 1 });
  boss.on('error', () => {});
  await boss.start();
  await boss.createQueue('bench.raw');
  const children: ChildProcess[] = [];
  try {
    await insertAgents(b.db, 50, 1000);
    const customer = await createUser(b.db, null, { name: 'Bench customer', email: 'customer@bench.test', role: 'customer' });
    const { token } = await issueToken(b.db, customer.id, 'bench');
    const contactId = customer.contactId!;

    // ---- anchors: raw transaction, bare HTTP --------------------------------
    const pool = new pg.Pool({ connectionString: b.url, max: CLIENTS });
    let n = 0;
    const raw = await throughput(CLIENTS, SECONDS, () => rawCreate(pool, contactId, ticket(n).title, ticket(n++).description));
    const rawSingle: number[] = [];
    for (let i = 0; i < SINGLE; i++) {
      const t0 = performance.now();
      await rawCreate(pool, contactId, ticket(i).title, ticket(i).description);
      rawSingle.push(performance.now() - t0);
    }

    const bare = await startBare(b.url, contactId);
    children.push(bare.child);
    const post = (i: number) =>
      fetch(`${bare.url}/create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ticket(i)) }).then((r) => r.json());
    const bareRate = await throughput(CLIENTS, SECONDS, () => post(n++));
    const rtt: number[] = [];
    for (let i = 0; i < SINGLE; i++) {
      const t0 = performance.now();
      await fetch(`${bare.url}/ping`).then((r) => r.json());
      rtt.push(performance.now() - t0);
    }
    bare.child.kill();
    await pool.end();
    // The anchors' rows must not be assigned or classified by the worker below.
    await sql`update tickets set status = 'closed', resolved_at = now()`.execute(b.db);
    await sql`delete from pgboss.job where name = 'bench.raw'`.execute(b.db);

    // ---- tickets.create through the SDK, server + worker -------------------
    // Without an LLM (the default): the built-in model classifies in the
    // create transaction; the worker assigns every ticket.
    let stack = await startStack(b.url, {}, children);
    const clients = Array.from({ length: CLIENTS }, () => createRelaydeskClient({ url: stack.url, token }));
    await clients[0]!.tickets.create.mutate(ticket(0)); // warm: the first request loads code paths
    const load = await loadPhase(b.db, clients, () => n++);
    const quiet = await quietPhase(b.db, clients[0]!, () => n++);
    await stack.stop();

    // With an LLM (a local fake of Groq's API): classification is a job too,
    // so its pickup is measured the same way.
    const fake = await startFakeGroq();
    let llm: Awaited<ReturnType<typeof loadPhase>>;
    let llmQuiet: Awaited<ReturnType<typeof quietPhase>>;
    try {
      stack = await startStack(b.url, { GROQ_API_KEY: 'test-groq-key', GROQ_BASE_URL: fake.url }, children);
      const llmClients = clients.map(() => createRelaydeskClient({ url: stack.url, token }));
      await llmClients[0]!.tickets.create.mutate(ticket(0));
      llm = await loadPhase(b.db, llmClients, () => n++, { llm: true });
      llmQuiet = await quietPhase(b.db, llmClients[0]!, () => n++);
      await stack.stop();
    } finally {
      await fake.close();
    }
    const loadPickup = { assign: load.pickup.assign, classify: llm.pickup.classify };
    const quietPickup = { assign: quiet.pickup.assign, classify: llmQuiet.pickup.classify };
    const { rate: sdkRate, settled } = load;
    const single = quiet.latencies;

    record({ name: `tickets.create over HTTP, ${CLIENTS} SDK clients`, figure: `${fmt(sdkRate)}/s`, anchor: `raw transaction x${CLIENTS}: ${fmt(raw)}/s`, ratio: sdkRate / raw });
    console.log(`  ${load.ids} tickets in ${SECONDS} s, all classified at creation and assigned ${(settled / 1000).toFixed(2)} s after the window`);
    record({
      name: `tickets.create over HTTP with an LLM, ${CLIENTS} clients`,
      figure: `${fmt(llm.rate)}/s`,
      anchor: `the same raw transaction (the rows without an LLM) x${CLIENTS}: ${fmt(raw)}/s`,
      ratio: llm.rate / raw,
    });
    console.log(`  with the LLM: ${llm.ids} tickets in ${SECONDS} s, all classified by the LLM and assigned ${(llm.settled / 1000).toFixed(2)} s after the window`);
    record({ name: `bare node:http + pg, same transaction, ${CLIENTS} clients`, figure: `${fmt(bareRate)}/s`, anchor: `raw transaction x${CLIENTS}: ${fmt(raw)}/s`, ratio: bareRate / raw });
    record({ name: 'tickets.create over HTTP vs bare node:http', figure: `${fmt(sdkRate)}/s`, anchor: `bare: ${fmt(bareRate)}/s`, ratio: sdkRate / bareRate });
    const p50 = percentile(single, 50);
    const floor = percentile(rawSingle, 50) + percentile(rtt, 50);
    record({
      name: 'tickets.create, one client, p50',
      figure: `${p50.toFixed(2)} ms (p95 ${percentile(single, 95).toFixed(2)})`,
      anchor: `raw transaction p50 ${percentile(rawSingle, 50).toFixed(2)} ms + bare HTTP round trip p50 ${percentile(rtt, 50).toFixed(2)} ms`,
      ratio: floor / p50,
    });
    for (const [phase, p] of [
      ['one client', quietPickup],
      [`${CLIENTS} clients`, loadPickup],
    ] as const) {
      for (const q of ['assign', 'classify'] as const) {
        record({
          name: `job pickup ticket.${q}${q === 'classify' ? ' (LLM configured)' : ''}, ${phase}`,
          figure: `p50 ${p[q].p50.toFixed(1)} ms, p99 ${p[q].p99.toFixed(1)} ms`,
          anchor: `${p[q].n} jobs; target p50 < 20 ms, p99 < 100 ms`,
          ratio: 20 / Math.max(p[q].p50, 0.001),
        });
      }
    }
    return { sdkRate, raw, bareRate, p50, floor, quietPickup, loadPickup, settled };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await boss.stop({ graceful: false, close: true });
    await b.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchCreate();
