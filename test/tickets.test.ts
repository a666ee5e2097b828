// The main ticket flows, through @relaydesk/client over real HTTP.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { codeOf, errorOf, useWorld } from './helpers/fixtures.ts';

describe('tickets', () => {
  const w = useWorld('tickets');

  const eventsOf = (ticketId: string) =>
    w.db.selectFrom('events').select(['type', 'actor_type', 'actor_id', 'data']).where('ticket_id', '=', ticketId).orderBy('id').execute();

  it('creates a ticket with a contact (normalised, one per email) and records ticket.created', async () => {
    const a = await w.admin.rd.tickets.create.mutate({
      title: 'Cannot log in',
      description: 'The login page spins forever',
      priority: 'high',
      tags: ['Login', 'login', ' web '],
      contact: { email: '  Jane.Doe@Example.COM ', name: 'Jane Doe' },
    });
    expect(a).toMatchObject({ status: 'open', priority: 'high', category: null, tags: ['login', 'web'], version: 1 });
    expect(a.number).toBeGreaterThan(0);
    expect(a.classification).toEqual({ source: 'manual', confidence: 1 });

    const b = await w.agent.rd.tickets.create.mutate({
      title: 'Again',
      description: 'Still spinning',
      contact: { email: 'jane.doe@example.com', name: 'Someone Else' },
    });
    expect(b.contactId).toBe(a.contactId);
    expect(b.number).toBe(a.number + 1);
    const contact = await w.admin.rd.contacts.get.query({ id: a.contactId });
    expect(contact).toMatchObject({ email: 'jane.doe@example.com', name: 'Jane Doe', ticketCount: 2 });

    const events = await eventsOf(a.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'ticket.created', actor_type: 'user', actor_id: w.admin.id });
    expect((events[0]!.data as { ticket: { id: string } }).ticket.id).toBe(a.id);
  });

  it('files a customer ticket under their own contact, and staff tickets without contact under the caller', async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Refund', description: 'Charged twice' });
    expect(t.contactId).toBe(w.customer.contactId);
    const s = await w.agent.rd.tickets.create.mutate({ title: 'Internal', description: 'Filed by staff' });
    const contact = await w.admin.rd.contacts.get.query({ id: s.contactId });
    expect(contact.email).toBe(w.agent.email);
  });

  it('lists with every filter and full-text search', async () => {
    const rd = w.admin.rd;
    const mk = (title: string, description: string, extra: Record<string, unknown> = {}) =>
      rd.tickets.create.mutate({ title, description, ...extra });
    const billing = await mk('Invoice is wrong', 'The invoice for March doubles the VAT', { category: 'billing', priority: 'low', tags: ['invoice'] });
    const tech = await mk('Server crashed', 'Kernel panic after the upgrade', { category: 'technical', priority: 'critical', contact: { email: 'ops@acme.test', name: 'Ops' } });
    await rd.tickets.update.mutate({ id: tech.id, assigneeId: w.agent.id, status: 'in_progress' });

    const ids = async (input: Parameters<typeof rd.tickets.list.query>[0]) => (await rd.tickets.list.query(input)).items.map((t) => t.id);
    expect(await ids({ category: 'billing' })).toContain(billing.id);
    expect(await ids({ category: 'billing' })).not.toContain(tech.id);
    expect(await ids({ priority: ['critical', 'high'] })).toContain(tech.id);
    expect(await ids({ status: 'in_progress' })).toEqual([tech.id]);
    expect(await ids({ assigneeId: w.agent.id })).toEqual([tech.id]);
    expect(await ids({ assigneeId: null })).not.toContain(tech.id);
    expect(await ids({ contactId: tech.contactId })).toEqual([tech.id]);
    expect(await ids({ tag: 'INVOICE' })).toEqual([billing.id]);
    expect(await ids({ search: 'invoices' })).toEqual([billing.id]); // stemmed
    expect(await ids({ search: 'kernel -march' })).toEqual([tech.id]);
    expect(await ids({ search: `#${tech.number}` })).toEqual([tech.id]);
    expect(await ids({ search: 'nothing matches this' })).toEqual([]);
  });

  it('pages with a keyset cursor: every ticket once, newest first, in both orders', async () => {
    const rd = w.admin.rd;
    const contact = { email: 'pager@example.com', name: 'Pager' };
    for (let i = 0; i < 23; i++) await rd.tickets.create.mutate({ title: `page ${i}`, description: 'x', contact });
    const contactId = (await rd.tickets.list.query({ limit: 1 })).items[0]!.contactId;
    for (const sort of ['newest', 'oldest'] as const) {
      const seen: number[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const res = await rd.tickets.list.query({ contactId, limit: 5, cursor, sort });
        seen.push(...res.items.map((t) => t.number));
        cursor = res.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBe(5);
      expect(seen).toHaveLength(23);
      expect(new Set(seen).size).toBe(23);
      const sorted = [...seen].sort((a, b) => (sort === 'newest' ? b - a : a - b));
      expect(seen).toEqual(sorted);
    }
  });

  it('gets a ticket with its thread; customers never see internal notes', async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Where is my parcel', description: 'Order 1234' });
    await w.admin.rd.tickets.update.mutate({ id: t.id, assigneeId: w.agent.id });
    await w.agent.rd.messages.add.mutate({ ticketId: t.id, body: 'Customer seems upset', internal: true });
    const reply = await w.agent.rd.messages.add.mutate({ ticketId: t.id, body: 'It ships tomorrow' });
    expect(reply.author).toMatchObject({ id: w.agent.id, role: 'agent' });

    const staffView = await w.agent2.rd.tickets.get.query({ id: t.id });
    expect(staffView.messages.map((m) => m.body)).toEqual(['Customer seems upset', 'It ships tomorrow']);
    const customerView = await w.customer.rd.tickets.get.query({ id: t.id });
    expect(customerView.messages.map((m) => m.body)).toEqual(['It ships tomorrow']);
    // The first public staff reply is the first response; the note is not.
    expect(customerView.firstResponseAt).toBe(reply.createdAt);
  });

  it("the first staff reply sets firstResponseAt without changing the ticket's version", async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Version check', description: 'x' });
    const assigned = await w.admin.rd.tickets.update.mutate({ id: t.id, assigneeId: w.agent.id });
    await w.agent.rd.messages.add.mutate({ ticketId: t.id, body: 'On it' });
    // The agent's copy is still current: no CONFLICT.
    const u = await w.agent.rd.tickets.update.mutate({ id: t.id, expectedVersion: assigned.version, status: 'in_progress' });
    expect(u.firstResponseAt).not.toBeNull();
    expect(u.version).toBe(assigned.version + 1);
  });

  it('reassignments that swap two agents at once never deadlock', async () => {
    const pairs = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const a = await w.admin.rd.tickets.create.mutate({ title: `swap a${i}`, description: 'x' });
        const b = await w.admin.rd.tickets.create.mutate({ title: `swap b${i}`, description: 'x' });
        await w.admin.rd.tickets.update.mutate({ id: a.id, assigneeId: w.agent.id });
        await w.admin.rd.tickets.update.mutate({ id: b.id, assigneeId: w.agent2.id });
        return [a.id, b.id] as const;
      }),
    );
    const results = await Promise.allSettled(
      pairs.flatMap(([a, b]) => [
        w.admin.rd.tickets.update.mutate({ id: a, assigneeId: w.agent2.id }),
        w.admin.rd.tickets.update.mutate({ id: b, assigneeId: w.agent.id }),
      ]),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
  });

  it('a customer reply reopens a waiting or resolved ticket; a closed one takes no reply', async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Reopen me', description: 'x' });
    await w.admin.rd.tickets.update.mutate({ id: t.id, status: 'waiting' });
    await w.customer.rd.messages.add.mutate({ ticketId: t.id, body: 'Here is the info' });
    expect((await w.customer.rd.tickets.get.query({ id: t.id })).status).toBe('open');

    await w.admin.rd.tickets.resolve.mutate({ id: t.id, resolution: 'Sent the info' });
    await w.customer.rd.messages.add.mutate({ ticketId: t.id, body: 'Not fixed' });
    const reopened = await w.customer.rd.tickets.get.query({ id: t.id });
    expect(reopened).toMatchObject({ status: 'open', resolvedAt: null });

    await w.admin.rd.tickets.update.mutate({ id: t.id, status: 'closed' });
    expect(await codeOf(w.customer.rd.messages.add.mutate({ ticketId: t.id, body: 'hello?' }))).toBe('CONFLICT');
  });

  it('updates with optimistic concurrency and records what changed', async () => {
    const t = await w.admin.rd.tickets.create.mutate({ title: 'Old title', description: 'x' });
    const u1 = await w.admin.rd.tickets.update.mutate({ id: t.id, expectedVersion: 1, title: 'New title', priority: 'medium' });
    expect(u1).toMatchObject({ title: 'New title', priority: 'medium', version: 2 });
    expect(u1.classification?.source).toBe('manual');

    const stale = await errorOf(w.admin.rd.tickets.update.mutate({ id: t.id, expectedVersion: 1, title: 'Lost update' }));
    expect(stale).toMatchObject({ code: 'CONFLICT', field: 'expectedVersion' });
    expect((await w.admin.rd.tickets.get.query({ id: t.id })).title).toBe('New title');

    // A patch that changes nothing makes no version and no event.
    const same = await w.admin.rd.tickets.update.mutate({ id: t.id, title: 'New title' });
    expect(same.version).toBe(2);

    await w.admin.rd.tickets.update.mutate({ id: t.id, expectedVersion: 2, assigneeId: w.agent.id });
    const events = await eventsOf(t.id);
    expect(events.map((e) => e.type)).toEqual(['ticket.created', 'ticket.updated', 'ticket.updated', 'ticket.assigned']);
    expect(events[1]!.data).toMatchObject({ changes: { title: { from: 'Old title', to: 'New title' }, priority: { from: null, to: 'medium' } }, version: 2 });
    expect(events[3]!.data).toMatchObject({ from: null, to: w.agent.id });
  });

  it('two concurrent updates with the same expectedVersion: exactly one wins', async () => {
    const t = await w.admin.rd.tickets.create.mutate({ title: 'Race', description: 'x' });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => w.admin.rd.tickets.update.mutate({ id: t.id, expectedVersion: 1, title: `winner ${i}` })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await w.admin.rd.tickets.get.query({ id: t.id })).version).toBe(2);
  });

  it('resolves, then refuses to resolve again; status changes keep resolvedAt consistent', async () => {
    const t = await w.admin.rd.tickets.create.mutate({ title: 'Resolve me', description: 'x' });
    await w.admin.rd.tickets.update.mutate({ id: t.id, assigneeId: w.agent.id });
    const r = await w.agent.rd.tickets.resolve.mutate({ id: t.id, resolution: 'Restarted the router' });
    expect(r).toMatchObject({ status: 'resolved', resolution: 'Restarted the router' });
    expect(r.resolvedAt).not.toBeNull();
    expect(await codeOf(w.agent.rd.tickets.resolve.mutate({ id: t.id }))).toBe('CONFLICT');
    const reopened = await w.agent.rd.tickets.update.mutate({ id: t.id, status: 'open' });
    expect(reopened.resolvedAt).toBeNull();
    const types = (await eventsOf(t.id)).map((e) => e.type);
    expect(types).toContain('ticket.resolved');
  });

  it('deletes a ticket with its messages but keeps its history', async () => {
    const t = await w.admin.rd.tickets.create.mutate({ title: 'Spam', description: 'buy now' });
    await w.admin.rd.messages.add.mutate({ ticketId: t.id, body: 'spam indeed', internal: true });
    expect(await w.admin.rd.tickets.delete.mutate({ id: t.id })).toEqual({ id: t.id, deleted: true });
    expect(await codeOf(w.admin.rd.tickets.get.query({ id: t.id }))).toBe('NOT_FOUND');
    expect(await codeOf(w.admin.rd.tickets.delete.mutate({ id: t.id }))).toBe('NOT_FOUND');
    const msgs = await w.db.selectFrom('messages').select('id').where('ticket_id', '=', t.id).execute();
    expect(msgs).toHaveLength(0);
    expect((await eventsOf(t.id)).map((e) => e.type)).toEqual(['ticket.created', 'message.created', 'ticket.deleted']);
  });

  it('every mutation writes its event in the same transaction: a failing one writes none', async () => {
    const before = await w.db.selectFrom('events').select((e) => e.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    // Passes zod, then fails on the ticket lookup inside the transaction.
    expect(await codeOf(w.admin.rd.messages.add.mutate({ ticketId: '01900000-0000-7000-8000-000000000000', body: 'x' }))).toBe('NOT_FOUND');
    const after = await w.db.selectFrom('events').select((e) => e.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('stats are aggregated in SQL and match the rows', async () => {
    const stats = await w.agent.rd.tickets.stats.query();
    const rows = await w.db.selectFrom('tickets').select(['status', 'priority', 'category', 'assignee_id']).execute();
    expect(stats.total).toBe(rows.length);
    const count = (f: (r: (typeof rows)[number]) => boolean) => rows.filter(f).length;
    expect(stats.byStatus.open).toBe(count((r) => r.status === 'open'));
    expect(stats.byPriority.critical).toBe(count((r) => r.priority === 'critical'));
    expect(stats.byPriority.unset).toBe(count((r) => r.priority === null));
    expect(stats.byCategory.billing).toBe(count((r) => r.category === 'billing'));
    const mine = stats.byAssignee.find((a) => a.assigneeId === w.agent.id);
    expect(mine?.total).toBe(count((r) => r.assignee_id === w.agent.id));
    expect(stats.medianFirstResponseSeconds).toBeGreaterThanOrEqual(0);
    expect(stats.medianResolutionSeconds).toBeGreaterThanOrEqual(0);
  });
});

describe('classification without an LLM', () => {
  // No GROQ_API_KEY: the built-in model classifies in the create transaction, no job.
  const w = useWorld('inline-classify', { serverEnv: () => ({ AI_CLASSIFY: 'auto' }) });

  const classifyJobs = async (ticketId: string) =>
    Number((await sql<{ n: number }>`select count(*) as n from pgboss.job where name = 'ticket.classify' and data->>'ticketId' = ${ticketId}`.execute(w.db)).rows[0]!.n);

  it('a new ticket comes back classified, with its ticket.classified event in the same commit and no job', async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Charged twice', description: 'My invoice was charged twice this month, please refund' });
    expect(t).toMatchObject({ category: 'billing', version: 1, classification: { source: 'builtin' } });
    expect(t.priority).not.toBeNull();
    expect(t.classification!.confidence).toBeGreaterThan(0);
    expect(await classifyJobs(t.id)).toBe(0);

    const staff = await w.agent.rd.tickets.history.query({ id: t.id });
    expect(staff.items.map((e) => e.type)).toEqual(['ticket.created', 'ticket.classified']);
    const event = staff.items[1]!;
    if (event.type !== 'ticket.classified') throw new Error('unreachable');
    expect(event.data).toMatchObject({ category: 'billing', priority: t.priority, filled: ['category', 'priority'], version: 1 });
    expect(event.data.reason).toMatch(/^built-in classifier: .*GROQ_API_KEY/);
    expect(event.actor).toEqual({ type: 'system', id: null });
    // The reason names configuration: staff only.
    const mine = await w.customer.rd.tickets.history.query({ id: t.id });
    expect(JSON.stringify(mine.items)).not.toContain('GROQ');
  });

  it('fills only what the caller left unset, and leaves a fully set ticket alone', async () => {
    const partial = await w.customer.rd.tickets.create.mutate({ title: 'Site down', description: 'Nobody can log in, production is down', category: 'general' });
    expect(partial).toMatchObject({ category: 'general', classification: { source: 'builtin' } });
    expect(partial.priority).not.toBeNull();
    const [, classified] = (await w.agent.rd.tickets.history.query({ id: partial.id })).items;
    expect(classified).toMatchObject({ type: 'ticket.classified', data: { category: 'general', filled: ['priority'] } });

    const full = await w.customer.rd.tickets.create.mutate({ title: 'Set by me', description: 'All set', category: 'general', priority: 'low' });
    expect(full).toMatchObject({ category: 'general', priority: 'low', classification: { source: 'manual', confidence: 1 } });
    expect((await w.agent.rd.tickets.history.query({ id: full.id })).items.map((e) => e.type)).toEqual(['ticket.created']);
    expect(await classifyJobs(full.id)).toBe(0);
  });
});
