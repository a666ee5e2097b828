// Live events through the SDK against a real server: what a subscriber
// receives, in which order, what it may see, how it resumes, and how a
// stream ends (revoked token, a client that stops reading).
import http from 'node:http';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createRelaydeskClient, type RelaydeskEvent } from '@relaydesk/client';
import { cursorOf } from '../server/src/core/events/types.ts';
import { logHead } from '../server/src/core/events/log.ts';
import { follow, refusal } from './helpers/events.ts';
import { codeOf, errorOf, useWorld } from './helpers/fixtures.ts';
import { startServer } from './helpers/server.ts';
import { waitFor } from './helpers/worker.ts';

const ofTicket = (id: string) => (events: RelaydeskEvent[]) => events.filter((e) => e.ticketId === id);
const isIncreasing = (ids: string[]) => ids.every((id, i) => i === 0 || ids[i - 1]! < id);

describe('events.subscribe and tickets.history', () => {
  const w = useWorld('events');
  /** A cursor at the current end of the log: subscribing from it sees everything after. */
  const now = async () => cursorOf(await logHead(w.db));

  it("delivers a ticket's life in commit order, and history holds the same events under the same ids", async () => {
    const from = await now();
    const sub = follow(w.agent.rd, { lastEventId: from });
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Printer on fire', description: 'Really' });
    await w.admin.rd.tickets.update.mutate({ id: t.id, assigneeId: w.agent.id, priority: 'high' });
    await w.agent.rd.messages.add.mutate({ ticketId: t.id, body: 'On my way' });
    await w.agent.rd.tickets.resolve.mutate({ id: t.id, resolution: 'Extinguished' });

    const got = ofTicket(t.id)(await sub.until('5 events', (e) => ofTicket(t.id)(e).length >= 6));
    sub.stop();
    expect(got.map((e) => e.type)).toEqual([
      'ticket.created',
      'ticket.updated',
      'ticket.assigned',
      'message.created',
      'ticket.updated',
      'ticket.resolved',
    ]);
    expect(isIncreasing(got.map((e) => e.id))).toBe(true);
    const created = got[0]!;
    // The union is discriminated by type: data narrows with it.
    if (created.type !== 'ticket.created') throw new Error('unreachable');
    expect(created.data.ticket).toMatchObject({ id: t.id, title: 'Printer on fire' });
    expect(created.actor).toEqual({ type: 'user', id: w.customer.id });

    const history = await w.agent.rd.tickets.history.query({ id: t.id });
    expect(history.items).toEqual(got);
    expect(history.nextCursor).toBeNull();
    // Paged: two at a time walks the same list.
    const paged: RelaydeskEvent[] = [];
    let cursor: string | undefined;
    do {
      const p = await w.agent.rd.tickets.history.query({ id: t.id, limit: 2, cursor });
      paged.push(...p.items);
      cursor = p.nextCursor ?? undefined;
    } while (cursor);
    expect(paged).toEqual(got);
  });

  it('history includes a write committed a moment ago (read your writes)', async () => {
    for (let i = 0; i < 10; i++) {
      const t = await w.customer.rd.tickets.create.mutate({ title: `Quick ${i}`, description: 'x' });
      const h = await w.customer.rd.tickets.history.query({ id: t.id });
      expect(h.items.map((e) => e.type)).toEqual(['ticket.created']);
    }
  });

  it('a customer sees only their own tickets, never internal notes; staff see everything', async () => {
    const from = await now();
    const mine = follow(w.customer.rd, { lastEventId: from });
    const theirs = follow(w.customer2.rd, { lastEventId: from });
    const staff = follow(w.agent2.rd, { lastEventId: from });
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Visibility', description: 'x' });
    await w.admin.rd.tickets.update.mutate({ id: t.id, assigneeId: w.agent.id });
    const note = await w.agent.rd.messages.add.mutate({ ticketId: t.id, body: 'internal: customer is grumpy', internal: true });
    const reply = await w.agent.rd.messages.add.mutate({ ticketId: t.id, body: 'Hello!' });
    // A later event of the other customer: once it arrives, everything before it has too.
    const other = await w.customer2.rd.tickets.create.mutate({ title: 'Sentinel', description: 'x' });

    const seen = await mine.until('the public reply', (e) => e.some((x) => x.type === 'message.created' && x.data.message.id === reply.id));
    await theirs.until('their own ticket', (e) => e.some((x) => x.ticketId === other.id));
    await staff.until('the sentinel', (e) => e.some((x) => x.ticketId === other.id));
    await new Promise((r) => setTimeout(r, 300)); // room for anything that should not come
    for (const f of [mine, theirs, staff]) f.stop();

    expect(seen.every((e) => e.ticketId === t.id)).toBe(true);
    expect(seen.some((e) => e.type === 'message.created' && e.data.message.id === note.id)).toBe(false);
    expect(theirs.events.every((e) => e.ticketId === other.id)).toBe(true);
    const staffSaw = staff.events.filter((e) => e.type === 'message.created').map((e) => (e.type === 'message.created' ? e.data.message.id : ''));
    expect(staffSaw).toEqual([note.id, reply.id]);

    // The same rules in the audit trail.
    const customerHistory = await w.customer.rd.tickets.history.query({ id: t.id });
    expect(customerHistory.items.some((e) => e.type === 'message.created' && e.data.message.internal)).toBe(false);
    expect(await codeOf(w.customer2.rd.tickets.history.query({ id: t.id }))).toBe('NOT_FOUND');
  });

  it('filters by ticket and by type (exact or pattern)', async () => {
    const from = await now();
    const a = await w.customer.rd.tickets.create.mutate({ title: 'Filter A', description: 'x' });
    const byTicket = follow(w.agent.rd, { lastEventId: from, ticketId: a.id });
    const byType = follow(w.agent.rd, { lastEventId: from, types: ['message.created'] });
    const byPattern = follow(w.agent.rd, { lastEventId: from, types: ['ticket.*'] });
    const b = await w.customer.rd.tickets.create.mutate({ title: 'Filter B', description: 'x' });
    await w.customer.rd.messages.add.mutate({ ticketId: b.id, body: 'on B' });
    await w.customer.rd.messages.add.mutate({ ticketId: a.id, body: 'on A' });

    await byTicket.until('A created and its message', (e) => e.length >= 2);
    await byType.until('both messages', (e) => e.length >= 2);
    await byPattern.until('both creations', (e) => e.filter((x) => x.type === 'ticket.created').length >= 2);
    await new Promise((r) => setTimeout(r, 300));
    for (const f of [byTicket, byType, byPattern]) f.stop();
    expect(byTicket.events.every((e) => e.ticketId === a.id)).toBe(true);
    expect(byTicket.events.map((e) => e.type)).toEqual(['ticket.created', 'message.created']);
    expect(byType.events.every((e) => e.type === 'message.created')).toBe(true);
    expect(byPattern.events.every((e) => e.type.startsWith('ticket.'))).toBe(true);
  });

  it("a stream following one ticket passes over every other ticket's events and misses none of its own, live or resumed", async () => {
    const from = await now();
    const mine = await w.customer.rd.tickets.create.mutate({ title: 'Followed', description: 'x' });
    const other = await w.customer.rd.tickets.create.mutate({ title: 'Busy neighbour', description: 'x' });
    const f = follow(w.agent.rd, { lastEventId: from, ticketId: mine.id });
    await f.until('the creation', (e) => e.length >= 1);
    // Batches with nothing for this stream advance it without waking it; its own events in between must all come.
    // Sequential writes give batches of one event; concurrent ones give batches
    // holding several of this ticket's events, with others arriving mid-send.
    for (let i = 0; i < 20; i++) {
      await w.agent.rd.messages.add.mutate({ ticketId: other.id, body: `other ${i}`, internal: true });
      if (i % 7 === 0) await w.agent.rd.messages.add.mutate({ ticketId: mine.id, body: `mine ${i}`, internal: true });
    }
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => w.agent.rd.messages.add.mutate({ ticketId: i % 2 ? other.id : mine.id, body: `burst ${round}.${i}`, internal: true })),
      );
    }
    await f.until("all 63 of this ticket's messages", (e) => e.filter((x) => x.type === 'message.created').length >= 63);
    f.stop();
    expect(f.events).toEqual((await w.agent.rd.tickets.history.query({ id: mine.id, limit: 100 })).items);

    // Resuming from its last id: the other ticket's events since are passed over, its own next one comes, once.
    for (let i = 0; i < 10; i++) await w.agent.rd.messages.add.mutate({ ticketId: other.id, body: `later ${i}`, internal: true });
    await w.agent.rd.messages.add.mutate({ ticketId: mine.id, body: 'mine again', internal: true });
    const resumed = follow(w.agent.rd, { lastEventId: f.lastId(), ticketId: mine.id });
    await resumed.until('the one missed', (e) => e.length >= 1);
    await w.agent.rd.messages.add.mutate({ ticketId: other.id, body: 'after', internal: true });
    await w.agent.rd.messages.add.mutate({ ticketId: mine.id, body: 'live', internal: true });
    await resumed.until('the live one', (e) => e.length >= 2);
    await new Promise((r) => setTimeout(r, 300));
    resumed.stop();
    const history = (await w.agent.rd.tickets.history.query({ id: mine.id, limit: 100 })).items;
    expect([...f.events, ...resumed.events]).toEqual(history);
  });

  it('resumes after lastEventId with exactly the events missed, then goes on live', async () => {
    const from = await now();
    const first = follow(w.agent.rd, { lastEventId: from });
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Resume', description: 'x' });
    await first.until('the creation', (e) => e.some((x) => x.ticketId === t.id));
    first.stop();
    const seenBefore = [...first.events];

    for (let i = 0; i < 5; i++) await w.customer.rd.messages.add.mutate({ ticketId: t.id, body: `missed ${i}` });
    const second = follow(w.agent.rd, { lastEventId: first.lastId() });
    await second.until('the 5 missed messages', (e) => e.length >= 5);
    await w.customer.rd.messages.add.mutate({ ticketId: t.id, body: 'live again' });
    await second.until('the live one', (e) => e.length >= 6);
    second.stop();

    const all = [...seenBefore, ...second.events];
    const history = await w.agent.rd.tickets.history.query({ id: t.id });
    expect(all.filter((e) => e.ticketId === t.id)).toEqual(history.items);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
  });

  it('a stream opened right as the newest events are being read still gets them (no event waits for a later one)', async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Seam', description: 'x' });
    for (let i = 0; i < 25; i++) {
      const before = await now();
      await w.customer.rd.messages.add.mutate({ ticketId: t.id, body: `seam ${i}` });
      // Opened while the sequencer and the hub are busy with that message (at
      // a varying moment of the 10 ms sequencing interval); nothing is written
      // after it, so only the replay/live seam can deliver it.
      await new Promise((r) => setTimeout(r, i % 12));
      const sub = follow(w.agent.rd, { lastEventId: before, ticketId: t.id });
      await sub.until(`message ${i}`, (e) => e.length >= 1, 10_000);
      sub.stop();
    }
  });

  it("speaks tRPC's SSE wire format byte for byte: retry, connected, data and id per event, serialized-error with the router's error shape", async () => {
    const from = cursorOf(await logHead(w.db));
    const t = await w.customer.rd.tickets.create.mutate({ title: 'On the wire', description: 'x' });
    const read = async (token: string, input: unknown, until: RegExp) => {
      const ac = new AbortController();
      const res = await fetch(`${w.url}/trpc/events.subscribe?input=${encodeURIComponent(JSON.stringify(input))}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        signal: ac.signal,
      });
      const reader = res.body!.getReader();
      let text = '';
      while (!until.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      ac.abort();
      return { res, text };
    };
    const ok = await read(w.customer.token, { lastEventId: from, ticketId: t.id }, /\nid: \d+\n\n\n/);
    expect(ok.res.status).toBe(200);
    expect(ok.res.headers.get('content-type')).toBe('text/event-stream');
    expect(ok.res.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(ok.text.startsWith('retry: 1000\n\nevent: connected\ndata: {"reconnectAfterInactivityMs":30000}\n\n\ndata: {')).toBe(true);
    const frame = /\ndata: (\{.*\})\nid: (\d+)\n\n\n$/.exec(ok.text)!;
    expect(JSON.parse(frame[1]!)).toMatchObject({ id: frame[2], type: 'ticket.created', ticketId: t.id });

    // HEAD writes no body, so it could never push back: it is never served a stream (tRPC answers it).
    const head = await fetch(`${w.url}/trpc/events.subscribe`, { method: 'HEAD', headers: { authorization: `Bearer ${w.customer.token}`, accept: 'text/event-stream' } });
    expect(head.status).not.toBe(200);
    expect(head.headers.get('content-type') ?? '').not.toContain('text/event-stream');

    const bad = await read(w.customer.token, { types: ['no.such.type'] }, /serialized-error[^]*\n\n\n/);
    expect(bad.res.status).toBe(200);
    const error = /event: serialized-error\ndata: (.*)\n/.exec(bad.text)!;
    expect(JSON.parse(error[1]!)).toMatchObject({ code: -32600, data: { code: 'BAD_REQUEST', httpStatus: 400, path: 'events.subscribe', field: 'types.0' } });
  });

  it('refuses bad input with the field named', async () => {
    expect(await refusal(w.agent.rd, { lastEventId: 'yesterday' })).toEqual({ code: 'BAD_REQUEST', field: 'lastEventId' });
    expect(await refusal(w.agent.rd, { lastEventId: '999999999999' })).toEqual({ code: 'BAD_REQUEST', field: 'lastEventId' });
    expect(await refusal(w.agent.rd, { types: ['ticket.exploded'] })).toEqual({ code: 'BAD_REQUEST', field: 'types.0' });
    expect(await refusal(w.agent.rd, { types: [] })).toEqual({ code: 'BAD_REQUEST', field: 'types' });
    expect(await refusal(w.agent.rd, { ticketId: 'not-a-uuid' })).toEqual({ code: 'BAD_REQUEST', field: 'ticketId' });
    expect((await refusal(w.anon)).code).toBe('UNAUTHORIZED');
    const foreign = await w.customer2.rd.tickets.create.mutate({ title: 'Not yours', description: 'x' });
    expect((await refusal(w.customer.rd, { ticketId: foreign.id })).code).toBe('NOT_FOUND');
    expect((await errorOf(w.agent.rd.tickets.history.query({ id: foreign.id, cursor: 'abc' }))).field).toBe('cursor');
  });

  it("keeps a deleted ticket's history for staff", async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Doomed', description: 'x' });
    await w.admin.rd.tickets.delete.mutate({ id: t.id });
    const h = await w.admin.rd.tickets.history.query({ id: t.id });
    expect(h.items.map((e) => e.type)).toEqual(['ticket.created', 'ticket.deleted']);
    expect(await codeOf(w.customer.rd.tickets.history.query({ id: t.id }))).toBe('NOT_FOUND');
    expect(await codeOf(w.admin.rd.tickets.history.query({ id: '018f0000-0000-7000-8000-000000000000' }))).toBe('NOT_FOUND');
  });

  it('ends the stream when its token is revoked', async () => {
    const agent = await w.makeUser('agent');
    const sub = follow(agent.rd, { lastEventId: await now() });
    await w.customer.rd.tickets.create.mutate({ title: 'Before revocation', description: 'x' });
    await sub.until('an event', (e) => e.length > 0);
    await w.admin.rd.users.revokeToken.mutate({ id: agent.tokenId });
    const err = await sub.failed.catch((e: unknown) => e);
    expect((err as { data?: { code?: string } }).data?.code).toBe('UNAUTHORIZED');
  });

  it('a customer demoted from staff stops receiving what customers may not see', async () => {
    const agent = await w.makeUser('agent');
    const from = await now();
    const sub = follow(agent.rd, { lastEventId: from });
    await w.admin.rd.users.update.mutate({ id: agent.id, role: 'customer' });
    await new Promise((r) => setTimeout(r, 500)); // the change reaches the stream (NOTIFY)
    const t = await w.customer.rd.tickets.create.mutate({ title: 'After demotion', description: 'x' });
    // Another event this user may see: their own ticket.
    const own = await agent.rd.tickets.create.mutate({ title: 'Own ticket', description: 'x' });
    await sub.until('their own ticket', (e) => e.some((x) => x.ticketId === own.id));
    sub.stop();
    expect(sub.events.some((e) => e.ticketId === t.id)).toBe(false);
  });
});

describe('a subscriber that stops reading', () => {
  const w = useWorld('events-slow');

  it('is dropped once it reads nothing for EVENTS_SUBSCRIBER_STUCK_MS, holds no more memory, and resumes from its last id without losing an event', { timeout: 120_000 }, async () => {
    const buffer = 50;
    const server = await startServer(w.dbUrl, { EVENTS_SUBSCRIBER_BUFFER: String(buffer), EVENTS_SUBSCRIBER_STUCK_MS: '1000' });
    try {
      const from = cursorOf(await logHead(w.db));
      // A raw SSE client that reads the first events, then stops reading.
      const url = `${server.url}/trpc/events.subscribe?input=${encodeURIComponent(JSON.stringify({ lastEventId: from }))}`;
      const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
        http.get(url, { headers: { authorization: `Bearer ${w.admin.token}`, accept: 'text/event-stream' } }, resolve).on('error', reject),
      );
      expect(res.headers['content-type']).toMatch(/text\/event-stream/);
      res.pause();

      const metric = async (name: string) => {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
      };
      // Big events, enough to fill the socket buffers many times over, and
      // more every 200 ms for as long as it takes.
      let total = 0;
      const write = async (n: number, pad: number) => {
        await sql`insert into events (type, data) select 'ticket.updated', jsonb_build_object('n', g, 'pad', ${'x'.repeat(pad)}::text) from generate_series(1, ${n}::int) g`.execute(w.db);
        total += n;
      };
      for (let i = 0; i < 10; i++) await write(200, 16_000);
      await waitFor(
        'the stream to be let go as lagging',
        async () => {
          await write(20, 100);
          return (await metric('relaydesk_event_subscribers_lagging_total')) >= 1;
        },
        60_000,
      );
      // Nothing is held for it any more, whatever keeps being written.
      await write(500, 100);
      await new Promise((r) => setTimeout(r, 500));
      expect(await metric('relaydesk_event_subscriber_buffered_events')).toBeLessThanOrEqual(buffer);
      expect(await metric('relaydesk_event_subscribers')).toBe(0);

      // Reading again: what was already in flight, then the connection ends
      // (cut by the server, or closed with a "fell behind" reason if that still fit).
      res.resume();
      let text = '';
      res.setEncoding('utf8');
      const ended = await (async () => {
        try {
          for await (const chunk of res) text += chunk;
          return 'closed';
        } catch (err) {
          return (err as Error).message;
        }
      })();
      expect(['closed', 'aborted']).toContain(ended);
      // Only whole messages count: the last one may have been cut in the middle.
      const whole = text.split('\n\n').slice(0, -1);
      const ids = whole.flatMap((m) => /^id: (\d+)$/m.exec(m)?.[1] ?? []);
      expect(ids.length).toBeGreaterThan(0);
      expect(ids.length).toBeLessThan(total);

      // Resuming from the last id read gets everything after it, exactly once.
      const rest = follow(w.admin.rd, { lastEventId: ids.at(-1)! });
      await rest.until(`${total - ids.length} more events`, (e) => e.length >= total - ids.length, 60_000);
      rest.stop();
      const all = [...ids, ...rest.events.map((e) => e.id)];
      expect(new Set(all).size).toBe(total);
      expect(isIncreasing(all)).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('a subscriber that falls behind on a burst but keeps reading catches up from the log without being let go', { timeout: 120_000 }, async () => {
    const server = await startServer(w.dbUrl, { EVENTS_SUBSCRIBER_BUFFER: '10' });
    try {
      const from = cursorOf(await logHead(w.db));
      const sub = follow(createRelaydeskClient({ url: server.url, token: w.admin.token }), { lastEventId: from });
      // Bursts far past the buffer of 10, one statement (one transaction) each.
      for (let i = 0; i < 20; i++) {
        await sql`insert into events (type, data) select 'ticket.updated', jsonb_build_object('n', g) from generate_series(1, 300) g`.execute(w.db);
      }
      await sub.until('all 6,000 events', (e) => e.length >= 6000, 60_000);
      sub.stop();
      const ids = sub.events.map((e) => e.id);
      expect(new Set(ids).size).toBe(6000);
      expect(isIncreasing(ids)).toBe(true);
      expect(sub.error).toBeUndefined();
    } finally {
      await server.stop();
    }
  });
});
