// tickets.claim under a crowd: 200 agents over real HTTP, no worker running.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { uuidv7 } from 'uuidv7';
import { useWorld, type Actor } from './helpers/fixtures.ts';

describe('tickets.claim', () => {
  // 600 claims arrive at once and queue for a pool connection: on a busy two-core machine the
  // last ones can wait past the default 5 s request deadline. The deadline has its own test
  // (service.test.ts); here it is set far from the normal case so only correctness is judged.
  const w = useWorld('claim', { serverEnv: () => ({ REQUEST_TIMEOUT_MS: '120000' }) });

  async function insertTickets(n: number): Promise<string[]> {
    const contact = await w.db.selectFrom('contacts').select('id').where('id', '=', w.customer.contactId!).executeTakeFirstOrThrow();
    const ids = Array.from({ length: n }, () => uuidv7());
    for (let i = 0; i < n; i += 500) {
      await w.db
        .insertInto('tickets')
        .values(ids.slice(i, i + 500).map((id, j) => ({ id, title: `t${i + j}`, description: 'd', contact_id: contact.id })))
        .execute();
    }
    return ids;
  }

  it('tops up to the limit, oldest first, and returns the whole batch', async () => {
    const agent = await w.makeUser('agent');
    const ids = await insertTickets(20);
    const first = await agent.rd.tickets.claim.mutate({ limit: 5 });
    expect(first.claimed).toBe(5);
    expect(first.items.map((t) => t.id)).toEqual(ids.slice(0, 5));
    const second = await agent.rd.tickets.claim.mutate({ limit: 8 });
    expect(second.claimed).toBe(3);
    expect(second.items.map((t) => t.id)).toEqual(ids.slice(0, 8));
    // Already at the limit: nothing new, the same batch back.
    const again = await agent.rd.tickets.claim.mutate({ limit: 8 });
    expect(again).toMatchObject({ claimed: 0 });
    expect(again.items.map((t) => t.id)).toEqual(ids.slice(0, 8));
    // Resolving frees a slot for the next oldest.
    await agent.rd.tickets.resolve.mutate({ id: ids[0]! });
    const after = await agent.rd.tickets.claim.mutate({ limit: 8 });
    expect(after.claimed).toBe(1);
    expect(after.items.map((t) => t.id)).toEqual(ids.slice(1, 9));
    const events = await w.db.selectFrom('events').select(['data']).where('type', '=', 'ticket.assigned').where('ticket_id', '=', ids[8]!).execute();
    expect(events).toEqual([{ data: expect.objectContaining({ to: agent.id, reason: 'claim' }) }]);
  });

  it('never goes past capacity, whatever the limit', async () => {
    const small = await w.makeUser('agent', 'Small', { capacity: 3 });
    await insertTickets(10);
    expect((await small.rd.tickets.claim.mutate({ limit: 15 })).items).toHaveLength(3);
    expect((await small.rd.tickets.claim.mutate({ limit: 15 })).claimed).toBe(0);
  });

  it('200 agents claiming at once: no ticket twice, nobody over the limit, oldest first', async () => {
    // Start from an empty queue head so "the oldest N" is well defined.
    await sql`update tickets set status = 'closed', resolved_at = now() where assignee_id is null`.execute(w.db);
    const agents: Actor[] = [];
    for (let i = 0; i < 200; i++) agents.push(await w.makeUser('agent', `Crowd ${i}`));
    const ids = await insertTickets(4000);

    // Each agent claims three times, concurrently with everyone: 600 claims, demand 200 x 15 = 3000.
    const limits = [5, 10, 15] as const;
    const results = await Promise.all(
      agents.flatMap((a) => limits.map((limit) => a.rd.tickets.claim.mutate({ limit }).then((r) => ({ agent: a, limit, r })))),
    );
    expect(results).toHaveLength(600);
    for (const { agent, r } of results) {
      expect(r.items.length).toBeLessThanOrEqual(15);
      expect(r.items.every((t) => t.assigneeId === agent.id)).toBe(true);
      const order = r.items.map((t) => t.id);
      expect(order).toEqual([...order].sort());
    }

    const held = await w.db
      .selectFrom('tickets')
      .select(['id', 'assignee_id'])
      .where('id', 'in', ids)
      .where('assignee_id', 'is not', null)
      .execute();
    // Every agent filled up to 15, and exactly the 3,000 oldest were taken.
    expect(held).toHaveLength(3000);
    expect(held.map((t) => t.id).sort()).toEqual(ids.slice(0, 3000));
    const perAgent = new Map<string, number>();
    for (const t of held) perAgent.set(t.assignee_id!, (perAgent.get(t.assignee_id!) ?? 0) + 1);
    expect([...perAgent.values()].every((n) => n === 15)).toBe(true);
    // One assignment event per ticket: none was handed out twice.
    const events = await sql<{ n: number }>`
      select count(*)::int as n from events where type = 'ticket.assigned' and ticket_id = any(${ids}::uuid[])`.execute(w.db);
    expect(events.rows[0]!.n).toBe(3000);
    const counters = await w.db.selectFrom('users').select(['open_tickets']).where('id', 'in', agents.map((a) => a.id)).execute();
    expect(counters.every((c) => c.open_tickets === 15)).toBe(true);
  });
});
