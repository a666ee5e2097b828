// Reads at a million tickets: tickets.list with each filter, full-text search,
// deep keyset pages, tickets.get and tickets.stats, p50/p95 over HTTP through
// the SDK. Each is beside its anchor: the same query written by hand and run
// on a raw pg connection in the same run, so the ratio is what the server
// (auth, tRPC, validation, JSON) adds to the database's own time. The stats
// anchor is the naive aggregate over the whole table (the one the stats tests
// compare against), the query the counters replace.
//
// Every sample varies its parameters (another agent, contact, search term,
// page), so no single cached row answers all of them.
import { sql } from 'kysely';
import pg from 'pg';
import { createRelaydeskClient, type RelaydeskClient } from '@relaydesk/client';
import { seed, type SeedResult } from '../scripts/seed.ts';
import { ticketColumns } from '../server/src/core/tickets/queries.ts';
import { startServer } from '../test/helpers/server.ts';
import { naiveStats } from '../test/helpers/stats.ts';
import { benchDatabase, insertTokens, latencyRow, type BenchDb, type LatencyRow } from './harness.ts';

const TICKETS = Number(process.env.BENCH_TICKETS ?? 1_000_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);

const COLUMNS = ticketColumns.join(', ');

/** Common and rare words from the seeded vocabulary, and a phrase. */
const TERMS = ['invoice', 'password reset', 'refund', 'login', '"two-factor"', 'export csv', 'charged twice', 'api rate limit', 'webhook', 'sso', 'vat', 'mobile app crash'];

interface Case {
  name: string;
  /** The SDK call for sample `i`. */
  call(i: number): Promise<unknown>;
  /** The same work in raw SQL. */
  raw(i: number): Promise<unknown>;
}

async function timeEach(samples: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return ms;
}

export interface SeededDb {
  b: BenchDb;
  seeded: SeedResult;
}

/** A bench database holding BENCH_TICKETS (default a million) seeded tickets. */
export async function seededDatabase(): Promise<SeededDb> {
  // Buffers sized as the README recommends for a small server, so a million
  // tickets' hot indexes fit in memory as they would in production.
  const b = await benchDatabase({ shared_buffers: '1GB', effective_cache_size: '4GB', work_mem: '16MB' });
  const started = performance.now();
  const seeded = await seed(b.url, { tickets: TICKETS, log: (l) => process.stdout.write(`\r  seeding: ${l}          `) });
  console.log(
    `\r  seeded ${seeded.tickets.toLocaleString('en-US')} tickets, ${seeded.contacts.toLocaleString('en-US')} contacts, ${seeded.agents.length.toLocaleString('en-US')} agents, ` +
      `${seeded.messages.toLocaleString('en-US')} messages, ${seeded.events.toLocaleString('en-US')} events in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  return { b, seeded };
}

export async function benchQueries({ b, seeded: s }: SeededDb): Promise<LatencyRow[]> {
  const pool = new pg.Pool({ connectionString: b.url, max: 2 });
  try {
    const agentIds = s.agents.map((a) => a.id);
    const [agentToken] = await insertTokens(b.db, agentIds.slice(0, 1));
    const { rows: contactRows } = await pool.query<{ id: string }>(
      `select contact_id as id from tickets group by contact_id order by count(*) desc, contact_id limit 200`,
    );
    const contacts = contactRows.map((r) => r.id);
    const { rows: deep } = await pool.query<{ id: string }>(
      `select id from tickets where status = 'closed' order by id limit ${SAMPLES} offset ${Math.floor(TICKETS / 4)}`,
    );
    const cursors = deep.map((r) => r.id);
    const { rows: someIds } = await pool.query<{ id: string }>(`select id from tickets tablesample system (1) limit ${SAMPLES}`);
    const ticketIds = someIds.map((r) => r.id);
    await sql`vacuum analyze`.execute(b.db);

    const server = await startServer(b.url, { LOG_LEVEL: 'error', AUTO_ASSIGN: 'false' });
    try {
      const rd: RelaydeskClient = createRelaydeskClient({ url: server.url, token: agentToken! });
      const agent = (i: number) => agentIds[(i * 7) % agentIds.length]!;
      const contact = (i: number) => contacts[i % contacts.length]!;
      const term = (i: number) => TERMS[i % TERMS.length]!;
      const q = (text: string, values: unknown[] = []) => pool.query(text, values);
      const page = (where: string, order = 'desc') => `select ${COLUMNS} from tickets where ${where} order by id ${order} limit 26`;

      const cases: Case[] = [
        { name: 'list, newest first', call: () => rd.tickets.list.query({}), raw: () => q(page('true')) },
        { name: 'list, status open', call: () => rd.tickets.list.query({ status: 'open' }), raw: () => q(page(`status = 'open'`)) },
        {
          name: 'list, status open+in_progress+waiting',
          call: () => rd.tickets.list.query({ status: ['open', 'in_progress', 'waiting'] }),
          raw: () => q(page(`status in ('open', 'in_progress', 'waiting')`)),
        },
        {
          name: 'list, status open, oldest first',
          call: () => rd.tickets.list.query({ status: 'open', sort: 'oldest' }),
          raw: () => q(page(`status = 'open'`, 'asc')),
        },
        { name: 'list, priority critical', call: () => rd.tickets.list.query({ priority: 'critical' }), raw: () => q(page(`priority = 'critical'`)) },
        { name: 'list, category billing', call: () => rd.tickets.list.query({ category: 'billing' }), raw: () => q(page(`category = 'billing'`)) },
        {
          name: 'list, assignee (varied agent)',
          call: (i) => rd.tickets.list.query({ assigneeId: agent(i) }),
          raw: (i) => q(page(`assignee_id = $1`), [agent(i)]),
        },
        { name: 'list, unassigned', call: () => rd.tickets.list.query({ assigneeId: null }), raw: () => q(page(`assignee_id is null`)) },
        {
          name: 'list, contact (varied)',
          call: (i) => rd.tickets.list.query({ contactId: contact(i) }),
          raw: (i) => q(page(`contact_id = $1`), [contact(i)]),
        },
        { name: 'list, tag', call: () => rd.tickets.list.query({ tag: 'refund' }), raw: () => q(page(`tags @> array['refund']::text[]`)) },
        {
          name: 'list, agent queue: assignee + open statuses',
          call: (i) => rd.tickets.list.query({ assigneeId: agent(i), status: ['open', 'in_progress', 'waiting'] }),
          raw: (i) => q(page(`assignee_id = $1 and status in ('open', 'in_progress', 'waiting')`), [agent(i)]),
        },
        {
          name: 'search (12 terms, common and rare)',
          call: (i) => rd.tickets.list.query({ search: term(i) }),
          raw: (i) => q(page(`search @@ websearch_to_tsquery('english', $1)`), [term(i)]),
        },
        {
          name: 'search + status open',
          call: (i) => rd.tickets.list.query({ search: term(i), status: 'open' }),
          raw: (i) => q(page(`search @@ websearch_to_tsquery('english', $1) and status = 'open'`), [term(i)]),
        },
        {
          name: 'deep keyset page (closed, 250k in)',
          call: (i) => rd.tickets.list.query({ status: 'closed', cursor: cursors[i % cursors.length]! }),
          raw: (i) => q(page(`status = 'closed' and id < $1`), [cursors[i % cursors.length]]),
        },
        {
          name: 'tickets.get (with messages)',
          call: (i) => rd.tickets.get.query({ id: ticketIds[i % ticketIds.length]! }),
          raw: async (i) => {
            const id = ticketIds[i % ticketIds.length];
            await q(`select ${COLUMNS} from tickets where id = $1`, [id]);
            await q(
              `select m.id, m.ticket_id, m.author_type, m.author_id, u.name, u.role, m.body, m.internal, m.created_at
                 from messages m left join users u on u.id = m.author_id where m.ticket_id = $1 order by m.id`,
              [id],
            );
          },
        },
        {
          name: 'tickets.stats',
          call: () => rd.tickets.stats.query(),
          raw: () => naiveStats(b.db),
        },
      ];

      const rows: LatencyRow[] = [];
      for (const c of cases) {
        const samples = c.name === 'tickets.stats' ? Math.min(SAMPLES, 30) : SAMPLES;
        // Warm both paths, then alternate them so drift on a shared machine hits both alike.
        await timeEach(5, c.call);
        await timeEach(5, c.raw);
        const ours: number[] = [];
        const raw: number[] = [];
        for (let i = 0; i < samples; i += 10) {
          ours.push(...(await timeEach(Math.min(10, samples - i), (k) => c.call(i + k))));
          raw.push(...(await timeEach(Math.min(10, samples - i), (k) => c.raw(i + k))));
        }
        rows.push(latencyRow(c.name, ours, raw, c.name === 'tickets.stats' ? 'full-table aggregate' : 'raw SQL'));
      }
      return rows;
    } finally {
      await server.stop();
    }
  } finally {
    await pool.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const big = await seededDatabase();
  try {
    await benchQueries(big);
  } finally {
    await big.b.close();
  }
}
