// Running like a service: headers, strict input, logs without secrets,
// stream caps, stuck readers dropped, login limits that can't lock an owner
// out, fast failure with the database frozen, and metrics that count a
// refused batch once. Real server processes throughout.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createDb } from '@relaydesk/db';
import { appendEvent } from '../server/src/core/events/append.ts';
import { follow, type Follower } from './helpers/events.ts';
import { startOwnCluster, type OwnCluster } from './helpers/cluster.ts';
import { errorOf, useWorld } from './helpers/fixtures.ts';
import { repoRoot, startServer, type ServerProcess } from './helpers/server.ts';
import { waitFor } from './helpers/worker.ts';
import { processEnv } from '../scripts/process-env.ts';

const w = useWorld('service', {
  serverEnv: () => ({ CORS_ORIGINS: 'https://app.example.com', EVENTS_STREAMS_PER_TOKEN: '20', EVENTS_SUBSCRIBER_STUCK_MS: '1500' }),
});

const call = (pathAndQuery: string, init: RequestInit = {}) => fetch(`${w.url}${pathAndQuery}`, init);
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

describe('headers', () => {
  it('401 says how to authenticate; authenticated answers are never cached; nosniff everywhere', async () => {
    const anon = await call('/trpc/auth.me');
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toBe('Bearer realm="relaydesk"');
    const bad = await call('/trpc/auth.me', { headers: auth('rd_not-a-real-token') });
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const me = await call('/trpc/auth.me', { headers: auth(w.agent.token) });
    expect(me.status).toBe(200);
    expect(me.headers.get('cache-control')).toBe('no-store');
    expect(me.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await call('/health')).headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('a CORS preflight answers 204, allowing only the configured origins', async () => {
    const preflight = (origin: string) =>
      call('/trpc/tickets.list', {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
    const allowed = await preflight('https://app.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');
    const other = await preflight('https://evil.example.net');
    expect(other.status).toBe(204);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('429 carries Retry-After', async () => {
    const u = await w.makeUser('agent', undefined, { password: 'correct horse battery' });
    const login = () =>
      call('/trpc/auth.login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: u.email, password: 'wrong password' }) });
    for (let i = 0; i < 10; i++) expect((await login()).status).toBe(401);
    const refused = await login();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('strict input', () => {
  it('an unknown key is BAD_REQUEST naming it, and changes nothing', async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Strict', description: 'misspelled keys' });
    const before = await w.admin.rd.tickets.get.query({ id: t.id });
    const e = await errorOf(w.admin.rd.tickets.update.mutate({ id: t.id, priorty: 'urgent' } as never));
    expect(e.code).toBe('BAD_REQUEST');
    expect(e.field).toBe('priorty');
    expect(e.message).toContain('priorty');
    const nested = await errorOf(w.admin.rd.tickets.create.mutate({ title: 'x', description: 'y', contact: { email: 'a@example.com', name: 'A', phone: '1' } } as never));
    expect(nested.field).toBe('contact.phone');
    expect(await w.admin.rd.tickets.get.query({ id: t.id })).toEqual(before);
  });
});

describe('what customers see', () => {
  it('a classification reason that names configuration reaches staff only', async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Reasons', description: 'who reads them', category: 'general', priority: 'low' });
    await w.db.transaction().execute((trx) =>
      appendEvent(trx, {
        type: 'ticket.classified',
        ticketId: t.id,
        actor: { type: 'worker', id: null },
        data: {
          category: 'general',
          priority: 'low',
          classification: { source: 'builtin', confidence: 0.5 },
          reason: 'the LLM is not configured (no GROQ_API_KEY)',
          filled: ['category', 'priority'],
          version: 2,
        },
      }),
    );
    const of = async (rd: typeof w.admin.rd) => (await rd.tickets.history.query({ id: t.id, limit: 10 })).items.find((e) => e.type === 'ticket.classified');
    const staff = await of(w.agent.rd);
    const customer = await of(w.customer.rd);
    expect(staff?.type === 'ticket.classified' && staff.data.reason).toContain('GROQ_API_KEY');
    expect(customer?.type === 'ticket.classified' && customer.data).toMatchObject({ category: 'general', priority: 'low' });
    expect(JSON.stringify(customer)).not.toContain('GROQ');
    // The live stream, replayed from before the event, agrees.
    const live = follow(w.customer.rd, { ticketId: t.id, lastEventId: '0' });
    try {
      const events = await live.until('the classification', (es) => es.some((e) => e.type === 'ticket.classified'));
      expect(JSON.stringify(events)).not.toContain('GROQ');
    } finally {
      live.stop();
    }
  });
});

describe('live stream limits', () => {
  it('the 21st concurrent stream of one token is refused; closing one makes room', async () => {
    const u = await w.makeUser('customer');
    const open: Follower[] = [];
    try {
      for (let i = 0; i < 20; i++) open.push(follow(u.rd));
      // All 20 are established once the server counts them.
      await waitFor('20 streams to be open', async () => (await subscriberCount()) >= 20);
      // The 21st is refused before any event, as tRPC's stream error (the SDK retries it with backoff until a slot frees).
      const refused = await rawSubscribe(u.token);
      expect(refused.body).toContain('TOO_MANY_REQUESTS');
      expect(refused.body).not.toContain('"id"');
      open.pop()!.stop();
      await waitFor('a slot to free', async () => {
        const f = follow(u.rd);
        const ok = await Promise.race([f.failed.then(() => false, () => false), new Promise<boolean>((r) => setTimeout(() => r(true), 1500))]);
        if (ok) open.push(f);
        else f.stop();
        return ok;
      });
      // Another token is not affected.
      expect(await Promise.race([follow(w.customer2.rd).failed.catch(() => 'refused'), new Promise((r) => setTimeout(() => r('open'), 1500))])).toBe('open');
    } finally {
      for (const f of open) f.stop();
    }
  });

  it('a client that reads nothing is dropped after EVENTS_SUBSCRIBER_STUCK_MS, however little is buffered', async () => {
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Stuck reader', description: 'never reads' });
    const before = await laggingClosed();
    const input = encodeURIComponent(JSON.stringify({ ticketId: t.id }));
    const req = http.get(`${w.url}/trpc/events.subscribe?input=${input}`, { headers: { ...auth(w.agent.token), accept: 'text/event-stream' } });
    const res = await new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
    expect(res.statusCode).toBe(200);
    res.pause(); // reads nothing from here on
    let closed = false;
    res.socket.once('close', () => (closed = true));
    // Enough to fill the socket's buffers (a few MB), far from the 2,000-event buffer.
    const body = 'x'.repeat(19_000);
    for (let i = 0; i < 400 && !closed; i += 5) {
      await Promise.all(Array.from({ length: 5 }, () => w.agent.rd.messages.add.mutate({ ticketId: t.id, body, internal: true })));
    }
    await waitFor('the stuck stream to be dropped', async () => (await laggingClosed()) > before, 30_000);
    req.destroy();
  });
});

describe('metrics', () => {
  it('a refused batch counts once', async () => {
    const paths = Array.from({ length: 1000 }, () => 'health').join(',');
    const input = JSON.stringify(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [i, null])));
    const r = await call(`/trpc/${paths}?batch=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: input });
    expect(r.status).toBeGreaterThanOrEqual(400);
    const text = await (await call('/metrics')).text();
    const count = (procedure: string) =>
      Number(/(\d+)$/.exec(text.split('\n').find((l) => l.startsWith(`relaydesk_http_request_duration_seconds_count{procedure="${procedure}"`)) ?? '0')?.[1] ?? 0);
    expect(count('batch_refused')).toBe(1);
    expect(count('health')).toBeLessThan(1000);
  });
});

/** Opens events.subscribe over raw HTTP and returns what came first: the status, and the start of the body. */
async function rawSubscribe(token: string): Promise<{ status: number; body: string; retryAfter: string | null }> {
  const ac = new AbortController();
  const r = await fetch(`${w.url}/trpc/events.subscribe`, { headers: { ...auth(token), accept: 'text/event-stream' }, signal: ac.signal });
  const reader = r.body!.getReader();
  const first = await Promise.race([reader.read(), new Promise<{ value?: undefined }>((res) => setTimeout(() => res({}), 3000))]);
  ac.abort();
  return { status: r.status, body: first.value ? new TextDecoder().decode(first.value) : '', retryAfter: r.headers.get('retry-after') };
}

async function subscriberCount(): Promise<number> {
  const text = await (await call('/metrics')).text();
  return Number(/^relaydesk_event_subscribers (\d+)/m.exec(text)?.[1] ?? 0);
}

async function laggingClosed(): Promise<number> {
  const text = await (await call('/metrics')).text();
  return Number(/^relaydesk_event_subscribers_lagging_total (\d+)/m.exec(text)?.[1] ?? 0);
}

describe('logs without secrets', () => {
  let server: ServerProcess & { logFile: string; dispose(): void };
  beforeAll(async () => {
    server = await startLoggedServer(w.dbUrl, { LOG_LEVEL: 'info', LOG_REQUESTS: 'all' });
  });
  afterAll(async () => {
    await server?.stop();
    server?.dispose();
  });

  it('keeps no input, token, password, Authorization value or rd_ token in the request log', async () => {
    const password = 'hunter2-very-secret';
    const input = encodeURIComponent(JSON.stringify({ email: w.admin.email, password }));
    await fetch(`${server.url}/trpc/auth.login?input=${input}`);
    await fetch(`${server.url}/trpc/auth.me?token=${w.agent.token}`);
    await fetch(`${server.url}/trpc/auth.me`, { headers: auth(w.agent.token) });
    await fetch(`${server.url}/trpc/${w.agent.token}`);
    await fetch(`${server.url}/trpc/auth.me?password=${password}&access_token=abc123secret`);
    await waitFor('the log lines', async () => fs.readFileSync(server.logFile, 'utf8').split('\n').filter((l) => l.includes('"url"')).length >= 5);
    const log = fs.readFileSync(server.logFile, 'utf8');
    expect(log).toContain('/trpc/auth.login?input=…');
    for (const secret of [password, w.agent.token, w.agent.token.slice(3), 'abc123secret', 'Bearer']) expect(log).not.toContain(secret);
    expect(log).not.toMatch(/rd_[A-Za-z0-9_-]{8,}/);
  });

  it('LOG_REQUESTS=errors keeps only failed requests; off keeps none', async () => {
    for (const [mode, expected] of [
      ['errors', ['/trpc/auth.me']],
      ['off', []],
    ] as const) {
      const s = await startLoggedServer(w.dbUrl, { LOG_LEVEL: 'info', LOG_REQUESTS: mode });
      try {
        await fetch(`${s.url}/trpc/auth.me`, { headers: auth(w.agent.token) }); // 200
        await fetch(`${s.url}/trpc/auth.me`); // 401
        await fetch(`${s.url}/trpc/health`); // 200
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        await s.stop();
      }
      const lines = fs
        .readFileSync(s.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"statusCode"'));
      // Logs are written asynchronously; what was still buffered at exit was flushed, down to the last line.
      expect(fs.readFileSync(s.logFile, 'utf8').trimEnd().split('\n').at(-1)).toContain('"msg":"stopped"');
      s.dispose();
      expect(lines.map((l) => JSON.parse(l).req.url)).toEqual(expected);
      if (mode === 'errors') expect(JSON.parse(lines[0]!).res.statusCode).toBe(401);
    }
  });
});

describe('login limits', () => {
  let proxied: ServerProcess;
  beforeAll(async () => {
    proxied = await startServer(w.dbUrl, { TRUST_PROXY: '1' });
  });
  afterAll(() => proxied?.stop());

  const login = (url: string, email: string, password: string, from?: string) =>
    fetch(`${url}/trpc/auth.login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(from ? { 'x-forwarded-for': from } : {}) },
      body: JSON.stringify({ email, password }),
    }).then((r) => r.status);

  it('guesses from elsewhere never lock the owner out (behind a trusted proxy)', async () => {
    const u = await w.makeUser('agent', undefined, { password: 'correct horse battery' });
    for (let i = 0; i < 10; i++) expect(await login(proxied.url, u.email, `guess ${i}`, '203.0.113.7')).toBe(401);
    expect(await login(proxied.url, u.email, 'guess 11', '203.0.113.7')).toBe(429);
    expect(await login(proxied.url, u.email, 'correct horse battery', '198.51.100.20')).toBe(200);
  });

  it('X-Forwarded-For is not believed unless TRUST_PROXY says so', async () => {
    const u = await w.makeUser('agent', undefined, { password: 'correct horse battery' });
    for (let i = 0; i < 10; i++) expect(await login(w.url, u.email, `guess ${i}`, `203.0.113.${i}`)).toBe(401);
    expect(await login(w.url, u.email, 'guess 11', '203.0.113.99')).toBe(429);
  });
});

describe('fast failure', () => {
  let cluster: OwnCluster;
  let server: ServerProcess;
  let frozen: number[] = [];
  const BOUND_MS = 1500;
  beforeAll(async () => {
    cluster = await startOwnCluster('service-freeze');
    server = await startServer(cluster.url, { REQUEST_TIMEOUT_MS: String(BOUND_MS) });
  }, 120_000);
  afterAll(async () => {
    thaw();
    await server?.stop();
    await cluster?.destroy();
  });
  function thaw() {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    frozen = [];
  }

  it('with Postgres frozen (SIGSTOP), every request ends within the bound with 503 and Retry-After', async () => {
    const db = createDb(cluster.url, { max: 1 });
    const { rows } = await sql<{ pid: string }>`select split_part(pg_read_file('postmaster.pid'), chr(10), 1) as pid`.execute(db);
    const { createUser } = await import('../server/src/core/users/create.ts');
    const { issueToken } = await import('../server/src/core/users/auth.ts');
    const agent = await createUser(db, null, { name: 'Frozen agent', email: 'frozen@example.com', role: 'agent' });
    const { token } = await issueToken(db, agent.id, 'test');
    await db.destroy();
    // Warm the server's pool: requests then hold connections when Postgres freezes.
    for (let i = 0; i < 5; i++) expect((await fetch(`${server.url}/trpc/tickets.list`, { headers: auth(token) })).status).toBe(200);

    const postmaster = Number(rows[0]!.pid);
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)]).toString().trim().split(/\s+/).map(Number);
    frozen = [postmaster, ...children];
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      const timed = async (p: Promise<Response>) => {
        const started = performance.now();
        const r = await p;
        return { status: r.status, retryAfter: r.headers.get('retry-after'), ms: performance.now() - started, body: await r.text() };
      };
      const results = await Promise.all([
        timed(fetch(`${server.url}/trpc/tickets.list`, { headers: auth(token) })),
        timed(fetch(`${server.url}/trpc/tickets.list,tickets.list?batch=1&input=${encodeURIComponent('{"0":{},"1":{}}')}`, { headers: auth(token) })),
        timed(fetch(`${server.url}/trpc/tickets.create`, { method: 'POST', headers: { ...auth(token), 'content-type': 'application/json' }, body: JSON.stringify({ title: 'x', description: 'y' }) })),
        timed(fetch(`${server.url}/trpc/auth.me`, { headers: auth(token) })),
        timed(fetch(`${server.url}/health`)),
      ]);
      for (const r of results) {
        expect(r.status, r.body).toBe(503);
        expect(Number(r.retryAfter)).toBeGreaterThan(0);
        // The bound, plus room for a busy machine; never the 30 s of a hang.
        expect(r.ms).toBeLessThan(BOUND_MS + 4000);
      }
      expect(JSON.parse(results[1]!.body)).toHaveLength(2);
    } finally {
      thaw();
    }
    // Thawed, it serves again without a restart.
    await waitFor('the server to answer again', async () => (await fetch(`${server.url}/trpc/tickets.list`, { headers: auth(token) })).status === 200, 60_000);
  }, 120_000);
});

/** A server whose stdout (its pino log) goes to a file. */
async function startLoggedServer(databaseUrl: string, env: Record<string, string>): Promise<ServerProcess & { logFile: string; dispose(): void }> {
  const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'relaydesk-log-')), 'server.log');
  const out = fs.openSync(logFile, 'w');
  const child = spawn(process.execPath, [path.join(repoRoot, 'server/src/api/main.ts')], {
    env: processEnv({ ...process.env, DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', RELAYDESK_DATA_DIR: path.dirname(logFile), ...env }),
    stdio: ['ignore', out, 'inherit', 'ipc'],
  });
  fs.closeSync(out);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start within 60 s')), 60_000);
    child.on('message', (m: { type?: string; url?: string }) => {
      if (m.type === 'listening') {
        clearTimeout(timer);
        resolve(m.url!);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited during start-up (code ${code})`)));
  });
  return {
    url,
    child,
    logFile,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    },
    dispose() {
      fs.rmSync(path.dirname(logFile), { recursive: true, force: true });
    },
  };
}
