// The database itself refuses bad rows: zod is not the only guard.
import { sql } from 'kysely';
import { describe, expect, it, beforeAll } from 'vitest';
import { uuidv7 } from 'uuidv7';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

describe('database constraints', async () => {
  let t: TestDatabase;
  let contactId: string;
  beforeAll(async () => {
    t = await createTestDatabase('constraints');
    contactId = uuidv7();
    await t.db.insertInto('contacts').values({ id: contactId, email: 'c@example.com', name: 'C' }).execute();
  });

  const ticket = (over: Record<string, unknown>) =>
    sql`insert into tickets (id, title, description, contact_id, status, priority, category, tags)
        values (${uuidv7()}, ${over.title ?? 'ok'}, ${over.description ?? 'ok'}, ${over.contact_id ?? contactId},
                ${over.status ?? 'open'}, ${over.priority ?? null}, ${over.category ?? null}, ${over.tags ?? []}::text[])`.execute(t.db);

  const violation = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      return (err as { code: string }).code;
    }
    return 'inserted';
  };

  it.each([
    ['status', { status: 'pending' }, '23514'],
    ['priority', { priority: 'urgent' }, '23514'],
    ['category', { category: 'sales' }, '23514'],
    ['empty title', { title: '   ' }, '23514'],
    ['long title', { title: 'x'.repeat(201) }, '23514'],
    ['long description', { description: 'x'.repeat(20_001) }, '23514'],
    ['upper-case tag', { tags: ['Urgent'] }, '23514'],
    ['21 tags', { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, '23514'],
    ['unknown contact', { contact_id: uuidv7() }, '23503'],
  ])('refuses a ticket with a bad %s', async (_name, over, code) => {
    expect(await violation(ticket(over))).toBe(code);
  });

  it('accepts a valid ticket and numbers tickets sequentially', async () => {
    expect(await violation(ticket({ title: 'x'.repeat(200), tags: ['a', 'b'] }))).toBe('inserted');
    const nums = await t.db.selectFrom('tickets').select('number').orderBy('number').execute();
    expect(nums.length).toBeGreaterThan(0);
  });

  it('keeps one contact per normalised email, and refuses un-normalised ones', async () => {
    expect(await violation(t.db.insertInto('contacts').values({ id: uuidv7(), email: 'c@example.com', name: 'Dup' }).execute())).toBe('23505');
    expect(await violation(t.db.insertInto('contacts').values({ id: uuidv7(), email: 'C@Example.com', name: 'Upper' }).execute())).toBe('23514');
  });

  it('refuses a customer without a contact, an unknown role, a negative capacity', async () => {
    const user = (over: Record<string, unknown>) =>
      t.db
        .insertInto('users')
        .values({ id: uuidv7(), name: 'U', email: `${uuidv7()}@example.com`, role: 'agent', password_hash: null, ...over } as never)
        .execute();
    expect(await violation(user({ role: 'customer' }))).toBe('23514');
    expect(await violation(user({ role: 'root' }))).toBe('23514');
    expect(await violation(user({ capacity: -1 }))).toBe('23514');
  });

  it('keeps resolvedAt consistent with the status', async () => {
    const id = uuidv7();
    await sql`insert into tickets (id, title, description, contact_id) values (${id}, 'r', 'r', ${contactId})`.execute(t.db);
    expect(await violation(sql`update tickets set status = 'resolved' where id = ${id}`.execute(t.db))).toBe('23514');
    expect(await violation(sql`update tickets set status = 'resolved', resolved_at = now() where id = ${id}`.execute(t.db))).toBe('inserted');
  });

  it('refuses an assignment past capacity or to someone who cannot hold tickets, whoever writes it', async () => {
    const agent = uuidv7();
    const gone = uuidv7();
    await t.db.insertInto('users').values([
      { id: agent, name: 'A', email: `${agent}@example.com`, role: 'agent', password_hash: null, capacity: 1 },
      { id: gone, name: 'G', email: `${gone}@example.com`, role: 'agent', password_hash: null, active: false },
    ]).execute();
    const mk = async () => {
      const id = uuidv7();
      await sql`insert into tickets (id, title, description, contact_id) values (${id}, 't', 'd', ${contactId})`.execute(t.db);
      return id;
    };
    const assign = (id: string, to: string) => sql`update tickets set assignee_id = ${to} where id = ${id}`.execute(t.db);
    const first = await mk();
    expect(await violation(assign(first, agent))).toBe('inserted');
    expect(await violation(assign(await mk(), agent))).toBe('RD409');
    expect(await violation(assign(await mk(), gone))).toBe('RD422');
    // Resolving frees the slot; the counter follows every path.
    await sql`update tickets set status = 'resolved', resolved_at = now() where id = ${first}`.execute(t.db);
    expect(await violation(assign(await mk(), agent))).toBe('inserted');
    // A ticket reopened while its holder is gone returns to the queue.
    await sql`update users set active = false where id = ${agent}`.execute(t.db);
    await sql`update tickets set status = 'open', resolved_at = null where id = ${first}`.execute(t.db);
    const reopened = await t.db.selectFrom('tickets').select('assignee_id').where('id', '=', first).executeTakeFirstOrThrow();
    expect(reopened.assignee_id).toBeNull();
  });

  it('records the writing transaction with every event', async () => {
    const row = await sql<{ same: boolean }>`
      with e as (insert into events (type, data) values ('ticket.created', '{}') returning xid)
      select (select xid from e) = pg_current_xact_id() as same`.execute(t.db);
    expect(row.rows[0]!.same).toBe(true);
  });
});

describe('trigger functions and the plan cache', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase('plancache');
  });

  it('every PL/pgSQL function runs with plan_cache_mode=auto, whatever the session says', async () => {
    // The server's connections set force_custom_plan for their own statements;
    // inside a trigger that would replan every statement for every row.
    const { rows } = await sql<{ name: string; config: string[] | null }>`
      select p.proname as name, p.proconfig as config from pg_proc p join pg_language l on l.oid = p.prolang
       where l.lanname = 'plpgsql' and p.pronamespace = current_schema()::regnamespace order by 1`.execute(t.db);
    expect(rows.map((r) => r.name)).toEqual(expect.arrayContaining(['relaydesk_count_ticket_update', 'relaydesk_track_open_tickets', 'relaydesk_event_commit']));
    for (const r of rows) expect(r.config, r.name).toContain('plan_cache_mode=auto');
  });

  it('the migration can be rolled back and applied again', async () => {
    const m = await import('../db/src/migrations/2026_12_02_0010_trigger_plan_cache.ts');
    await m.down(t.db);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_proc where proconfig is not null and pronamespace = current_schema()::regnamespace`.execute(t.db);
    expect(rows[0]!.n).toBe(0);
    await m.up(t.db);
  });
});
