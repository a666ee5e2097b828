// `npm start` end to end: the real supervisor (scripts/start.ts) with an
// embedded Postgres in a fresh data directory, as a user would run it.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRelaydeskClient } from '@relaydesk/client';
import { freePort, isAlive } from '@relaydesk/db/embedded';
import { repoRoot, startServer } from './helpers/server.ts';

async function until(what: string, check: () => boolean, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
  url?: string;
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaydesk-start-'));
const pgPort = await freePort();
const running: Started[] = [];

function npmStart(env: Record<string, string> = {}): Started {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, RELAYDESK_DATA_DIR: dataDir, RELAYDESK_PG_PORT: String(pgPort), LOG_LEVEL: 'warn', ...env };
  delete childEnv.DATABASE_URL;
  // Its own process group, so a "Ctrl-C" can go to the whole group as a terminal sends it.
  const child = spawn(process.execPath, [path.join(repoRoot, 'scripts/start.ts')], { env: childEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const s: Started = { child, output: () => out, exit: new Promise((r) => child.once('exit', (code) => r(code))) };
  running.push(s);
  return s;
}

async function started(s: Started): Promise<string> {
  await until('"Relaydesk is running"', () => /running at (http:\/\/\S+)/.test(s.output()) || s.child.exitCode !== null, 30_000);
  const m = /running at (http:\/\/\S+)/.exec(s.output());
  if (!m) throw new Error(`npm start failed:\n${s.output()}`);
  return m[1]!;
}

function descendants(pid: number): number[] {
  const kids: number[] = [];
  for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const ppid = Number(fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      if (ppid === pid) kids.push(Number(d), ...descendants(Number(d)));
    } catch {
      /* exited meanwhile */
    }
  }
  return kids;
}

const postmasterPid = () => Number(fs.readFileSync(path.join(dataDir, 'postgres/postmaster.pid'), 'utf8').split('\n')[0]);

afterAll(async () => {
  const kill = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  };
  for (const s of running) kill(-s.child.pid!, 'SIGKILL');
  if (fs.existsSync(path.join(dataDir, 'postgres/postmaster.pid'))) kill(postmasterPid(), 'SIGQUIT');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  let token = '';
  let ticketId = '';

  it('boots embedded Postgres, migrates, makes the first admin, and serves the API', async () => {
    const s = npmStart({ PORT: String(await freePort()) });
    const url = await started(s);
    expect(s.output()).toContain('first boot: created admin@relaydesk.local');

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
  });

  it('a second npm start finds the same data and keeps the admin token', async () => {
    const s = npmStart({ PORT: String(await freePort()) });
    const url = await started(s);
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
  });

  it('recovers from a killed start: an orphaned Postgres is stopped, a stale pid file cleared', async () => {
    const s = npmStart({ PORT: String(await freePort()) });
    await started(s);
    const orphan = postmasterPid();
    process.kill(-s.child.pid!, 'SIGKILL'); // supervisor, server, worker: postgres lives on in its own group
    await s.exit;
    expect(isAlive(orphan)).toBe(true);

    const again = npmStart({ PORT: String(await freePort()) });
    const url = await started(again);
    expect(again.output()).toContain(`stopped a Postgres (pid ${orphan})`);
    expect((await fetch(`${url}/health`)).status).toBe(200);

    // Now kill everything, postgres too, leaving its pid file behind.
    const pg = postmasterPid();
    process.kill(-again.child.pid!, 'SIGKILL');
    process.kill(pg, 'SIGKILL');
    await until('postgres to die', () => !isAlive(pg));
    expect(fs.existsSync(path.join(dataDir, 'postgres/postmaster.pid'))).toBe(true);

    const third = npmStart({ PORT: String(await freePort()) });
    const url3 = await started(third);
    expect((await fetch(`${url3}/health`)).status).toBe(200);
    process.kill(-third.child.pid!, 'SIGINT');
    expect(await third.exit).toBe(0);
  });

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
  });

  it('bad configuration fails at boot with a line naming the variable', async () => {
    const s = npmStart({ PORT: 'eighty' });
    expect(await s.exit).toBe(1);
    expect(s.output()).toMatch(/Invalid configuration: PORT/);
  });
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
  });
});
