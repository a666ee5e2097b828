// AI: the built-in classifier's accuracy on held-out tickets (beside the
// majority-class baseline), and the latency of the classify and draft jobs
// through real worker processes, built-in and with the LLM (a local fake of
// Groq's API that answers at once, so the figure is ours, not a model's),
// beside the raw SQL each job's write amounts to, in this run.
//
// Latencies are measured on the database's clock: from the ticket's (or the
// job's) creation to the event the job commits. Most of a job's latency is
// pg-boss picking it up (workers poll every 0.5 s); the anchor is the job's
// own database work.
import pg from 'pg';
import { sql } from 'kysely';
import type { Category, Priority } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import { crossValidate, evaluateBuiltin, loadDataset, builtinClassifier } from '../server/src/core/ai/classifier.ts';
import { LIVE_CHANNEL } from '../server/src/core/events/live.ts';
import { createJobs } from '../server/src/core/jobs/send.ts';
import { similarResolved } from '../server/src/core/ai/queries.ts';
import { createTicket } from '../server/src/core/tickets/create.ts';
import { createUser } from '../server/src/core/users/create.ts';
import type { SessionUser } from '../server/src/api/trpc.ts';
import { startFakeGroq } from '../test/helpers/fake-groq.ts';
import { startWorker } from '../test/helpers/worker.ts';
import { createBoss } from '../server/src/core/jobs/boss.ts';
import { benchDatabase, fmt, percentile, record } from './harness.ts';

const TICKETS = Number(process.env.BENCH_AI_TICKETS ?? 100);
const DRAFTS = Number(process.env.BENCH_AI_DRAFTS ?? 20);
const pct = percentile;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pctLine = (name: string, xs: number[], anchorName: string, anchor: number[]) =>
  record({
    name,
    figure: `p50 ${fmt(pct(xs, 50))} ms, p95 ${fmt(pct(xs, 95))} ms`,
    anchor: `${anchorName}: p50 ${fmt(pct(anchor, 50))} ms`,
    ratio: pct(anchor, 50) / pct(xs, 50),
  });

export async function benchAi() {
  // ---- accuracy ----------------------------------------------------------------
  const data = loadDataset();
  const e = evaluateBuiltin(data);
  const cv = crossValidate(data);
  console.log(`built-in classifier: ${data.length} labelled tickets, trained in ${Math.round(e.trainMs)} ms on ${e.train}, scored on ${e.test} held out`);
  const acc = (name: string, value: number, baseline: number) =>
    record({ name, figure: `${(value * 100).toFixed(1)} %`, anchor: `majority class: ${(baseline * 100).toFixed(1)} %`, ratio: value / baseline });
  acc('category accuracy, held-out fifth', e.categoryAccuracy, e.categoryBaseline);
  acc('priority accuracy, held-out fifth', e.priorityAccuracy, e.priorityBaseline);
  console.log(`${'both right, held-out fifth'.padEnd(44)} ${(e.jointAccuracy * 100).toFixed(1).padStart(7)} %`);
  const share = (key: 'category' | 'priority') => {
    const counts = new Map<string, number>();
    for (const t of data) counts.set(t[key], (counts.get(t[key]) ?? 0) + 1);
    return Math.max(...counts.values()) / data.length;
  };
  acc('category accuracy, 5-fold cross-validation', cv.categoryAccuracy, share('category'));
  acc('priority accuracy, 5-fold cross-validation', cv.priorityAccuracy, share('priority'));
  const model = builtinClassifier();
  const t0 = performance.now();
  for (const t of data) model.classify(t);
  console.log(`${'built-in prediction'.padEnd(44)} ${fmt(((performance.now() - t0) * 1000) / data.length).padStart(7)} µs per ticket`);

  // ---- job latencies -------------------------------------------------------------
  const b = await benchDatabase();
  const fake = await startFakeGroq();
  const boss = createBoss(b.url, { max: 2 });
  boss.on('error', () => {});
  await boss.start();
  try {
    const admin = await createUser(b.db, null, { name: 'Bench admin', email: 'admin@bench.test', role: 'admin' });
    const caller: SessionUser = { id: admin.id, name: admin.name, email: admin.email, role: 'admin', contactId: null, tokenId: '' };
    const jobs = createJobs(boss, false, async () => {}, { classify: true });
    // Resolved tickets for the drafts' similarity search: the dataset with its resolutions.
    const contact = uuidv7();
    await b.db.insertInto('contacts').values({ id: contact, email: 'c@bench.test', name: 'Bench' }).execute();
    await b.db
      .insertInto('tickets')
      .values(
        data.map((t) => ({
          id: uuidv7(),
          title: t.title,
          description: t.description,
          category: t.category,
          priority: t.priority,
          contact_id: contact,
          status: 'resolved' as const,
          resolution: t.resolution,
          resolved_at: new Date(),
        })),
      )
      .execute();
    await sql`analyze tickets`.execute(b.db);

    // Anchor: the classify job's write as raw SQL (lock, update, event), one transaction.
    const pool = new pg.Pool({ connectionString: b.url, max: 2 });
    const anchorTicket = await createTicket(b.db, { ...jobs, classify: false }, caller, { title: 'anchor', description: 'anchor' });
    const classifyAnchor: number[] = [];
    for (let i = 0; i < TICKETS; i++) {
      const started = performance.now();
      const c = await pool.connect();
      try {
        await c.query('begin');
        await c.query('select id from tickets where id = $1 for update', [anchorTicket.id]);
        await c.query(`update tickets set category = 'billing', priority = 'low', classification = '{"source":"builtin","confidence":0.5}', version = version + 1 where id = $1`, [anchorTicket.id]);
        await c.query(`insert into events (type, ticket_id, data) values ('ticket.classified', $1, '{}')`, [anchorTicket.id]);
        await c.query('commit');
      } finally {
        c.release();
      }
      classifyAnchor.push(performance.now() - started);
    }

    const modes: { name: string; env: Record<string, string> }[] = [
      // Built-in in a worker: the path a ticket takes when a configured LLM fails (without one, the server classifies inline).
      { name: 'built-in, as a failing LLM falls back', env: {} },
      { name: 'LLM (fake Groq, instant)', env: { GROQ_API_KEY: 'test-groq-key', GROQ_BASE_URL: fake.url, AI_LLM_COOLDOWN_MS: '0' } },
    ];
    for (const mode of modes) {
      const worker = await startWorker(b.url, { LOG_LEVEL: 'error', AUTO_ASSIGN: 'false', ...mode.env });
      try {
        const ids: string[] = [];
        // 20 new tickets per second, texts from the dataset.
        for (let i = 0; i < TICKETS; i++) {
          const t = data[(i * 7) % data.length]!;
          ids.push((await createTicket(b.db, jobs, caller, { title: t.title, description: t.description })).id);
          await sleep(50);
        }
        const latencies = await waitForAll(b.db, ids);
        pctLine(`classify job, ${mode.name}`, latencies, 'raw SQL write', classifyAnchor);
      } finally {
        await worker.stop();
      }
    }

    // Anchor: the offline draft's reads and write as raw SQL (similar tickets, message, two events).
    const target = await createTicket(b.db, { ...jobs, classify: false }, caller, {
      title: 'Charged twice for my subscription',
      description: 'My card was billed two times this month for the Growth plan, please refund one.',
      category: 'billing' as Category,
      priority: 'high' as Priority,
    });
    const draftAnchor: number[] = [];
    for (let i = 0; i < DRAFTS; i++) {
      const started = performance.now();
      const similar = await similarResolved(b.db, target.id, 3);
      const c = await pool.connect();
      try {
        await c.query('begin');
        await c.query('select id from tickets where id = $1 for update', [target.id]);
        const m = await c.query(`insert into messages (id, ticket_id, author_type, body, internal) values ($1, $2, 'ai', $3, true) returning id`, [
          uuidv7(),
          target.id,
          similar.map((s) => s.resolution).join('\n'),
        ]);
        await c.query(`insert into events (type, ticket_id, data, internal) values ('message.created', $1, '{}', true), ('ai.draft.completed', $1, $2, true)`, [
          target.id,
          { messageId: m.rows[0].id },
        ]);
        await c.query('commit');
      } finally {
        c.release();
      }
      draftAnchor.push(performance.now() - started);
    }

    // Time to the first delta, as a subscriber would see it: the live channel, on this clock.
    const listener = new pg.Client({ connectionString: b.url });
    await listener.connect();
    const firstDelta = new Map<string, number>();
    listener.on('notification', (msg) => {
      const d = JSON.parse(msg.payload ?? '{}') as { data?: { draftId?: string } };
      const id = d.data?.draftId;
      if (id && !firstDelta.has(id)) firstDelta.set(id, performance.now());
    });
    await listener.query(`listen ${LIVE_CHANNEL}`);
    for (const mode of modes) {
      const worker = await startWorker(b.url, { LOG_LEVEL: 'error', AUTO_ASSIGN: 'false', ...mode.env });
      try {
        const sent = new Map<string, number>();
        for (let i = 0; i < DRAFTS; i++) {
          const draftId = uuidv7();
          sent.set(draftId, performance.now());
          await b.db.transaction().execute((trx) => jobs.send(trx, 'ticket.ai-draft', { ticketId: target.id, draftId, requestedBy: admin.id }));
          await sleep(200);
        }
        const latencies = await waitForDrafts(b.db, [...sent.keys()]);
        pctLine(`draft job to completed, ${mode.name}`, latencies, 'raw SQL offline draft', draftAnchor);
        const first = [...sent].filter(([id]) => firstDelta.has(id)).map(([id, at]) => firstDelta.get(id)! - at);
        if (first.length) {
          console.log(
            `${`draft request to first delta, ${mode.name}`.padEnd(44)} p50 ${fmt(pct(first, 50)).padStart(7)} ms, p95 ${fmt(pct(first, 95)).padStart(7)} ms (the fake streams ${fake.draftText.split(' ').length} words, 15 ms apart)`,
          );
        }
      } finally {
        await worker.stop();
      }
    }
    await listener.end();
    await pool.end();
  } finally {
    await boss.stop({ graceful: false, close: true }).catch(() => {});
    await fake.close();
    await b.close();
  }
}

type Db = import('kysely').Kysely<import('@relaydesk/db').Database>;

/** Polls `query` (rows of latencies in ms) until it returns `n` rows. */
async function latencies(db: Db, n: number, what: string, query: import('kysely').RawBuilder<{ ms: number }>): Promise<number[]> {
  for (let i = 0; ; i++) {
    const { rows } = await query.execute(db);
    if (rows.length === n) return rows.map((r) => Number(r.ms));
    if (i > 1200) throw new Error(`only ${rows.length} of ${n} ${what}`);
    await sleep(100);
  }
}

/** Creation → ticket.classified, in ms, per ticket (database clock). */
const waitForAll = (db: Db, ids: string[]) =>
  latencies(
    db,
    ids.length,
    'tickets classified',
    sql<{ ms: number }>`
      select extract(epoch from (e.occurred_at - t.created_at)) * 1000 as ms
        from tickets t join events e on e.ticket_id = t.id and e.type = 'ticket.classified'
       where t.id = any(${ids}::uuid[])`,
  );

/** Job creation → ai.draft.completed, in ms, per draft (database clock). */
const waitForDrafts = (db: Db, draftIds: string[]) =>
  latencies(
    db,
    draftIds.length,
    'drafts completed',
    sql<{ ms: number }>`
      select extract(epoch from (e.occurred_at - j.created_on)) * 1000 as ms
        from pgboss.job j join events e on e.type = 'ai.draft.completed' and e.data->>'draftId' = j.data->>'draftId'
       where j.name = 'ticket.ai-draft' and j.data->>'draftId' = any(${draftIds}::text[])`,
  );
