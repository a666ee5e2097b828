// The core that every door shares: one audience rule for every event,
// commands that compose in a caller's transaction, and rate limits that
// every server process shares.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createBoss } from '../server/src/core/jobs/boss.ts';
import { createJobs, type Jobs } from '../server/src/core/jobs/send.ts';
import { addMessage } from '../server/src/core/messages/add.ts';
import { createTicket } from '../server/src/core/tickets/create.ts';
import { pickAgents } from '../server/src/core/tickets/assign.ts';
import { visibleTo, visibleWhere, type Audience } from '../server/src/core/events/visibility.ts';
import { follow } from './helpers/events.ts';
import { codeOf, useWorld, type Actor } from './helpers/fixtures.ts';
import { startServer, type ServerProcess } from './helpers/server.ts';
import { createRelaydeskClient } from '@relaydesk/client';

const w = useWorld('core');

const caller = (a: Actor, name = 'x') => ({ id: a.id, name, email: a.email, role: a.role, contactId: a.contactId, tokenId: a.tokenId });

describe('one audience for every event', () => {
  it("a customer's live stream and their tickets.history show the claim's ticket.assigned, identically", async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Printer offline', description: 'It says paper jam, there is none' });
    const live = follow(w.customer.rd, { ticketId: t.id });
    try {
      // The stream is live once it has delivered nothing yet and the claim lands after.
      await new Promise((r) => setTimeout(r, 300));
      const { items } = await w.agent.rd.tickets.claim.mutate({ limit: 15 });
      expect(items.map((i) => i.id)).toContain(t.id);
      const streamed = (await live.until('the claim reaches the customer', (es) => es.some((e) => e.type === 'ticket.assigned'))).filter(
        (e) => e.type === 'ticket.assigned',
      );
      const history = (await w.customer.rd.tickets.history.query({ id: t.id, limit: 100 })).items.filter((e) => e.type === 'ticket.assigned');
      expect(streamed).toHaveLength(1);
      expect(history).toEqual(streamed);
      expect(streamed[0]).toMatchObject({ ticketId: t.id, actor: { type: 'user', id: w.agent.id }, data: { from: null, to: w.agent.id, reason: 'claim' } });
    } finally {
      live.stop();
    }
    // The row records its requester, as every writer's events do.
    const { rows } = await sql<{ contact_id: string | null; internal: boolean }>`
      select contact_id, internal from events where ticket_id = ${t.id} and type = 'ticket.assigned'`.execute(w.db);
    expect(rows).toEqual([{ contact_id: w.customer.contactId, internal: false }]);
  });

  it('agrees with itself: the predicate and the SQL condition select the same events for every audience', async () => {
    const t = await w.customer2.rd.tickets.create.mutate({ title: 'Audience', description: 'who sees what' });
    await w.admin.rd.messages.add.mutate({ ticketId: t.id, body: 'note', internal: true });
    await w.admin.rd.messages.add.mutate({ ticketId: t.id, body: 'reply' });
    await w.admin.rd.tickets.history.query({ id: t.id, limit: 100 }); // positions everything
    const rows = await w.db.selectFrom('events').select(['position', 'type', 'contact_id', 'internal']).where('position', 'is not', null).execute();
    const audiences: Audience[] = [
      { role: 'admin', contactId: null },
      { role: 'agent', contactId: null },
      { role: 'customer', contactId: w.customer.contactId },
      { role: 'customer', contactId: w.customer2.contactId },
      { role: 'customer', contactId: null },
      { role: 'webhook', includeInternal: false },
      { role: 'webhook', includeInternal: true },
    ];
    for (const a of audiences) {
      const inMemory = rows.filter((r) => visibleTo(a, { type: r.type, contactId: r.contact_id, internal: r.internal })).map((r) => Number(r.position));
      const inSql = (await w.db.selectFrom('events').select('position').where('position', 'is not', null).where(visibleWhere(a)).orderBy('position').execute()).map((r) =>
        Number(r.position),
      );
      expect(inSql, JSON.stringify(a)).toEqual(inMemory.sort((x, y) => x - y));
    }
    expect(rows.some((r) => r.internal)).toBe(true);
  });
});

describe('prepared statements', () => {
  it('a repeated statement is prepared on its connection, and planned for its values every run', async () => {
    await w.db.transaction().execute(async (trx) => {
      // One transaction: every statement below runs on the same connection.
      const { rows } = await sql<{ mode: string }>`select current_setting('plan_cache_mode') as mode`.execute(trx);
      expect(rows[0]!.mode).toBe('force_custom_plan');
      const marker = `prepared-${Date.now()}`;
      for (let i = 0; i < 3; i++) await sql`select count(*)::int as n from users where name <> ${marker}`.execute(trx);
      const { rows: prepared } = await sql<{ n: number }>`
        select count(*)::int as n from pg_prepared_statements where statement = 'select count(*)::int as n from users where name <> $1'`.execute(trx);
      expect(prepared[0]!.n).toBe(1);
    });
  });
});

describe('commands compose', () => {
  let jobs: Jobs;
  beforeAll(async () => {
    const boss = createBoss(w.dbUrl, { max: 2 });
    boss.on('error', () => {});
    jobs = createJobs(boss, false, () => boss.start().then(() => {}));
    afterAll(() => boss.stop({ graceful: false, close: true }));
  });

  it("two commands in the caller's transaction commit together, or not at all", async () => {
    const user = caller(w.customer);
    const count = async (title: string) =>
      (await w.db.selectFrom('tickets').select((eb) => eb.fn.countAll<number>().as('n')).where('title', '=', title).executeTakeFirstOrThrow()).n;

    await expect(
      w.db.transaction().execute(async (trx) => {
        const t = await createTicket(trx, jobs, user, { title: 'Rolled back', description: 'with its first reply' });
        await addMessage(trx, jobs, user, { ticketId: t.id, body: 'more detail', internal: false });
        throw new Error('the caller changes its mind');
      }),
    ).rejects.toThrow('changes its mind');
    expect(Number(await count('Rolled back'))).toBe(0);

    const t = await w.db.transaction().execute(async (trx) => {
      const t = await createTicket(trx, jobs, user, { title: 'Committed', description: 'with its first reply' });
      await addMessage(trx, jobs, user, { ticketId: t.id, body: 'more detail', internal: false });
      return t;
    });
    const seen = await w.customer.rd.tickets.get.query({ id: t.id });
    expect(seen.messages.map((m) => m.body)).toEqual(['more detail']);
    const types = (await w.customer.rd.tickets.history.query({ id: t.id, limit: 10 })).items.map((e) => e.type);
    expect(types).toEqual(['ticket.created', 'message.created']);
  });
});

describe('rate limits shared by every server process', () => {
  let second: ServerProcess;
  beforeAll(async () => {
    second = await startServer(w.dbUrl);
  });
  afterAll(() => second?.stop());

  it('10 failed logins spread over two servers refuse the 11th on either', async () => {
    const u = await w.makeUser('agent', undefined, { password: 'correct horse battery' });
    const servers = [w.anon, createRelaydeskClient({ url: second.url })];
    for (let i = 0; i < 10; i++) {
      expect(await codeOf(servers[i % 2]!.auth.login.mutate({ email: u.email, password: `wrong ${i}` }))).toBe('UNAUTHORIZED');
    }
    expect(await codeOf(servers[0]!.auth.login.mutate({ email: u.email, password: 'wrong again' }))).toBe('TOO_MANY_REQUESTS');
    expect(await codeOf(servers[1]!.auth.login.mutate({ email: u.email, password: 'correct horse battery' }))).toBe('TOO_MANY_REQUESTS');
  });
});

describe('choosing agents for a batch of waiting tickets', () => {
  const agent = (id: string, open: number, capacity: number, lastAssigned: number | null) => ({ id, open, capacity, lastAssigned });

  it('gives each ticket, in order, to the one with the fewest open tickets; ties go to the one idle longest, then by id', () => {
    const plan = pickAgents(
      ['t1', 't2', 't3', 't4', 't5'],
      [agent('b', 1, 10, 100), agent('a', 1, 10, 200), agent('c', 0, 10, 500), agent('d', 1, 10, null)],
    );
    // c has the fewest; then d (never assigned), b (idle since 100), a (200);
    // c, just given one, now counts as the most recent of those at 1.
    expect(plan.map((p) => p.agent)).toEqual(['c', 'd', 'b', 'a', 'c']);
  });

  it('never goes past capacity, and stops when nobody has room', () => {
    const plan = pickAgents(['t1', 't2', 't3', 't4'], [agent('a', 2, 3, 1), agent('b', 4, 5, 2)]);
    expect(plan).toEqual([
      { ticket: 't1', agent: 'a' },
      { ticket: 't2', agent: 'b' },
    ]);
  });
});
