// `npm start` end to end: the real supervisor (scripts/start.ts) with an
// embedded Postgres in a fresh data directory, as a user would run it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRelaydeskClient } from '@relaydesk/client';
import { freePort, isAlive } from '@relaydesk/db/embedded';
import { repoRoot, startServer } from './helpers/server.ts';
import { descendants, killStarted, npmStart as startIn, postmasterPid as postgresPidIn, START_TIMEOUT_MS, until } from './helpers/start.ts';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaydesk-start-'));
const pgPort = await freePort();

// Every start in this file shares one data directory, as successive `npm start`s on one machine do.
const npmStart = (env: Record<string, string> = {}) => startIn({ dataDir, pgPort, env });
const postmasterPid = () => postgresPidIn(dataDir)!;

afterAll(async () => {
  await killStarted();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  let token = '';
  let ticketId = '';

  it('boots embedded Postgres, migrates, makes the first admin, and serves the API', async () => {
    const s = npmStart({ PORT: String(await freePort()) });
    const url = await s.running();
    expect(s.output()).toContain('first boot: created the admin admin@relaydesk.local');

    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);

    const tokenFile = path.join(dataDir, 'admin-token');
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    token = fs.readFileSync(tokenFile, 'utf8').trim();
    const rd = createRelaydeskClient({ url, token });
    const t = await rd.tickets.create.mutate({ title: 'From npm start', description: 'hello' });
    ticketId = t.id;
    expect((await rd.tickets.list.query()).items.map((i) => i.id)).toEqual([t.id]);

    // A second start on the same data says so in one line and changes nothing.
    const second = npmStart({ PORT: String(await freePort()) });
    expect(await second.exit).toBe(1);
    expect(second.output()).toMatch(/already running on .*relaydesk-start-/);
    expect(second.output()).not.toMatch(/\n\s+at /); // no stack trace

    // Ctrl-C: the whole group gets SIGINT; nothing may be left behind.
    const pids = [s.child.pid!, ...descendants(s.child.pid!), postmasterPid()];
    expect(pids.length).toBeGreaterThanOrEqual(4); // supervisor, server, worker, postgres
    process.kill(-s.child.pid!, 'SIGINT');
    expect(await s.exit).toBe(0);
    await until('every process to exit', () => pids.every((p) => !isAlive(p)));
    expect(fs.existsSync(path.join(dataDir, 'postgres/postmaster.pid'))).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'relaydesk.pid'))).toBe(false);
  }, 2 * START_TIMEOUT_MS + 60_000);

  it('a second npm start finds the same data and keeps the admin token', async () => {
    const s = npmStart({ PORT: String(await freePort()) });
    const url = await s.running();
    expect(s.output()).not.toContain('first boot');
    expect(fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim()).toBe(token);
    const rd = createRelaydeskClient({ url, token });
    expect((await rd.tickets.get.query({ id: ticketId })).title).toBe('From npm start');

    // A plain script in the repo imports the SDK and runs on the project's Node.
    const script = spawn(process.execPath, [path.join(repoRoot, 'examples/quickstart.ts')], {
      cwd: repoRoot,
      env: { ...process.env, RELAYDESK_URL: url, RELAYDESK_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    script.stdout!.on('data', (d) => (out += d));
    script.stderr!.on('data', (d) => (out += d));
    expect(await new Promise((r) => script.once('exit', r))).toBe(0);
    expect(out).toMatch(/created ticket #2 .*\nlatest tickets: #2 My first ticket, #1 From npm start/s);
    process.kill(-s.child.pid!, 'SIGTERM');
    expect(await s.exit).toBe(0);
  }, START_TIMEOUT_MS + 60_000);

  it('recovers from a killed start: an orphaned Postgres is stopped, a stale pid file cleared', async () => {
    const s = npmStart({ PORT: String(await freePort()) });
    await s.running();
    const orphan = postmasterPid();
    process.kill(-s.child.pid!, 'SIGKILL'); // supervisor, server, worker: postgres lives on in its own group
    await s.exit;
    expect(isAlive(orphan)).toBe(true);

    const again = npmStart({ PORT: String(await freePort()) });
    const url = await again.running();
    expect(again.output()).toContain(`stopped a Postgres (pid ${orphan})`);
    expect((await fetch(`${url}/health`)).status).toBe(200);

    // Now kill everything, postgres too, leaving its pid file behind.
    const pg = postmasterPid();
    process.kill(-again.child.pid!, 'SIGKILL');
    process.kill(pg, 'SIGKILL');
    await until('postgres to die', () => !isAlive(pg));
    expect(fs.existsSync(path.join(dataDir, 'postgres/postmaster.pid'))).toBe(true);

    const third = npmStart({ PORT: String(await freePort()) });
    const url3 = await third.running();
    expect((await fetch(`${url3}/health`)).status).toBe(200);
    process.kill(-third.child.pid!, 'SIGINT');
    expect(await third.exit).toBe(0);
  }, 3 * START_TIMEOUT_MS + 60_000);

  it('a taken Postgres port gives one clear line naming the variable', async () => {
    const blocker = net.createServer().listen(pgPort, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const s = npmStart({ PORT: String(await freePort()) });
      expect(await s.exit).toBe(1);
      expect(s.output()).toMatch(/port \d+ .*in use.*RELAYDESK_PG_PORT/);
      expect(s.output()).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
  }, START_TIMEOUT_MS);

  it('a server that cannot start (a taken PORT) stops everything at once instead of restarting', async () => {
    const port = await freePort();
    const blocker = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    try {
      const s = npmStart({ PORT: String(port) });
      const pg = await s.waitFor(/embedded Postgres on/, { timeoutMs: START_TIMEOUT_MS }).then(() => postmasterPid());
      expect(await s.exit).toBe(1);
      expect(s.output()).toMatch(/port \d+ on 127\.0\.0\.1 is already in use; set PORT to a free port/);
      expect(s.output()).toMatch(/\[relaydesk\] server exited during start-up \(code 1\); stopping everything\n/);
      expect(s.output()).not.toMatch(/restarting/);
      await until('postgres to exit', () => !isAlive(pg));
      expect(fs.existsSync(path.join(dataDir, 'relaydesk.pid'))).toBe(false);
    } finally {
      blocker.close();
    }
  }, START_TIMEOUT_MS + 60_000);

  it('bad configuration fails at boot with a line naming the variable', async () => {
    const s = npmStart({ PORT: 'eighty' });
    expect(await s.exit).toBe(1);
    expect(s.output()).toMatch(/Invalid configuration: PORT/);
  }, 60_000);
});

describe('GET /health', () => {
  it('answers 503 with a reason when the database is unreachable', async () => {
    const deadPort = await freePort();
    const server = await startServer(`postgres://nobody:nothing@127.0.0.1:${deadPort}/none`);
    try {
      const res = await fetch(`${server.url}/health`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { status: string; db: string; reason: string };
      expect(body).toMatchObject({ status: 'degraded', db: 'down' });
      expect(body.reason).toMatch(/database unreachable/);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
