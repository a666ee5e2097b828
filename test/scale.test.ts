// The scale work: precomputed ticket counts and histogram medians behind
// tickets.stats (exact against a full-table aggregate, through inserts,
// updates, deletes, concurrent writers and roll-ups), and `npm run seed`.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql, type Kysely } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { describe, expect, it } from 'vitest';
import type { Database } from '@relaydesk/db';
import { rollUpTicketCounts } from '../server/src/core/tickets/counts.ts';
import { seed } from '../scripts/seed.ts';
import { useWorld } from './helpers/fixtures.ts';
import { naiveStats } from './helpers/stats.ts';
import { repoRoot } from './helpers/server.ts';

const run = promisify(execFile);

type Stats = Awaited<ReturnType<typeof naiveStats>>;

function expectSameStats(actual: Stats, expected: Stats) {
  const { medianFirstResponseSeconds: a1, medianResolutionSeconds: a2, ...counts } = actual;
  const { medianFirstResponseSeconds: e1, medianResolutionSeconds: e2, ...expectedCounts } = expected;
  expect(counts).toEqual(expectedCounts);
  for (const [a, e] of [[a1, e1], [a2, e2]] as const) {
    if (e === null) expect(a).toBeNull();
    else expect(a as number).toBeCloseTo(e as number, 3);
  }
}

describe('tickets.stats from precomputed counts', () => {
  const w = useWorld('scale');

  /** Inserts `n` tickets with varied fields and durations, in one statement. */
  async function insertTickets(n: number, agents: string[]) {
    const contact = uuidv7();
    await w.db.insertInto('contacts').values({ id: contact, email: `c-${contact}@scale.test`, name: 'Scale' }).execute();
    await sql`
      insert into tickets (id, title, description, status, priority, category, contact_id, assignee_id, created_at, first_response_at, resolved_at)
      select gen_random_uuid(), 'Ticket ' || i, 'Body ' || i, s.status,
             (array['low', 'medium', 'high', 'critical', null])[1 + i % 5], (array['billing', 'technical', null])[1 + i % 3],
             ${contact}, case when s.status = 'open' and i % 2 = 0 then null else (${agents}::uuid[])[1 + i % ${agents.length}] end,
             now() - interval '30 days', r.fr, case when s.status in ('resolved', 'closed') then r.fr + interval '1 second' * (i * 37 % 500000) end
        from generate_series(1, ${n}) i
       cross join lateral (select (array['open', 'in_progress', 'waiting', 'resolved', 'closed'])[1 + i % 5] as status) s
       cross join lateral (select case when s.status = 'open' then null
                                       else now() - interval '30 days' + interval '1 second' * (i * 7919 % 200000) end as fr) r`.execute(w.db);
  }

  it('match a full-table aggregate through inserts, updates, deletes and roll-ups', async () => {
    const agents = [w.agent.id, w.agent2.id];
    await insertTickets(3001, agents);
    expectSameStats(await w.agent.rd.tickets.stats.query(), await naiveStats(w.db));

    // Through the API: a create, a claim, a resolve, a reopen.
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Printer', description: 'It is on fire' });
    await w.admin.rd.tickets.update.mutate({ id: t.id, assigneeId: w.agent.id, priority: 'high' });
    await w.agent.rd.messages.add.mutate({ ticketId: t.id, body: 'On it' });
    await w.agent.rd.tickets.update.mutate({ id: t.id, status: 'resolved', resolution: 'Unplugged it' });
    expectSameStats(await w.agent.rd.tickets.stats.query(), await naiveStats(w.db));
    await w.customer.rd.messages.add.mutate({ ticketId: t.id, body: 'It is on fire again' });

    // In bulk: every counted column, and deletes.
    await sql`update tickets set status = 'closed', resolved_at = coalesce(resolved_at, now()), first_response_at = coalesce(first_response_at, now())
               where status = 'waiting' and priority = 'low'`.execute(w.db);
    await sql`update tickets set priority = null, category = 'account' where number % 7 = 0`.execute(w.db);
    await sql`update tickets set assignee_id = ${w.agent2.id} where assignee_id = ${w.agent.id} and status = 'resolved' and number % 3 = 0`.execute(w.db);
    await sql`update tickets set title = 'Renamed' where number % 11 = 0`.execute(w.db);
    await sql`delete from tickets where number % 13 = 0`.execute(w.db);
    expectSameStats(await w.agent.rd.tickets.stats.query(), await naiveStats(w.db));

    // The roll-up moves the deltas without changing any figure.
    const pending = await w.db.selectFrom('ticket_count_deltas' as never).select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
    expect((pending as { n: number }).n).toBeGreaterThan(0);
    expect(await rollUpTicketCounts(w.db)).toBe((pending as { n: number }).n);
    expect(await rollUpTicketCounts(w.db)).toBe(0);
    expectSameStats(await w.agent.rd.tickets.stats.query(), await naiveStats(w.db));
    // No key is left counting nothing.
    const { rows: empty } = await sql<{ n: number }>`select count(*)::int as n from ticket_counts where total = 0 and open = 0`.execute(w.db);
    expect(empty[0]!.n).toBe(0);
  });

  it('even and odd counts give percentile_cont exactly, including durations in one bucket', async () => {
    await sql`delete from tickets`.execute(w.db);
    expectSameStats(await w.agent.rd.tickets.stats.query(), await naiveStats(w.db));
    expect((await w.agent.rd.tickets.stats.query()).medianResolutionSeconds).toBeNull();
    const contact = uuidv7();
    await w.db.insertInto('contacts').values({ id: contact, email: `m-${contact}@scale.test`, name: 'Median' }).execute();
    for (const seconds of [100, 101, 102.5, 5000, 5001, 86_400, 0]) {
      await sql`insert into tickets (id, title, description, contact_id, created_at, first_response_at, status, resolved_at)
                values (gen_random_uuid(), 'm', 'm', ${contact}, now() - interval '2 days',
                        now() - interval '2 days' + interval '1 second' * ${seconds}, 'resolved', now())`.execute(w.db);
      const stats = await w.agent.rd.tickets.stats.query();
      expectSameStats(stats, await naiveStats(w.db));
    }
    expect((await w.agent.rd.tickets.stats.query()).medianFirstResponseSeconds).toBeCloseTo(102.5, 3);
  });

  it('stay exact with writers and roll-ups running at the same time', async () => {
    await insertTickets(500, [w.agent.id, w.agent2.id]);
    const ids = (await w.db.selectFrom('tickets').select('id').execute()).map((r) => r.id);
    const statuses = ['open', 'in_progress', 'waiting', 'resolved', 'closed'] as const;
    let stop = false;
    const rollups = (async () => {
      while (!stop) await rollUpTicketCounts(w.db);
    })();
    await Promise.all(
      Array.from({ length: 4 }, async (_, k) => {
        for (let i = 0; i < 60; i++) {
          const id = ids[(i * 31 + k * 17) % ids.length]!;
          const status = statuses[(i + k) % statuses.length]!;
          const done = status === 'resolved' || status === 'closed';
          await w.db.transaction().execute(async (trx) => {
            await sql`update tickets set status = ${status}, resolved_at = ${done ? sql`coalesce(resolved_at, now())` : null},
                        priority = ${i % 2 ? 'high' : null}, assignee_id = case when ${i % 3 === 0} then null else assignee_id end
                       where id = ${id}`.execute(trx);
            if (i % 10 === 0) await sql`delete from tickets where id = ${ids[(i * 7 + k) % ids.length]!}`.execute(trx);
          });
        }
      }),
    );
    stop = true;
    await rollups;
    expectSameStats(await w.agent.rd.tickets.stats.query(), await naiveStats(w.db));
    await rollUpTicketCounts(w.db);
    expectSameStats(await w.agent.rd.tickets.stats.query(), await naiveStats(w.db));
  });
});

describe('npm run seed', () => {
  const w = useWorld('seed');

  it('fills the database with consistent, realistic data', async () => {
    const r = await seed(w.dbUrl, { tickets: 3000, agents: 20, chunk: 700 });
    expect(r).toMatchObject({ tickets: 3000, contacts: 375 });
    expect(r.agents).toHaveLength(20);
    expect(r.messages).toBeGreaterThan(3000);
    expect(r.events).toBeGreaterThan(3000 * 4);

    // Ids run in creation order, as do ticket numbers: keyset pages are history.
    const { rows: order } = await sql<{ bad: number }>`
      select count(*)::int as bad from (
        select id, number, created_at, lag(created_at) over (order by id) as prev_at, lag(number) over (order by id) as prev_n
          from tickets where title <> 'x') t
       where prev_at > created_at or prev_n > number`.execute(w.db);
    expect(order[0]!.bad).toBe(0);
    // Every ticket satisfies the schema's own rules, and agents' loads are exact.
    const { rows: load } = await sql<{ bad: number }>`
      select count(*)::int as bad from users u
       where u.role = 'agent' and u.open_tickets <> (select count(*) from tickets t where t.assignee_id = u.id and t.status not in ('resolved', 'closed'))`.execute(
      w.db,
    );
    expect(load[0]!.bad).toBe(0);
    // The event log is gapless and positioned, and its payloads read like live ones.
    const { rows: log } = await sql<{ n: number; min: number; max: number; unpositioned: number }>`
      select count(*)::int as n, min(position)::int as min, max(position)::int as max, count(*) filter (where position is null)::int as unpositioned
        from events`.execute(w.db);
    expect(log[0]).toMatchObject({ unpositioned: 0, max: log[0]!.n });
    const history = await w.admin.rd.tickets.history.query({ id: (await w.db.selectFrom('tickets').select('id').where('status', '=', 'closed').limit(1).executeTakeFirstOrThrow()).id });
    const types = history.items.map((e) => e.type);
    expect(types[0]).toBe('ticket.created');
    expect(types).toEqual(expect.arrayContaining(['ticket.assigned', 'message.created', 'ticket.resolved', 'ticket.updated']));
    const created = history.items[0]!;
    if (created.type !== 'ticket.created') throw new Error('first event is not ticket.created');
    expect(Object.keys(created.data.ticket).sort()).toEqual(Object.keys(await w.admin.rd.tickets.get.query({ id: created.ticketId! })).filter((k) => k !== 'messages').sort());
    // Search meets real words; stats agree with the rows.
    expect((await w.agent.rd.tickets.list.query({ search: 'invoice' })).items.length).toBeGreaterThan(0);
    expectSameStats(await w.agent.rd.tickets.stats.query(), await naiveStats(w.db));
    // Agents sign in with the printed password.
    const login = await w.anon.auth.login.mutate({ email: r.agents[0]!.email, password: r.password });
    expect(login.user.role).toBe('agent');
  });

  it('runs from the command line against DATABASE_URL, and refuses bad arguments', async () => {
    const script = path.join(repoRoot, 'scripts/seed.ts');
    const { stdout } = await run(process.execPath, [script, '--tickets', '300', '--agents', '3'], { env: { ...process.env, DATABASE_URL: w.dbUrl } });
    expect(stdout).toMatch(/done in \d+ s: 300 tickets/);
    const bad = await run(process.execPath, [script, '--tickets', 'lots'], { env: { ...process.env, DATABASE_URL: w.dbUrl } }).catch((e) => e);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--tickets must be a whole number/);
    // Too few agents for the open tickets it would make: refused before writing anything.
    const crowded = await run(process.execPath, [script, '--tickets', '200000', '--agents', '1'], { env: { ...process.env, DATABASE_URL: w.dbUrl } }).catch((e) => e);
    expect(crowded.code).toBe(1);
    expect(crowded.stderr).toMatch(/1 agents cannot hold the [\d,]+ open tickets this makes: use --agents \d+ or more/);
    // With an active webhook endpoint it refuses: millions of events would be sent.
    await w.admin.rd.webhooks.create.mutate({ url: 'https://93.184.215.14/hook', events: ['*'] });
    const refused = await run(process.execPath, [script, '--tickets', '10'], { env: { ...process.env, DATABASE_URL: w.dbUrl } }).catch((e) => e);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/webhook endpoint\(s\) are active/);
  });
});
