// Bad input, over real HTTP: each refusal carries the exact tRPC code and the
// field it is about, and leaves the database exactly as it was.
import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { RouterOutputs } from '@relaydesk/client';
import { errorOf, useWorld, type World } from './helpers/fixtures.ts';

type Ticket = RouterOutputs['tickets']['get'];

const TABLES = ['users', 'contacts', 'tickets', 'messages', 'events', 'api_tokens', 'webhook_endpoints', 'webhook_deliveries'] as const;
const UNKNOWN_UUID = '01890a5d-ac96-774b-bcce-b302099a8057';
const x = (n: number) => 'x'.repeat(n);

/** Row counts of every table, and the full mutable state of one ticket. */
async function snapshot(w: World, ticketId: string) {
  const counts = await sql<Record<(typeof TABLES)[number], string>>`select ${sql.join(
    TABLES.map((t) => sql`(select count(*) from ${sql.table(t)}) as ${sql.ref(t)}`),
  )}`.execute(w.db);
  const ticket = await w.db
    .selectFrom('tickets')
    .select(['version', 'updated_at', 'title', 'description', 'status', 'priority', 'category', 'tags', 'assignee_id', 'resolved_at'])
    .where('id', '=', ticketId)
    .executeTakeFirstOrThrow();
  return { counts: counts.rows[0]!, ticket };
}

/**
 * `field`: the input path the error must name, in `data.field` or one of the
 * zod issues; `null`: the error names no field.
 */
async function expectRefused(w: World, ticketId: string, call: () => Promise<unknown>, code: string, field: string | null) {
  const before = await snapshot(w, ticketId);
  const err = await errorOf(call());
  expect(err.code, err.message).toBe(code);
  if (field === null) expect(err.field).toBeUndefined();
  else expect([err.field, ...(err.zodIssues ?? []).map((i) => i.path)]).toContain(field);
  expect(await snapshot(w, ticketId)).toEqual(before);
}

interface Env {
  w: World;
  /** Filed for a contact, assigned to the agent; never changed by a test. */
  ticket: Ticket;
}

interface BadCase {
  name: string;
  call(env: Env): Promise<unknown>;
  code: 'BAD_REQUEST' | 'UNAUTHORIZED' | 'NOT_FOUND' | 'CONFLICT' | 'PRECONDITION_FAILED';
  field: string | null;
}

const create = (env: Env, input: Record<string, unknown>) =>
  env.w.admin.rd.tickets.create.mutate({ title: 'Valid title', description: 'Valid description', ...input } as never);
const update = (env: Env, input: Record<string, unknown>) => env.w.admin.rd.tickets.update.mutate({ id: env.ticket.id, ...input } as never);
const createUser = (env: Env, input: Record<string, unknown>) =>
  env.w.admin.rd.users.create.mutate({ name: 'Someone', email: 'someone-new@example.com', role: 'agent', ...input } as never);

const hook = (env: Env, input: Record<string, unknown>) =>
  env.w.admin.rd.webhooks.create.mutate({ url: 'https://203.0.113.9/hook', events: ['ticket.created'], ...input } as never);

const CASES: BadCase[] = [
  // webhooks
  { name: 'webhooks.create: ftp url', call: (e) => hook(e, { url: 'ftp://example.com/x' }), code: 'BAD_REQUEST', field: 'url' },
  { name: 'webhooks.create: no url', call: (e) => hook(e, { url: 'hooks example' }), code: 'BAD_REQUEST', field: 'url' },
  { name: 'webhooks.create: url with a password', call: (e) => hook(e, { url: 'https://a:b@example.com/x' }), code: 'BAD_REQUEST', field: 'url' },
  { name: 'webhooks.create: url of 2,049 chars', call: (e) => hook(e, { url: `https://example.com/${x(2029)}` }), code: 'BAD_REQUEST', field: 'url' },
  { name: 'webhooks.create: private address', call: (e) => hook(e, { url: 'http://10.0.0.1/hook' }), code: 'BAD_REQUEST', field: 'url' },
  { name: 'webhooks.create: metadata address', call: (e) => hook(e, { url: 'http://169.254.169.254/' }), code: 'BAD_REQUEST', field: 'url' },
  { name: 'webhooks.create: no events', call: (e) => hook(e, { events: [] }), code: 'BAD_REQUEST', field: 'events' },
  { name: 'webhooks.create: unknown event type', call: (e) => hook(e, { events: ['ticket.created', 'ticket.exploded'] }), code: 'BAD_REQUEST', field: 'events.1' },
  { name: 'webhooks.create: live-only type', call: (e) => hook(e, { events: ['ai.draft.delta'] }), code: 'BAD_REQUEST', field: 'events.0' },
  { name: 'webhooks.create: description of 501', call: (e) => hook(e, { description: x(501) }), code: 'BAD_REQUEST', field: 'description' },
  { name: 'webhooks.create: NUL in description', call: (e) => hook(e, { description: 'a\u0000b' }), code: 'BAD_REQUEST', field: 'description' },
  { name: 'webhooks.update: non-uuid id', call: (e) => e.w.admin.rd.webhooks.update.mutate({ id: 'hook-1' }), code: 'BAD_REQUEST', field: 'id' },
  { name: 'webhooks.update: unknown id', call: (e) => e.w.admin.rd.webhooks.update.mutate({ id: UNKNOWN_UUID, active: false }), code: 'NOT_FOUND', field: 'id' },
  {
    name: 'webhooks.rotateSecret: grace over 7 days',
    call: (e) => e.w.admin.rd.webhooks.rotateSecret.mutate({ id: UNKNOWN_UUID, graceSeconds: 7 * 86_400 + 1 }),
    code: 'BAD_REQUEST',
    field: 'graceSeconds',
  },
  { name: 'webhooks.rotateSecret: unknown id', call: (e) => e.w.admin.rd.webhooks.rotateSecret.mutate({ id: UNKNOWN_UUID }), code: 'NOT_FOUND', field: 'id' },
  { name: 'webhooks.delete: unknown id', call: (e) => e.w.admin.rd.webhooks.delete.mutate({ id: UNKNOWN_UUID }), code: 'NOT_FOUND', field: 'id' },
  { name: 'webhooks.deliveries: bad event id', call: (e) => e.w.admin.rd.webhooks.deliveries.query({ eventId: 'evt_1' }), code: 'BAD_REQUEST', field: 'eventId' },
  { name: 'webhooks.deliveries: unknown status', call: (e) => e.w.admin.rd.webhooks.deliveries.query({ status: 'failed' } as never), code: 'BAD_REQUEST', field: 'status' },
  { name: 'webhooks.redeliver: neither id', call: (e) => e.w.admin.rd.webhooks.redeliver.mutate({}), code: 'BAD_REQUEST', field: 'deliveryId' },
  {
    name: 'webhooks.redeliver: both ids',
    call: (e) => e.w.admin.rd.webhooks.redeliver.mutate({ deliveryId: UNKNOWN_UUID, endpointId: UNKNOWN_UUID }),
    code: 'BAD_REQUEST',
    field: 'deliveryId',
  },
  {
    name: 'webhooks.redeliver: since without endpointId',
    call: (e) => e.w.admin.rd.webhooks.redeliver.mutate({ deliveryId: UNKNOWN_UUID, since: '2026-01-01T00:00:00Z' }),
    code: 'BAD_REQUEST',
    field: 'since',
  },
  { name: 'webhooks.redeliver: unknown delivery', call: (e) => e.w.admin.rd.webhooks.redeliver.mutate({ deliveryId: UNKNOWN_UUID }), code: 'NOT_FOUND', field: 'deliveryId' },
  { name: 'webhooks.redeliver: unknown endpoint', call: (e) => e.w.admin.rd.webhooks.redeliver.mutate({ endpointId: UNKNOWN_UUID }), code: 'NOT_FOUND', field: 'endpointId' },
  // tickets.create: text
  { name: 'empty title', call: (e) => create(e, { title: '' }), code: 'BAD_REQUEST', field: 'title' },
  { name: 'whitespace-only title', call: (e) => create(e, { title: ' \t\n ' }), code: 'BAD_REQUEST', field: 'title' },
  { name: 'title of 201 chars', call: (e) => create(e, { title: x(201) }), code: 'BAD_REQUEST', field: 'title' },
  { name: 'description of 20001 chars', call: (e) => create(e, { description: x(20_001) }), code: 'BAD_REQUEST', field: 'description' },
  { name: 'whitespace-only description', call: (e) => create(e, { description: '   ' }), code: 'BAD_REQUEST', field: 'description' },
  { name: 'missing title', call: (e) => e.w.admin.rd.tickets.create.mutate({ description: 'd' } as never), code: 'BAD_REQUEST', field: 'title' },
  { name: 'missing description', call: (e) => e.w.admin.rd.tickets.create.mutate({ title: 't' } as never), code: 'BAD_REQUEST', field: 'description' },
  { name: 'a number for title', call: (e) => create(e, { title: 42 }), code: 'BAD_REQUEST', field: 'title' },
  { name: 'a string for tags', call: (e) => create(e, { tags: 'billing' }), code: 'BAD_REQUEST', field: 'tags' },
  // tickets.create: enums, tags, contact
  { name: 'unknown priority', call: (e) => create(e, { priority: 'urgent' }), code: 'BAD_REQUEST', field: 'priority' },
  { name: 'unknown category', call: (e) => create(e, { category: 'sales' }), code: 'BAD_REQUEST', field: 'category' },
  { name: '21 tags', call: (e) => create(e, { tags: Array.from({ length: 21 }, (_, i) => `tag${i}`) }), code: 'BAD_REQUEST', field: 'tags' },
  { name: 'a 51-char tag', call: (e) => create(e, { tags: ['ok', x(51)] }), code: 'BAD_REQUEST', field: 'tags.1' },
  { name: 'an empty tag', call: (e) => create(e, { tags: ['  '] }), code: 'BAD_REQUEST', field: 'tags.0' },
  {
    name: 'malformed contact email',
    call: (e) => create(e, { contact: { email: 'not-an-email', name: 'Jo' } }),
    code: 'BAD_REQUEST',
    field: 'contact.email',
  },
  // tickets.update
  { name: 'update: unknown status', call: (e) => update(e, { status: 'done' }), code: 'BAD_REQUEST', field: 'status' },
  { name: 'update: empty title', call: (e) => update(e, { title: '' }), code: 'BAD_REQUEST', field: 'title' },
  { name: 'update: no fields', call: (e) => update(e, {}), code: 'BAD_REQUEST', field: null },
  { name: 'update: only expectedVersion', call: (e) => update(e, { expectedVersion: e.ticket.version }), code: 'BAD_REQUEST', field: null },
  {
    name: 'update: stale expectedVersion',
    call: (e) => update(e, { expectedVersion: e.ticket.version - 1, title: 'Lost update' }),
    code: 'CONFLICT',
    field: 'expectedVersion',
  },
  {
    name: 'update: expectedVersion from the future',
    call: (e) => update(e, { expectedVersion: e.ticket.version + 1, title: 'Lost update' }),
    code: 'CONFLICT',
    field: 'expectedVersion',
  },
  { name: 'update: assigneeId of a customer', call: (e) => update(e, { assigneeId: e.w.customer.id }), code: 'BAD_REQUEST', field: 'assigneeId' },
  { name: 'update: assigneeId of no user', call: (e) => update(e, { assigneeId: UNKNOWN_UUID }), code: 'BAD_REQUEST', field: 'assigneeId' },
  { name: 'update: non-uuid assigneeId', call: (e) => update(e, { assigneeId: 'agent-1' }), code: 'BAD_REQUEST', field: 'assigneeId' },
  // ids
  { name: 'get: non-uuid id', call: (e) => e.w.admin.rd.tickets.get.query({ id: '12345' }), code: 'BAD_REQUEST', field: 'id' },
  { name: 'update: non-uuid id', call: (e) => update(e, { id: 'not-a-uuid', title: 'x' }), code: 'BAD_REQUEST', field: 'id' },
  { name: 'delete: non-uuid id', call: (e) => e.w.admin.rd.tickets.delete.mutate({ id: "1' or '1'='1" }), code: 'BAD_REQUEST', field: 'id' },
  { name: 'get: unknown uuid', call: (e) => e.w.admin.rd.tickets.get.query({ id: UNKNOWN_UUID }), code: 'NOT_FOUND', field: null },
  { name: 'history: non-uuid id', call: (e) => e.w.admin.rd.tickets.history.query({ id: 'nope' }), code: 'BAD_REQUEST', field: 'id' },
  { name: 'history: cursor not an event id', call: (e) => e.w.admin.rd.tickets.history.query({ id: e.ticket.id, cursor: '12ab' }), code: 'BAD_REQUEST', field: 'cursor' },
  { name: 'history: limit 0', call: (e) => e.w.admin.rd.tickets.history.query({ id: e.ticket.id, limit: 0 }), code: 'BAD_REQUEST', field: 'limit' },
  { name: 'history: unknown ticket', call: (e) => e.w.admin.rd.tickets.history.query({ id: UNKNOWN_UUID }), code: 'NOT_FOUND', field: null },
  { name: 'suggest: blank description', call: (e) => e.w.admin.rd.tickets.suggest.query({ description: ' \n ' }), code: 'BAD_REQUEST', field: 'description' },
  { name: 'suggest: title too long', call: (e) => e.w.admin.rd.tickets.suggest.query({ title: 'x'.repeat(201), description: 'hi' }), code: 'BAD_REQUEST', field: 'title' },
  { name: 'suggest: NUL in description', call: (e) => e.w.admin.rd.tickets.suggest.query({ description: 'a\u0000b' }), code: 'BAD_REQUEST', field: 'description' },
  { name: 'draftReply: non-uuid ticket', call: (e) => e.w.admin.rd.ai.draftReply.mutate({ ticketId: 'nope' }), code: 'BAD_REQUEST', field: 'ticketId' },
  { name: 'draftReply: unknown ticket', call: (e) => e.w.admin.rd.ai.draftReply.mutate({ ticketId: UNKNOWN_UUID }), code: 'NOT_FOUND', field: null },
  { name: 'update: unknown uuid', call: (e) => update(e, { id: UNKNOWN_UUID, title: 'x' }), code: 'NOT_FOUND', field: null },
  { name: 'resolve: unknown uuid', call: (e) => e.w.admin.rd.tickets.resolve.mutate({ id: UNKNOWN_UUID }), code: 'NOT_FOUND', field: null },
  { name: 'delete: unknown uuid', call: (e) => e.w.admin.rd.tickets.delete.mutate({ id: UNKNOWN_UUID }), code: 'NOT_FOUND', field: null },
  {
    name: 'messages.add: unknown ticket',
    call: (e) => e.w.admin.rd.messages.add.mutate({ ticketId: UNKNOWN_UUID, body: 'hello' }),
    code: 'NOT_FOUND',
    field: null,
  },
  {
    name: 'messages.add: whitespace-only body',
    call: (e) => e.w.admin.rd.messages.add.mutate({ ticketId: e.ticket.id, body: ' \n ' }),
    code: 'BAD_REQUEST',
    field: 'body',
  },
  // tickets.list
  { name: 'list: limit 0', call: (e) => e.w.admin.rd.tickets.list.query({ limit: 0 }), code: 'BAD_REQUEST', field: 'limit' },
  { name: 'list: limit 101', call: (e) => e.w.admin.rd.tickets.list.query({ limit: 101 }), code: 'BAD_REQUEST', field: 'limit' },
  { name: 'list: unknown status filter', call: (e) => e.w.admin.rd.tickets.list.query({ status: 'done' } as never), code: 'BAD_REQUEST', field: 'status' },
  // users.create
  { name: 'users.create: malformed email', call: (e) => createUser(e, { email: 'jo@' }), code: 'BAD_REQUEST', field: 'email' },
  { name: 'users.create: password of 9 chars', call: (e) => createUser(e, { password: x(9) }), code: 'BAD_REQUEST', field: 'password' },
  { name: 'users.create: unknown role', call: (e) => createUser(e, { role: 'root' }), code: 'BAD_REQUEST', field: 'role' },
  {
    name: 'users.create: duplicate email in upper case',
    call: (e) => createUser(e, { email: e.w.agent.email.toUpperCase() }),
    code: 'CONFLICT',
    field: 'email',
  },
  {
    name: "users.create: duplicate of a customer's email (contact path)",
    call: (e) => createUser(e, { email: ` ${e.w.customer.email.toUpperCase()} `, role: 'customer' }),
    code: 'CONFLICT',
    field: 'email',
  },
  // U+0000: Postgres text cannot hold it, so it must be refused as input, not fail as a 500.
  { name: 'NUL byte in title', call: (e) => create(e, { title: 'a\u0000b' }), code: 'BAD_REQUEST', field: 'title' },
  { name: 'NUL byte in a tag', call: (e) => create(e, { tags: ['a\u0000b'] }), code: 'BAD_REQUEST', field: 'tags.0' },
  {
    name: 'NUL byte in contact name',
    call: (e) => create(e, { contact: { email: 'nul@example.com', name: 'a\u0000b' } }),
    code: 'BAD_REQUEST',
    field: 'contact.name',
  },
  {
    name: 'NUL byte in a message body',
    call: (e) => e.w.admin.rd.messages.add.mutate({ ticketId: e.ticket.id, body: 'a\u0000b' }),
    code: 'BAD_REQUEST',
    field: 'body',
  },
  { name: 'NUL byte in list search', call: (e) => e.w.admin.rd.tickets.list.query({ search: 'a\u0000b' }), code: 'BAD_REQUEST', field: 'search' },
  // tokens
  {
    name: 'a bogus bearer token',
    call: (e) => e.w.client(`rd_${x(43)}`).tickets.create.mutate({ title: 't', description: 'd' }),
    code: 'UNAUTHORIZED',
    field: null,
  },
  {
    name: 'a malformed bearer token',
    call: (e) => e.w.client('not a token at all').tickets.list.query(),
    code: 'UNAUTHORIZED',
    field: null,
  },
];

describe('bad input', () => {
  const w = useWorld('badinput');
  const env = { w } as Env;

  beforeAll(async () => {
    const t = await w.admin.rd.tickets.create.mutate({
      title: 'Printer jammed',
      description: 'Paper stuck in tray two',
      contact: { email: 'reporter@example.com', name: 'Reporter' },
    });
    await w.admin.rd.tickets.update.mutate({ id: t.id, assigneeId: w.agent.id });
    env.ticket = await w.admin.rd.tickets.get.query({ id: t.id });
    expect(env.ticket.version).toBe(2);
  });

  const refused = (call: () => Promise<unknown>, code: BadCase['code'], field: string | null) =>
    expectRefused(w, env.ticket.id, call, code, field);

  describe('is refused with the right code and field, and changes nothing', () => {
    for (const c of CASES) {
      it(`${c.name} → ${c.code}${c.field ? ` (${c.field})` : ''}`, async () => {
        await refused(() => c.call(env), c.code, c.field);
      });
    }
  });

  describe('limits are inclusive', () => {
    it('accepts a title of exactly 200 chars and a description of exactly 20000', async () => {
      const t = await w.admin.rd.tickets.create.mutate({ title: x(200), description: x(20_000) });
      const stored = await w.db.selectFrom('tickets').select(['title', 'description']).where('id', '=', t.id).executeTakeFirstOrThrow();
      expect(stored).toEqual({ title: x(200), description: x(20_000) });
    });

    it('accepts 20 tags of 50 chars', async () => {
      const tags = Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(50, 'x'));
      const t = await w.admin.rd.tickets.create.mutate({ title: 'Tags', description: 'Many', tags });
      expect(t.tags).toEqual(tags);
    });

    it('accepts list limits 1 and 100', async () => {
      expect((await w.admin.rd.tickets.list.query({ limit: 1 })).items).toHaveLength(1);
      expect((await w.admin.rd.tickets.list.query({ limit: 100 })).items.length).toBeGreaterThan(1);
    });
  });

  describe('tokens that no longer work', () => {
    it("a deactivated user's previously working token → UNAUTHORIZED at once", async () => {
      const u = await w.makeUser('agent');
      expect(await u.rd.auth.me.query()).toMatchObject({ id: u.id, active: true });
      await w.admin.rd.users.update.mutate({ id: u.id, active: false });
      await refused(() => u.rd.auth.me.query(), 'UNAUTHORIZED', null);
      await refused(() => u.rd.tickets.create.mutate({ title: 't', description: 'd' }), 'UNAUTHORIZED', null);
    });

    it('a revoked token → UNAUTHORIZED', async () => {
      const u = await w.makeUser('customer');
      const extra = await w.admin.rd.users.createToken.mutate({ userId: u.id, name: 'second' });
      const rd = w.client(extra.token);
      expect(await rd.auth.me.query()).toMatchObject({ id: u.id });
      await w.admin.rd.users.revokeToken.mutate({ id: extra.id });
      await refused(() => rd.tickets.create.mutate({ title: 't', description: 'd' }), 'UNAUTHORIZED', null);
      // The user's other token is unaffected.
      expect(await u.rd.auth.me.query()).toMatchObject({ id: u.id });
    });
  });

  describe('SQL-looking search strings are just text', () => {
    for (const search of ["'; drop table tickets; --", "%' OR 1=1 --", "') or ('a'='a", "\\'; select pg_sleep(0); --"]) {
      it(`search ${JSON.stringify(search)}`, async () => {
        const before = await snapshot(w, env.ticket.id);
        const page = await w.admin.rd.tickets.list.query({ search, limit: 100 });
        // A normal page: the string matched as words, not as SQL, so the
        // fixture ticket (no word in common) is not in it.
        expect(Array.isArray(page.items)).toBe(true);
        expect(page.items.map((t) => t.id)).not.toContain(env.ticket.id);
        expect(await snapshot(w, env.ticket.id)).toEqual(before);
        const { rows } = await sql<{ n: string }>`select count(*) as n from tickets`.execute(w.db);
        expect(rows[0]!.n).toBe(before.counts.tickets);
      });
    }
  });

  describe('text is stored as sent', () => {
    it('a title with <script> comes back byte-identical, not HTML-escaped', async () => {
      const title = '<script>alert(1)</script> & "quotes" \'single\' &amp; é 🎫';
      const description = '<b>bold</b>\n<img src=x onerror=alert(1)>\n  indented  ';
      const created = await w.admin.rd.tickets.create.mutate({ title, description });
      expect(created).toMatchObject({ title, description });
      expect(await w.admin.rd.tickets.get.query({ id: created.id })).toMatchObject({ title, description });
      const stored = await w.db.selectFrom('tickets').select(['title', 'description']).where('id', '=', created.id).executeTakeFirstOrThrow();
      expect(Buffer.from(stored.title)).toEqual(Buffer.from(title));
      expect(Buffer.from(stored.description)).toEqual(Buffer.from(description));
    });
  });
});
