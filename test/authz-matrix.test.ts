// The authorization matrix: every procedure of the router × every kind of
// caller, over real HTTP. One `it` per cell. A refused call must also leave
// the database exactly as it was.
import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { RelaydeskClient, RelaydeskEvent, RouterOutputs } from '@relaydesk/client';
import { appRouter } from '../server/src/api/router.ts';
import { follow } from './helpers/events.ts';
import { codeOf, useWorld, type Actor, type World } from './helpers/fixtures.ts';

// ---- callers and outcomes ---------------------------------------------------

const CALLERS = [
  'anonymous',
  'bogus token',
  'admin',
  'assigned agent',
  'unassigned agent',
  'owner customer',
  'other customer',
] as const;
type Caller = (typeof CALLERS)[number];
type Outcome = 'ok' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'NOT_FOUND';
type Rules = Record<Caller, Outcome>;

const PUBLIC: Rules = {
  anonymous: 'ok',
  'bogus token': 'ok',
  admin: 'ok',
  'assigned agent': 'ok',
  'unassigned agent': 'ok',
  'owner customer': 'ok',
  'other customer': 'ok',
};
const ANY_USER: Rules = { ...PUBLIC, anonymous: 'UNAUTHORIZED', 'bogus token': 'UNAUTHORIZED' };
const STAFF: Rules = { ...ANY_USER, 'owner customer': 'FORBIDDEN', 'other customer': 'FORBIDDEN' };
const ADMIN: Rules = { ...STAFF, 'assigned agent': 'FORBIDDEN', 'unassigned agent': 'FORBIDDEN' };
/** Changing a ticket: admin or its assignee. Someone else's ticket is NOT_FOUND to a customer (no id probing). */
const MODIFY: Rules = { ...ANY_USER, 'unassigned agent': 'FORBIDDEN', 'owner customer': 'FORBIDDEN', 'other customer': 'NOT_FOUND' };

const BOGUS_TOKEN = `rd_${'A'.repeat(43)}`;
const LOGIN_PASSWORD = 'matrix password 123';

// ---- the scene every case runs against ----------------------------------------

type Ticket = RouterOutputs['tickets']['get'];

/**
 * Built fresh for every case: a ticket of the owner customer, assigned to the
 * assigned agent, with a public staff reply and an internal note; a ticket
 * of the other customer; and a spare agent whose user record and token the
 * users.* cases act on.
 */
interface Scene {
  ticket: Ticket;
  replyId: string;
  noteId: string;
  target: Actor;
  /** The other customer's ticket. */
  foreignTicketId: string;
  /** A webhook endpoint, and a dead delivery of the ticket's creation to it. */
  webhookId: string;
  deliveryId: string;
}

interface Env {
  w: World;
  loginEmail: string;
}

function actorOf(w: World, caller: Caller): Actor | null {
  switch (caller) {
    case 'admin':
      return w.admin;
    case 'assigned agent':
      return w.agent;
    case 'unassigned agent':
      return w.agent2;
    case 'owner customer':
      return w.customer;
    case 'other customer':
      return w.customer2;
    default:
      return null;
  }
}

function clientOf(w: World, caller: Caller): RelaydeskClient {
  if (caller === 'anonymous') return w.anon;
  if (caller === 'bogus token') return w.client(BOGUS_TOKEN);
  return actorOf(w, caller)!.rd;
}

const isCustomer = (caller: Caller) => caller === 'owner customer' || caller === 'other customer';

async function buildScene(w: World): Promise<Scene> {
  const created = await w.customer.rd.tickets.create.mutate({ title: 'Matrix ticket', description: 'Something is broken' });
  await w.admin.rd.tickets.update.mutate({ id: created.id, assigneeId: w.agent.id });
  const reply = await w.admin.rd.messages.add.mutate({ ticketId: created.id, body: 'A public reply' });
  const note = await w.agent.rd.messages.add.mutate({ ticketId: created.id, body: 'An internal note', internal: true });
  const target = await w.makeUser('agent');
  const foreign = await w.customer2.rd.tickets.create.mutate({ title: 'Not yours', description: 'Owned by the other customer' });
  const ticket = await w.admin.rd.tickets.get.query({ id: created.id });
  // No worker runs here: the delivery is written as a dead one would be.
  const { endpoint } = await w.admin.rd.webhooks.create.mutate({ url: 'http://127.0.0.1:9/matrix', events: ['ticket.*'] });
  const deliveryId = crypto.randomUUID();
  await sql`
    insert into webhook_deliveries (id, endpoint_id, event_position, event_type, status, attempts, last_error)
    select ${deliveryId}, ${endpoint.id}, position, type, 'dead', 3, 'connection refused'
      from events where ticket_id = ${created.id} and type = 'ticket.created' and position is not null`.execute(w.db);
  return { ticket, replyId: reply.id, noteId: note.id, target, foreignTicketId: foreign.id, webhookId: endpoint.id, deliveryId };
}

/** Everything a refused call could have touched: row counts and the mutable state of each row. */
async function dbState(w: World) {
  const [counts, tickets, users, tokens, webhooks, deliveries] = await Promise.all([
    sql<Record<string, string>>`select
        (select count(*) from users) as users, (select count(*) from contacts) as contacts,
        (select count(*) from tickets) as tickets, (select count(*) from messages) as messages,
        (select count(*) from events) as events, (select count(*) from api_tokens) as api_tokens,
        (select count(*) from pgboss.job) as jobs`
      .execute(w.db)
      .then((r) => r.rows[0]),
    w.db
      .selectFrom('tickets')
      .select(['id', 'version', 'status', 'title', 'assignee_id', 'contact_id', 'updated_at', 'resolved_at'])
      .orderBy('id')
      .execute(),
    w.db.selectFrom('users').select(['id', 'name', 'role', 'active', 'capacity', 'updated_at']).orderBy('id').execute(),
    w.db.selectFrom('api_tokens').select(['id', 'user_id', 'name', 'revoked_at']).orderBy('id').execute(),
    w.db.selectFrom('webhook_endpoints').select(['id', 'url', 'description', 'active', 'secret', 'updated_at']).orderBy('id').execute(),
    w.db.selectFrom('webhook_deliveries').select(['id', 'status', 'generation']).orderBy('id').execute(),
  ]);
  return { counts, tickets, users, tokens, webhooks, deliveries };
}

/** The ids of the messages among `events`, in order. */
const messageIds = (events: RelaydeskEvent[]) => events.flatMap((e) => (e.type === 'message.created' ? [e.data.message.id] : []));

const ticketRow = (w: World, id: string) => w.db.selectFrom('tickets').select(['id', 'version', 'status']).where('id', '=', id).executeTakeFirst();

// ---- the matrix ----------------------------------------------------------------

interface Case<T> {
  /** The router path, e.g. `tickets.update`: the coverage check matches on it. */
  proc: string;
  /** Tells apart two rows of one procedure. */
  variant?: string;
  rules: Rules;
  run(rd: RelaydeskClient, s: Scene, ctx: { caller: Caller; env: Env }): Promise<T>;
  /** Checks that a successful call did what it should. */
  verify?(result: T, s: Scene, ctx: { caller: Caller; env: Env; actor: Actor | null }): Promise<void> | void;
}

const row = <T>(c: Case<T>) => c as Case<unknown>;

let uniq = 0;
const otherCustomerOf = (env: Env, caller: Caller) => (caller === 'owner customer' ? env.w.customer2 : env.w.customer);

const MATRIX: Case<unknown>[] = [
  row({
    proc: 'health',
    rules: PUBLIC,
    run: (rd) => rd.health.query(),
    verify: (r) => expect(r).toMatchObject({ status: 'ok', db: 'up' }),
  }),
  row({
    proc: 'auth.login',
    rules: PUBLIC,
    run: (rd, _s, { env }) => rd.auth.login.mutate({ email: env.loginEmail, password: LOGIN_PASSWORD }),
    verify: (r, _s, { env }) => {
      expect(r.user.email).toBe(env.loginEmail);
      expect(r.token).toMatch(/^rd_/);
    },
  }),
  row({
    proc: 'auth.me',
    rules: ANY_USER,
    run: (rd) => rd.auth.me.query(),
    verify: (r, _s, { actor }) => expect(r).toMatchObject({ id: actor!.id, role: actor!.role }),
  }),

  // users.*: admin only
  row({
    proc: 'users.create',
    rules: ADMIN,
    run: (rd) => rd.users.create.mutate({ name: 'New Agent', email: `matrix-new-${++uniq}@example.com`, role: 'agent' }),
    verify: async (r, _s, { env }) => {
      expect(r.role).toBe('agent');
      expect(await env.w.db.selectFrom('users').select('id').where('id', '=', r.id).executeTakeFirst()).toBeDefined();
    },
  }),
  row({
    proc: 'users.list',
    rules: ADMIN,
    run: (rd) => rd.users.list.query({ limit: 100 }),
    verify: (r, s) => expect(r.items.map((u) => u.id)).toContain(s.target.id),
  }),
  row({
    proc: 'users.update',
    rules: ADMIN,
    run: (rd, s) => rd.users.update.mutate({ id: s.target.id, name: 'Renamed', capacity: 3 }),
    verify: (r) => expect(r).toMatchObject({ name: 'Renamed', capacity: 3 }),
  }),
  row({
    proc: 'users.createToken',
    rules: ADMIN,
    run: (rd, s) => rd.users.createToken.mutate({ userId: s.target.id, name: 'matrix' }),
    verify: async (r, s, { env }) => expect(await env.w.client(r.token).auth.me.query()).toMatchObject({ id: s.target.id }),
  }),
  row({
    proc: 'users.revokeToken',
    rules: ADMIN,
    run: (rd, s) => rd.users.revokeToken.mutate({ id: s.target.tokenId }),
    verify: async (_r, s) => expect(await codeOf(s.target.rd.auth.me.query())).toBe('UNAUTHORIZED'),
  }),
  row({
    proc: 'users.tokens',
    rules: ADMIN,
    run: (rd, s) => rd.users.tokens.query({ userId: s.target.id }),
    verify: (r, s) => expect(r.map((t) => t.id)).toEqual([s.target.tokenId]),
  }),

  // contacts.*: staff
  row({
    proc: 'contacts.list',
    rules: STAFF,
    run: (rd) => rd.contacts.list.query({ limit: 100 }),
    verify: (r, s) => expect(r.items.map((c) => c.id)).toContain(s.ticket.contactId),
  }),
  row({
    proc: 'contacts.get',
    rules: STAFF,
    run: (rd, s) => rd.contacts.get.query({ id: s.ticket.contactId }),
    verify: (r, _s, { env }) => expect(r.email).toBe(env.w.customer.email),
  }),

  // tickets.*
  row({
    proc: 'tickets.create',
    rules: ANY_USER,
    run: (rd) => rd.tickets.create.mutate({ title: 'Filed in the matrix', description: 'Details' }),
    verify: async (r, _s, { env, actor }) => {
      // Everyone files as themselves: a customer under their own contact.
      if (actor!.role === 'customer') expect(r.contactId).toBe(actor!.contactId);
      const contact = await env.w.db.selectFrom('contacts').select('email').where('id', '=', r.contactId).executeTakeFirstOrThrow();
      expect(contact.email).toBe(actor!.email);
    },
  }),
  row({
    proc: 'tickets.create',
    variant: 'for a contact',
    rules: STAFF,
    run: (rd) =>
      rd.tickets.create.mutate({
        title: 'Filed for someone',
        description: 'Details',
        contact: { email: `matrix-contact-${++uniq}@example.com`, name: 'Someone' },
      }),
    verify: async (r, _s, { env }) => {
      const contact = await env.w.db.selectFrom('contacts').select('email').where('id', '=', r.contactId).executeTakeFirstOrThrow();
      expect(contact.email).toMatch(/^matrix-contact-\d+@example\.com$/);
    },
  }),
  row({
    proc: 'tickets.list',
    rules: ANY_USER,
    run: (rd) => rd.tickets.list.query({ limit: 100 }),
    verify: (r, s, { caller, actor }) => {
      const ids = r.items.map((t) => t.id);
      if (isCustomer(caller)) {
        expect(r.items.length).toBeGreaterThan(0);
        expect(r.items.every((t) => t.contactId === actor!.contactId)).toBe(true);
        if (caller === 'owner customer') expect(ids).toContain(s.ticket.id);
        else expect(ids).toContain(s.foreignTicketId);
      } else {
        // Staff read every customer's tickets.
        expect(ids).toContain(s.ticket.id);
        expect(ids).toContain(s.foreignTicketId);
      }
    },
  }),
  row({
    proc: 'tickets.list',
    variant: "filtered by another customer's contactId",
    rules: ANY_USER,
    run: (rd, _s, { caller, env }) => rd.tickets.list.query({ limit: 100, contactId: otherCustomerOf(env, caller).contactId! }),
    verify: (r, s, { caller, env }) => {
      if (isCustomer(caller)) {
        // The filter can only narrow a customer's own tickets, never widen them.
        expect(r.items).toEqual([]);
      } else {
        expect(r.items.every((t) => t.contactId === env.w.customer.contactId)).toBe(true);
        expect(r.items.map((t) => t.id)).toContain(s.ticket.id);
      }
    },
  }),
  row({
    proc: 'tickets.get',
    rules: { ...ANY_USER, 'other customer': 'NOT_FOUND' },
    run: (rd, s) => rd.tickets.get.query({ id: s.ticket.id }),
    verify: (r, s, { caller }) => {
      const ids = r.messages.map((m) => m.id);
      expect(r.id).toBe(s.ticket.id);
      expect(ids).toContain(s.replyId);
      if (isCustomer(caller)) {
        expect(ids).not.toContain(s.noteId);
        expect(r.messages.some((m) => m.internal)).toBe(false);
      } else {
        expect(ids).toContain(s.noteId);
      }
    },
  }),
  row({
    proc: 'tickets.update',
    rules: MODIFY,
    run: (rd, s) => rd.tickets.update.mutate({ id: s.ticket.id, expectedVersion: s.ticket.version, title: 'Retitled', priority: 'high' }),
    verify: (r, s) => expect(r).toMatchObject({ title: 'Retitled', priority: 'high', version: s.ticket.version + 1 }),
  }),
  row({
    proc: 'tickets.resolve',
    rules: MODIFY,
    run: (rd, s) => rd.tickets.resolve.mutate({ id: s.ticket.id, resolution: 'Fixed' }),
    verify: (r, s) => expect(r).toMatchObject({ status: 'resolved', resolution: 'Fixed', version: s.ticket.version + 1 }),
  }),
  row({
    proc: 'tickets.delete',
    rules: ADMIN,
    run: (rd, s) => rd.tickets.delete.mutate({ id: s.ticket.id }),
    verify: async (r, s, { env }) => {
      expect(r).toEqual({ id: s.ticket.id, deleted: true });
      expect(await ticketRow(env.w, s.ticket.id)).toBeUndefined();
    },
  }),
  row({
    proc: 'tickets.claim',
    // Agents pull work; admins assign it, customers have none to pull.
    rules: { ...STAFF, admin: 'FORBIDDEN' },
    run: (rd) => rd.tickets.claim.mutate({ limit: 15 }),
    verify: (r, _s, { actor }) => {
      expect(r.items.length).toBeGreaterThan(0);
      expect(r.items.every((t) => t.assigneeId === actor!.id)).toBe(true);
    },
  }),
  row({
    proc: 'queues.stats',
    rules: ADMIN,
    run: (rd) => rd.queues.stats.query(),
    verify: (r) => expect(r.map((q) => q.name).sort()).toEqual(['ticket.ai-draft', 'ticket.assign', 'ticket.classify', 'webhook.deliver', 'webhook.prune']),
  }),
  row({
    proc: 'tickets.stats',
    rules: STAFF,
    run: (rd) => rd.tickets.stats.query(),
    verify: (r) => expect(r.total).toBeGreaterThan(0),
  }),

  row({
    proc: 'tickets.suggest',
    rules: ANY_USER,
    run: (rd) => rd.tickets.suggest.query({ title: 'Charged twice', description: 'My card was billed two times this month' }),
    // No GROQ_API_KEY here: the built-in classifier answers.
    verify: (r) => expect(r).toMatchObject({ source: 'builtin', category: 'billing' }),
  }),
  row({
    proc: 'ai.draftReply',
    // Staff, on any ticket (a draft is an internal note).
    rules: STAFF,
    run: (rd, s) => rd.ai.draftReply.mutate({ ticketId: s.ticket.id }),
    verify: async (r, s, { env }) => {
      expect(r.ticketId).toBe(s.ticket.id);
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from pgboss.job where name = 'ticket.ai-draft' and data->>'draftId' = ${r.draftId}`.execute(env.w.db);
      expect(rows[0]!.n).toBe(1);
    },
  }),

  // webhooks: admins only
  row({
    proc: 'webhooks.create',
    rules: ADMIN,
    run: (rd) => rd.webhooks.create.mutate({ url: 'http://127.0.0.1:9/new', events: ['ticket.created'] }),
    verify: (r) => {
      expect(r.secret).toMatch(/^whsec_/);
      expect(r.endpoint).toMatchObject({ url: 'http://127.0.0.1:9/new', active: true });
    },
  }),
  row({
    proc: 'webhooks.list',
    rules: ADMIN,
    // Every page: each case's scene adds an endpoint.
    run: async (rd) => {
      const items: RouterOutputs['webhooks']['list']['items'] = [];
      let cursor: string | undefined;
      do {
        const page = await rd.webhooks.list.query({ limit: 100, cursor });
        items.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return items;
    },
    verify: (r, s) => {
      expect(r.map((e) => e.id)).toContain(s.webhookId);
      expect(JSON.stringify(r)).not.toContain('whsec_');
    },
  }),
  row({
    proc: 'webhooks.update',
    rules: ADMIN,
    run: (rd, s) => rd.webhooks.update.mutate({ id: s.webhookId, description: 'from the matrix', active: false }),
    verify: (r) => expect(r).toMatchObject({ description: 'from the matrix', active: false }),
  }),
  row({
    proc: 'webhooks.rotateSecret',
    rules: ADMIN,
    run: (rd, s) => rd.webhooks.rotateSecret.mutate({ id: s.webhookId }),
    verify: (r) => {
      expect(r.secret).toMatch(/^whsec_/);
      expect(r.endpoint.previousSecretExpiresAt).not.toBeNull();
    },
  }),
  row({
    proc: 'webhooks.delete',
    rules: ADMIN,
    run: (rd, s) => rd.webhooks.delete.mutate({ id: s.webhookId }),
    verify: async (r, s, { env }) => {
      expect(r).toEqual({ id: s.webhookId, deleted: true });
      expect(await env.w.db.selectFrom('webhook_deliveries').select('id').where('id', '=', s.deliveryId).executeTakeFirst()).toBeUndefined();
    },
  }),
  row({
    proc: 'webhooks.deliveries',
    rules: ADMIN,
    run: (rd, s) => rd.webhooks.deliveries.query({ endpointId: s.webhookId }),
    verify: (r, s) => expect(r.items).toMatchObject([{ id: s.deliveryId, status: 'dead', eventType: 'ticket.created', lastError: 'connection refused' }]),
  }),
  row({
    proc: 'webhooks.redeliver',
    rules: ADMIN,
    run: (rd, s) => rd.webhooks.redeliver.mutate({ deliveryId: s.deliveryId }),
    verify: async (r, s, { env }) => {
      expect(r).toEqual({ queued: 1, more: false });
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from pgboss.job where name = 'webhook.deliver' and data->>'deliveryId' = ${s.deliveryId}`.execute(env.w.db);
      expect(rows[0]!.n).toBe(1);
    },
  }),

  // the audit trail and the live stream: customers see their own tickets' public events
  row({
    proc: 'tickets.history',
    rules: { ...ANY_USER, 'other customer': 'NOT_FOUND' },
    run: (rd, s) => rd.tickets.history.query({ id: s.ticket.id, limit: 100 }),
    verify: (r, s, { caller }) => {
      const messages = messageIds(r.items);
      expect(r.items[0]).toMatchObject({ type: 'ticket.created', ticketId: s.ticket.id });
      expect(messages).toContain(s.replyId);
      if (isCustomer(caller)) expect(messages).not.toContain(s.noteId);
      else expect(messages).toContain(s.noteId);
    },
  }),
  row({
    proc: 'events.subscribe',
    rules: { ...ANY_USER, 'other customer': 'NOT_FOUND' },
    // Replays the ticket's log from the start; refused callers get the error instead.
    run: async (rd, s, { caller }) => {
      const f = follow(rd, { ticketId: s.ticket.id, lastEventId: '0' });
      try {
        // The last message visible to the caller: everything before it has arrived too.
        const last = isCustomer(caller) ? s.replyId : s.noteId;
        const done = (events: RelaydeskEvent[]) => messageIds(events).includes(last);
        return await Promise.race([f.failed, f.until('the scene', done, 15_000)]).then((events) => [...events]);
      } finally {
        f.stop();
      }
    },
    verify: (r, s, { caller }) => {
      expect(r.every((e) => e.ticketId === s.ticket.id)).toBe(true);
      const messages = messageIds(r);
      expect(messages).toContain(s.replyId);
      if (isCustomer(caller)) expect(messages).not.toContain(s.noteId);
    },
  }),

  // messages.add
  row({
    proc: 'messages.add',
    variant: 'public reply',
    rules: { ...MODIFY, 'owner customer': 'ok' },
    run: (rd, s) => rd.messages.add.mutate({ ticketId: s.ticket.id, body: 'Reply from the matrix' }),
    verify: (r, s) => expect(r).toMatchObject({ ticketId: s.ticket.id, internal: false }),
  }),
  row({
    proc: 'messages.add',
    variant: 'internal note',
    rules: { ...ANY_USER, 'owner customer': 'FORBIDDEN', 'other customer': 'NOT_FOUND' },
    run: (rd, s) => rd.messages.add.mutate({ ticketId: s.ticket.id, body: 'Note from the matrix', internal: true }),
    verify: (r, s) => expect(r).toMatchObject({ ticketId: s.ticket.id, internal: true }),
  }),
];

const caseName = (c: Case<unknown>) => (c.variant ? `${c.proc} (${c.variant})` : c.proc);

// ---- the tests -------------------------------------------------------------------

describe('authorization matrix', () => {
  const w = useWorld('authz', { serverEnv: () => ({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }) });
  const env = { w } as Env;

  beforeAll(async () => {
    env.loginEmail = (await w.makeUser('customer', 'Login User', { password: LOGIN_PASSWORD })).email;
  });

  it('has a row for every procedure of the router', () => {
    const procedures = Object.keys(appRouter._def.procedures).sort();
    const covered = [...new Set(MATRIX.map((c) => c.proc))].sort();
    expect(covered).toEqual(procedures);
    // ...and every row states the outcome for every caller.
    for (const c of MATRIX) expect(Object.keys(c.rules).sort()).toEqual([...CALLERS].sort());
  });

  for (const c of MATRIX) {
    describe(caseName(c), () => {
      for (const caller of CALLERS) {
        const expected = c.rules[caller];
        it(`${caller} → ${expected}`, async () => {
          const scene = await buildScene(w);
          const rd = clientOf(w, caller);
          const ctx = { caller, env, actor: actorOf(w, caller) };
          if (expected === 'ok') {
            const result = await c.run(rd, scene, ctx);
            await c.verify?.(result, scene, ctx);
            return;
          }
          const before = await dbState(w);
          expect(await codeOf(c.run(rd, scene, ctx))).toBe(expected);
          // Refused means refused: no row added, removed or changed (a ticket
          // keeps its version, a deleted ticket still exists, a token stays live).
          expect(await dbState(w)).toEqual(before);
          expect(await ticketRow(w, scene.ticket.id)).toMatchObject({ version: scene.ticket.version, status: scene.ticket.status });
        });
      }
    });
  }
});
