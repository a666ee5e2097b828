// Claims per second: agents calling tickets.claim over HTTP at 8, 64 and 256
// concurrent agents, beside a raw-SQL FOR UPDATE SKIP LOCKED claim of one
// ticket per transaction at 8 connections, on the same database, in this run.
//
// The unit of work is a ticket moved from the queue to an agent. The anchor
// moves one per transaction; an agent's tickets.claim moves a batch of up to
// 15 per call (its real use: "fetch up to 15, oldest first"). Both figures are
// printed: calls/s, and tickets/s, which is what the ratio compares. Every
// call is made by an agent holding nothing, so each call takes a full batch.
import { sql } from 'kysely';
import pg from 'pg';
import { createRelaydeskClient } from '@relaydesk/client';
import { startServer } from '../test/helpers/server.ts';
import { benchDatabase, insertAgents, insertTickets, report, throughput } from './harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

export async function benchClaims() {
  const b = await benchDatabase();
  try {
    const agents = await insertAgents(b.db, 30_000);
    await insertTickets(b.db, 300_000);
    // Agents' tokens are in use already: the server records a token's use at
    // most every 5 minutes, and a fresh token would add that write to each call.
    await sql`update api_tokens set last_used_at = now()`.execute(b.db);

    // Anchor: the naive queue claim, straight SQL, 8 connections.
    const pool = new pg.Pool({ connectionString: b.url, max: 8 });
    let next = 0;
    const raw = await throughput(8, SECONDS, async () => {
      const agent = agents[next++ % agents.length]!.id;
      await pool.query(
        `update tickets set assignee_id = $1, version = version + 1, updated_at = now()
          where id = (select id from tickets where assignee_id is null and status = 'open'
                      order by id limit 1 for update skip locked)
          returning id`,
        [agent],
      );
    });
    await pool.end();

    const server = await startServer(b.url, { LOG_LEVEL: 'error', AUTO_ASSIGN: 'false' });
    const rows = [];
    try {
      const clients = agents.map((a) => createRelaydeskClient({ url: server.url, token: a.token }));
      let unused = next; // agents the anchor used hold a ticket; start after them
      for (const concurrency of [8, 64, 256]) {
        let tickets = 0;
        const started = performance.now();
        const calls = await throughput(concurrency, SECONDS, async () => {
          const rd = clients[unused++ % clients.length]!;
          const r = await rd.tickets.claim.mutate({ limit: 15 });
          if (r.claimed !== 15) throw new Error(`expected a batch of 15, got ${r.claimed}`);
          tickets += r.claimed;
        });
        const perSecond = tickets / ((performance.now() - started) / 1000);
        rows.push({
          name: `tickets.claim HTTP, ${concurrency} agents (${Math.round(calls)} calls/s)`,
          value: perSecond,
          unit: 'tickets/s',
          anchor: raw,
          anchorName: 'raw SKIP LOCKED x8',
        });
      }
    } finally {
      await server.stop();
    }
    report(rows);
    return rows;
  } finally {
    await b.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchClaims();
