// Webhooks end to end: a real server and real worker processes deliver to a
// real HTTP receiver; signatures are checked with the `standardwebhooks`
// library and with the SDK's verifyWebhook.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { createRelaydeskClient, verifyWebhook, WebhookVerificationError, type RelaydeskEvent } from '@relaydesk/client';
import type { PgBoss } from 'pg-boss';
import { commonEnv } from '../server/src/core/env.ts';
import { assertPublicUrl, privateRange } from '../server/src/core/webhooks/ssrf.ts';
import { webhookRetry } from '../server/src/core/jobs/catalogue.ts';
import { createBoss } from '../server/src/core/jobs/boss.ts';
import { dispatchPass } from '../server/src/core/webhooks/dispatch.ts';
import { postWebhook } from '../server/src/core/webhooks/send.ts';
import { signatureHeader } from '../server/src/core/webhooks/signing.ts';
import { follow } from './helpers/events.ts';
import { errorOf, useWorld } from './helpers/fixtures.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { startServer, type ServerProcess } from './helpers/server.ts';
import { startWorker, waitFor, type WorkerProcess } from './helpers/worker.ts';

const env = {
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  // Fast schedule: 3 attempts, about a second apart.
  WEBHOOK_RETRY_LIMIT: '2',
  WEBHOOK_RETRY_DELAY_S: '1',
  WEBHOOK_RETRY_DELAY_MAX_S: '1',
  WEBHOOK_TIMEOUT_MS: '1000',
  WEBHOOK_DISABLE_AFTER_S: '2',
  AI_CLASSIFY: 'off',
  AUTO_ASSIGN: 'false',
  LOG_LEVEL: 'error',
};

const w = useWorld('webhooks', { serverEnv: () => env });
const workers: WorkerProcess[] = [];
const receivers: Receiver[] = [];
beforeAll(async () => {
  workers.push(await startWorker(w.dbUrl, env));
});
afterAll(async () => {
  await Promise.all(workers.map((x) => x.stop()));
  await Promise.all(receivers.map((r) => r.close()));
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

let seq = 0;
const newTicket = (title = `Webhook ticket ${++seq}`) =>
  w.admin.rd.tickets.create.mutate({ title, description: 'Something to deliver.', category: 'general', priority: 'low' });

async function endpoint(url: string, events: string[] = ['ticket.created'], extra: { includeInternal?: boolean } = {}) {
  return w.admin.rd.webhooks.create.mutate({ url, events, ...extra });
}

async function deliveriesOf(endpointId: string) {
  const out = [];
  let cursor: string | undefined;
  do {
    const page = await w.admin.rd.webhooks.deliveries.query({ endpointId, limit: 100, cursor });
    out.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

async function settled(endpointId: string, n = 1) {
  return waitFor(`${n} settled deliveries`, async () => {
    const all = await deliveriesOf(endpointId);
    return all.length >= n && all.every((d) => d.status !== 'pending') && all;
  });
}

const eventIn = (body: string) => JSON.parse(body) as { type: string; timestamp: string; data: RelaydeskEvent };

describe('endpoints', () => {
  it('shows the whsec_ secret once, never again', async () => {
    const r = await receiver();
    const { endpoint: e, secret } = await endpoint(r.url, ['ticket.*']);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(e).toMatchObject({ url: r.url, events: ['ticket.*'], active: true, includeInternal: false });
    const listed = await w.admin.rd.webhooks.list.query({ limit: 100 });
    const updated = await w.admin.rd.webhooks.update.mutate({ id: e.id, description: 'CRM sync' });
    for (const shown of [JSON.stringify(listed), JSON.stringify(updated)]) {
      expect(shown).not.toContain('whsec_');
      expect(shown).not.toContain(secret.slice(6, 20));
    }
    expect(listed.items.find((x) => x.id === e.id)).toMatchObject({ id: e.id, description: '' });
    expect(updated.description).toBe('CRM sync');
    await w.admin.rd.webhooks.delete.mutate({ id: e.id });
  });

  it('refuses bad input with the field, and changes nothing', async () => {
    const before = await w.admin.rd.webhooks.list.query({ limit: 100 });
    const cases: [Record<string, unknown>, string][] = [
      [{ url: 'ftp://example.com/x', events: ['ticket.created'] }, 'url'],
      [{ url: 'not a url', events: ['ticket.created'] }, 'url'],
      [{ url: 'https://user:pw@example.com/x', events: ['ticket.created'] }, 'url'],
      [{ url: 'https://example.com/x', events: [] }, 'events'],
      [{ url: 'https://example.com/x', events: ['ticket.nope'] }, 'events.0'],
      [{ url: 'https://example.com/x', events: ['ai.draft.delta'] }, 'events.0'],
    ];
    for (const [input, field] of cases) {
      const err = await errorOf(w.admin.rd.webhooks.create.mutate(input as never));
      expect(err.code, JSON.stringify(input)).toBe('BAD_REQUEST');
      expect(err.field, JSON.stringify(input)).toBe(field);
    }
    expect((await w.admin.rd.webhooks.list.query({ limit: 100 })).items).toEqual(before.items);
  });
});

describe('delivery', () => {
  it('signs per Standard Webhooks: the standardwebhooks library and verifyWebhook accept it', async () => {
    const r = await receiver();
    const { endpoint: e, secret } = await endpoint(r.url);
    const t = await newTicket();
    const [d] = await settled(e.id);
    expect(d).toMatchObject({ status: 'delivered', eventType: 'ticket.created' });
    const got = r.received.find((x) => eventIn(x.body).data.ticketId === t.id)!;
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Math.abs(Number(got.timestamp) - Date.now() / 1000)).toBeLessThan(60);

    const headers = { 'webhook-id': got.id, 'webhook-timestamp': got.timestamp, 'webhook-signature': got.signature };
    const payload = new Webhook(secret).verify(got.body, headers) as { type: string; timestamp: string; data: RelaydeskEvent };
    expect(payload.type).toBe('ticket.created');
    expect(payload.data.id).toBe(got.id);
    expect(payload.data.id).toBe(d!.eventId);

    const event = verifyWebhook(secret, got.headers, Buffer.from(got.body));
    expect(event.type).toBe('ticket.created');
    if (event.type === 'ticket.created') expect(event.data.ticket.id).toBe(t.id);
    // The same event as subscribers and the audit trail have it.
    const history = await w.admin.rd.tickets.history.query({ id: t.id });
    expect(history.items[0]).toEqual(event);

    expect(() => verifyWebhook(secret, got.headers, got.body.replace('Webhook ticket', 'Webhook ticker'))).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, got.headers, got.body)).toThrow(WebhookVerificationError);
    // A replay ten minutes later (signed correctly for that time) falls outside the window.
    const old = new Date(Date.now() - 600_000);
    const replay = { ...headers, 'webhook-timestamp': String(Math.floor(old.getTime() / 1000)), 'webhook-signature': signatureHeader([secret], got.id, old, got.body) };
    expect(() => verifyWebhook(secret, replay, got.body)).toThrow(/replay window/);
    expect(() => verifyWebhook(secret, { ...headers, 'webhook-id': undefined }, got.body)).toThrow(/missing/);
    // Fetch-style headers work too.
    expect(verifyWebhook(secret, new Headers(headers), got.body).id).toBe(got.id);
  });

  it('a receiver that fails twice then succeeds: three attempts, one webhook-id, one success', async () => {
    const r = await receiver();
    let calls = 0;
    r.respond = () => (++calls === 1 ? { status: 500, body: 'database on fire' } : calls === 2 ? { status: 503 } : { status: 204 });
    const { endpoint: e } = await endpoint(r.url);
    await newTicket();
    const [d] = await settled(e.id);
    expect(d!.status).toBe('delivered');
    expect(d!.attempts.map((a) => a.statusCode)).toEqual([500, 503, 204]);
    expect(d!.attempts[0]!.responseExcerpt).toBe('database on fire');
    expect(d!.attempts.map((a) => a.number)).toEqual([1, 2, 3]);
    expect(r.received).toHaveLength(3);
    expect(new Set(r.received.map((x) => x.id))).toEqual(new Set([d!.eventId]));
    // The same body every time; each attempt is signed afresh.
    expect(new Set(r.received.map((x) => x.body)).size).toBe(1);
    // Backoff: the retries came at least a second apart.
    expect(r.received[1]!.at - r.received[0]!.at).toBeGreaterThanOrEqual(900);
  });

  it('a slow receiver: the attempt times out and is recorded; the retry succeeds', async () => {
    const r = await receiver();
    let calls = 0;
    r.respond = () => (++calls === 1 ? { delayMs: 3000 } : {});
    const { endpoint: e } = await endpoint(r.url);
    await newTicket();
    const [d] = await settled(e.id);
    expect(d!.status).toBe('delivered');
    expect(d!.attempts[0]).toMatchObject({ statusCode: null, error: 'timed out after 1000 ms' });
    expect(d!.attempts[0]!.durationMs).toBeGreaterThanOrEqual(900);
    expect(d!.attempts[1]).toMatchObject({ statusCode: 200, error: null });
  });

  it('a receiver that is down: the delivery ends dead, and redeliver succeeds once it is back', async () => {
    const r = await receiver();
    await r.down();
    const { endpoint: e } = await endpoint(r.url);
    await newTicket();
    const [d] = await settled(e.id);
    expect(d!.status).toBe('dead');
    expect(d!.attempts).toHaveLength(3);
    for (const a of d!.attempts) expect(a.error).toMatch(/^connection refused/);
    expect(d!.lastError).toMatch(/^connection refused/);
    const stats = await w.admin.rd.queues.stats.query();
    await waitFor('the dead-lettered job to be counted', async () => {
      const q = (await w.admin.rd.queues.stats.query()).find((x) => x.name === 'webhook.deliver');
      return q!.deadLettered >= 1;
    });
    expect(stats).toBeDefined();

    await r.up();
    expect(await w.admin.rd.webhooks.redeliver.mutate({ deliveryId: d!.id })).toEqual({ queued: 1, more: false });
    const [again] = await waitFor('the redelivery', async () => {
      const all = await deliveriesOf(e.id);
      return all[0]!.status === 'delivered' && all;
    });
    expect(again!.attempts).toHaveLength(4);
    expect(again!.attempts[3]).toMatchObject({ manual: true, statusCode: 200 });
    expect(again!.lastError).toBeNull();
    expect(r.received.map((x) => x.id)).toEqual([d!.eventId]);
  });

  it('redelivers every dead delivery of an endpoint at once', async () => {
    const r = await receiver();
    await r.down();
    const { endpoint: e } = await endpoint(r.url);
    await newTicket();
    await newTicket();
    await settled(e.id, 2);
    await r.up();
    expect(await w.admin.rd.webhooks.redeliver.mutate({ endpointId: e.id })).toEqual({ queued: 2, more: false });
    await waitFor('both delivered', async () => (await deliveriesOf(e.id)).every((d) => d.status === 'delivered'));
    expect(new Set(r.received.map((x) => x.id)).size).toBe(2);
  });

  it('delivers only the subscribed types, and internal events only when asked', async () => {
    const plain = await receiver();
    const internal = await receiver();
    const { endpoint: a } = await endpoint(plain.url, ['message.created', 'ticket.resolved']);
    const { endpoint: b } = await endpoint(internal.url, ['message.*'], { includeInternal: true });
    const t = await newTicket();
    await w.admin.rd.messages.add.mutate({ ticketId: t.id, body: 'A reply the customer sees.' });
    await w.admin.rd.messages.add.mutate({ ticketId: t.id, body: 'Internal: customer is on the old plan.', internal: true });
    await w.admin.rd.tickets.resolve.mutate({ id: t.id, resolution: 'Done.' });
    await settled(a.id, 2);
    await settled(b.id, 2);
    const types = (r: Receiver) => r.received.map((x) => eventIn(x.body).type).sort();
    expect(types(plain)).toEqual(['message.created', 'ticket.resolved']);
    expect(plain.received.map((x) => x.body).join()).not.toContain('Internal: customer');
    expect(types(internal)).toEqual(['message.created', 'message.created']);
    expect(internal.received.map((x) => x.body).join()).toContain('Internal: customer');
  });

  it('during a secret rotation both secrets sign; after the grace period only the new one', async () => {
    const r = await receiver();
    const { endpoint: e, secret: oldSecret } = await endpoint(r.url);
    const rotated = await w.admin.rd.webhooks.rotateSecret.mutate({ id: e.id, graceSeconds: 3600 });
    expect(rotated.secret).not.toBe(oldSecret);
    expect(Date.parse(rotated.endpoint.previousSecretExpiresAt!)).toBeGreaterThan(Date.now() + 3500_000);
    await newTicket();
    await settled(e.id);
    const got = r.received[0]!;
    expect(got.signature.split(' ')).toHaveLength(2);
    expect(verifyWebhook(oldSecret, got.headers, got.body).id).toBe(got.id);
    expect(verifyWebhook(rotated.secret, got.headers, got.body).id).toBe(got.id);

    const again = await w.admin.rd.webhooks.rotateSecret.mutate({ id: e.id, graceSeconds: 0 });
    expect(again.endpoint.previousSecretExpiresAt).toBeNull();
    await newTicket();
    await settled(e.id, 2);
    const last = r.received[1]!;
    expect(last.signature.split(' ')).toHaveLength(1);
    expect(verifyWebhook(again.secret, last.headers, last.body).id).toBe(last.id);
    expect(() => verifyWebhook(rotated.secret, last.headers, last.body)).toThrow(WebhookVerificationError);
  });

  it('an endpoint failing continuously is disabled, with an event admins see', async () => {
    const r = await receiver();
    r.respond = () => ({ status: 500 });
    const { endpoint: e } = await endpoint(r.url);
    const adminStream = follow(w.admin.rd, { types: ['webhook.disabled'] });
    const agentStream = follow(w.agent.rd, {});
    try {
      // 4 tickets × 3 attempts: past the 10 failures and 2 s that disable it.
      for (let i = 0; i < 4; i++) await newTicket();
      const seen = await adminStream.until('webhook.disabled', (evs) => evs.some((ev) => ev.type === 'webhook.disabled' && ev.data.endpointId === e.id));
      const disabled = seen.find((ev) => ev.type === 'webhook.disabled')!;
      if (disabled.type !== 'webhook.disabled') throw new Error('unreachable');
      expect(disabled.data.origin).toBe(new URL(r.url).origin);
      expect(disabled.data.failures).toBeGreaterThanOrEqual(10);
      expect(disabled.data.reason).toMatch(/every attempt failed since .* the last: HTTP 500/);
      const [listed] = (await w.admin.rd.webhooks.list.query({ active: false, limit: 100 })).items.filter((x) => x.id === e.id);
      expect(listed).toMatchObject({ active: false, disabledReason: disabled.data.reason });
      // What was still pending is not sent to a disabled endpoint.
      const all = await settled(e.id, 4);
      expect(all.every((d) => d.status === 'dead')).toBe(true);
      const err = await errorOf(w.admin.rd.webhooks.redeliver.mutate({ endpointId: e.id }));
      expect(err).toMatchObject({ code: 'PRECONDITION_FAILED', field: 'endpointId' });
      // Agents never see it.
      const marker = await newTicket();
      await agentStream.until('the agent sees the new ticket', (evs) => evs.some((ev) => ev.ticketId === marker.id));
      expect(agentStream.events.some((ev) => ev.type === 'webhook.disabled')).toBe(false);

      // Switched back on: a fresh start.
      r.respond = () => ({});
      const on = await w.admin.rd.webhooks.update.mutate({ id: e.id, active: true });
      expect(on).toMatchObject({ active: true, disabledReason: null, consecutiveFailures: 0, failingSince: null });
      expect(await w.admin.rd.webhooks.redeliver.mutate({ endpointId: e.id })).toMatchObject({ queued: 4 });
      await waitFor('all delivered', async () => (await deliveriesOf(e.id)).every((d) => d.status === 'delivered'));
      // A failure run at one address does not follow the endpoint to a new one.
      await w.db.updateTable('webhook_endpoints').set({ consecutive_failures: 50, failing_since: new Date(Date.now() - 86_400_000) }).where('id', '=', e.id).execute();
      const moved = await w.admin.rd.webhooks.update.mutate({ id: e.id, url: `${r.url}/v2` });
      expect(moved).toMatchObject({ consecutiveFailures: 0, failingSince: null, url: `${r.url}/v2` });
    } finally {
      adminStream.stop();
      agentStream.stop();
    }
  });
});

describe('private networks', () => {
  let strict: ServerProcess;
  beforeAll(async () => {
    strict = await startServer(w.dbUrl, { ...env, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' });
  });
  afterAll(async () => {
    await strict?.stop();
  });

  it('refuses endpoints on loopback, private, link-local and metadata addresses, however written', async () => {
    const strictRd = createRelaydeskClient({ url: strict.url, token: w.admin.token });
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/hook',
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook',
      'http://0x7f.1/hook',
      'http://2130706433/hook',
      'http://[::1]/hook',
      'http://[::ffff:169.254.169.254]/hook',
      'http://[fd00:ec2::254]/hook',
      'http://100.100.100.200/hook',
      'http://192.168.1.10/hook',
      'http://[fe80::1]/hook',
      'http://0.0.0.0/hook',
      'http://[::127.0.0.1]/hook',
      'http://[::a9fe:a9fe]/hook',
    ]) {
      const err = await errorOf(strictRd.webhooks.create.mutate({ url, events: ['ticket.created'] }));
      expect(err.code, url).toBe('BAD_REQUEST');
      expect(err.field, url).toBe('url');
      expect(err.message, url).toMatch(/is not a public address \(\w+(-\w+)?\); webhooks go to public addresses only/);
    }
    // An update can't move an endpoint there either.
    const r = await receiver();
    const { endpoint: e } = await endpoint(r.url);
    const err = await errorOf(strictRd.webhooks.update.mutate({ id: e.id, url: 'http://169.254.169.254/' }));
    expect(err).toMatchObject({ code: 'BAD_REQUEST', field: 'url' });
    await w.admin.rd.webhooks.delete.mutate({ id: e.id });
  });

  it('checks the address again at delivery, in the connection itself', async () => {
    const r = await receiver();
    const attempt = (url: string, allowPrivate: boolean) => postWebhook({ url, headers: {}, body: '{}', timeoutMs: 2000, allowPrivate });
    const port = new URL(r.url).port;
    for (const url of [r.url, `http://localhost:${port}/hook`, `http://[::ffff:127.0.0.1]:${port}/hook`]) {
      const res = await attempt(url, false);
      expect(res, url).toMatchObject({ ok: false, statusCode: null });
      expect(res.error, url).toMatch(/is not a public address \(loopback\); webhooks go to public addresses only/);
    }
    expect(r.received).toHaveLength(0);
    expect(await attempt(r.url, true)).toMatchObject({ ok: true, statusCode: 200 });
    expect(privateRange('8.8.8.8')).toBeNull();
    expect(privateRange('2001:4860:4860::8888')).toBeNull();
    expect(privateRange('64:ff9b::a00:1')).not.toBeNull();
    await expect(assertPublicUrl(new URL('http://localhost/'), false)).rejects.toThrow(/loopback/);
  });

  it('a 2xx whose body dawdles past the deadline still counts as delivered', async () => {
    const slowBody = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('accepted, ');
      setTimeout(() => res.end('done'), 3000).unref();
    });
    await new Promise<void>((r) => slowBody.listen(0, '127.0.0.1', r));
    try {
      const { port } = slowBody.address() as AddressInfo;
      const res = await postWebhook({ url: `http://127.0.0.1:${port}/`, headers: {}, body: '{}', timeoutMs: 500, allowPrivate: true });
      expect(res).toMatchObject({ ok: true, statusCode: 200, error: null, responseExcerpt: 'accepted, ' });
    } finally {
      slowBody.closeAllConnections();
      slowBody.close();
    }
  });

  it('does not follow redirects', async () => {
    const r = await receiver();
    r.respond = () => ({ status: 302 });
    const res = await postWebhook({ url: r.url, headers: {}, body: '{}', timeoutMs: 2000, allowPrivate: true });
    expect(res).toMatchObject({ ok: false, statusCode: 302 });
    expect(res.error).toMatch(/redirects are not followed/);
  });
});

describe('at volume', () => {
  it('1,000 events to 3 endpoints with 2 worker processes: each endpoint gets exactly 1,000 distinct ids', async () => {
    workers.push(await startWorker(w.dbUrl, env));
    const rs = [await receiver(), await receiver(), await receiver()];
    const eps = await Promise.all(rs.map((r) => endpoint(r.url, ['ticket.created'])));
    const ids: string[] = [];
    const queue = Array.from({ length: 1000 }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) ids.push((await newTicket(`Volume ticket ${i}`)).id);
      }),
    );
    await waitFor('3,000 deliveries', async () => rs.every((r) => r.received.length >= 1000), 120_000);
    // Nothing more arrives: no duplicates were on their way.
    await new Promise((res) => setTimeout(res, 1500));
    const expected = new Set(
      (
        await sql<{ position: string }>`select position from events where type = 'ticket.created' and ticket_id = any(${ids}::uuid[])`.execute(w.db)
      ).rows.map((row) => String(row.position).padStart(16, '0')),
    );
    expect(expected.size).toBe(1000);
    for (const r of rs) {
      expect(r.received).toHaveLength(1000);
      expect(new Set(r.received.map((x) => x.id))).toEqual(expected);
    }
    for (const { endpoint: e } of eps) {
      const { rows } = await sql<{ n: number; delivered: number }>`
        select count(*)::int as n, count(*) filter (where status = 'delivered')::int as delivered
          from webhook_deliveries where endpoint_id = ${e.id}`.execute(w.db);
      expect(rows[0]).toEqual({ n: 1000, delivered: 1000 });
    }
  }, 180_000);
});

describe('dispatcher', () => {
  it('writes deliveries, their jobs and its cursor in one transaction: a pass that dies leaves nothing, the next does it all once', async () => {
    // This test runs the passes itself.
    await Promise.all(workers.splice(0).map((x) => x.stop()));
    const boss = createBoss(w.dbUrl, { max: 2 });
    boss.on('error', () => {});
    await boss.start();
    try {
      const r = await receiver();
      const { endpoint: e } = await endpoint(r.url);
      const tickets = [await newTicket(), await newTicket(), await newTicket()];
      // Positioned by the server's sequencer.
      await waitFor('the events to be positioned', async () => {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from events where type = 'ticket.created' and position is not null and ticket_id = any(${tickets.map((t) => t.id)}::uuid[])`.execute(w.db);
        return rows[0]!.n === 3;
      });
      const cursor = async () => Number((await w.db.selectFrom('webhook_dispatch').select('position').executeTakeFirstOrThrow()).position);
      const jobs = async () =>
        (await sql<{ n: number }>`select count(*)::int as n from pgboss.job j join webhook_deliveries d on d.id = (j.data->>'deliveryId')::uuid where d.endpoint_id = ${e.id}`.execute(w.db)).rows[0]!.n;
      const before = await cursor();

      // The process dies while sending the jobs: the deliveries it wrote roll back with it.
      const dying = { insert: async () => Promise.reject(new Error('killed mid-pass')) } as unknown as PgBoss;
      await expect(dispatchPass(w.db, dying, webhookRetry(commonEnv.parse(env)))).rejects.toThrow('killed mid-pass');
      expect(await deliveriesOf(e.id)).toHaveLength(0);
      expect(await cursor()).toBe(before);

      const pass = await dispatchPass(w.db, boss, webhookRetry(commonEnv.parse(env)));
      expect(pass.deliveries).toBeGreaterThanOrEqual(3);
      expect(await deliveriesOf(e.id)).toHaveLength(3);
      expect(await jobs()).toBe(3);
      expect(await cursor()).toBeGreaterThan(before);
      // Nothing left to do: a second pass (another worker) adds nothing.
      await dispatchPass(w.db, boss, webhookRetry(commonEnv.parse(env)));
      expect(await deliveriesOf(e.id)).toHaveLength(3);
      expect(await jobs()).toBe(3);

      workers.push(await startWorker(w.dbUrl, env));
      await settled(e.id, 3);
      expect(new Set(r.received.map((x) => x.id)).size).toBe(3);
    } finally {
      await boss.stop({ graceful: false, close: true });
    }
  });
});
