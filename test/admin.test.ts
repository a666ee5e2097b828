// The first admin and the operator's way in: a server's first boot on an
// empty database creates the first admin (once, by one process, its password
// printed and never logged), and `npm run admin` (scripts/admin.ts, run as an
// operator runs it: a child process against DATABASE_URL) creates users,
// resets passwords and issues API tokens.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDb } from '@relaydesk/db';
import { freePort } from '@relaydesk/db/embedded';
import { announceFirstAdmin, ensureFirstAdmin } from '../server/src/core/users/bootstrap.ts';
import { createTestDatabase, databaseUrl } from './helpers/db.ts';
import { repoRoot } from './helpers/server.ts';
import { waitFor } from './helpers/worker.ts';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'relaydesk-admin-'));
const tdb = await createTestDatabase('admin');
const raceDb = await createTestDatabase('admin_race');
const running = new Set<{ stop(): Promise<void> }>();

afterAll(async () => {
  for (const s of running) await s.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** This process's environment without anything that would steer the child (the test sets what it means). */
function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info', ...extra };
  for (const name of ['RELAYDESK_ADMIN_EMAIL', 'RELAYDESK_ADMIN_PASSWORD', 'RELAYDESK_DATA_DIR']) if (!(name in extra)) delete env[name];
  if (!('DATABASE_URL' in extra)) delete env.DATABASE_URL;
  return env;
}

function newDir(label: string): string {
  return fs.mkdtempSync(path.join(scratch, `${label}-`));
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node scripts/<script>` to its end, in `cwd` (a scratch folder: never the repo's own .env). */
function runScript(script: string, args: string[], env: Record<string, string>, cwd = scratch): Promise<Ran> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'scripts', script), ...args], { cwd, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const admin = (args: string[], env: Record<string, string> = { DATABASE_URL: tdb.url }, cwd?: string) => runScript('admin.ts', args, env, cwd);

interface Booted {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** A server process whose output the test reads; resolves once it listens. */
async function bootServer(dbUrl: string, dataDir: string, env: Record<string, string> = {}): Promise<Booted> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'server/src/api/main.ts')], {
    cwd: scratch,
    env: baseEnv({ DATABASE_URL: dbUrl, PORT: '0', HOST: '127.0.0.1', RELAYDESK_DATA_DIR: dataDir, ...env }),
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    child.on('message', (m: { type?: string; url?: string }) => m.type === 'listening' && resolve(m.url!));
    void exited.then(() => reject(new Error(`the server exited during start-up:\n${out}`)));
  });
  const booted: Booted = {
    url,
    output: () => out,
    async stop() {
      running.delete(booted);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
  running.add(booted);
  return booted;
}

type Answer = { status: number; data?: any; code?: string };

async function trpc(url: string, proc: string, opts: { input?: unknown; token?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  const res =
    opts.input === undefined
      ? await fetch(`${url}/trpc/${proc}`, { headers })
      : await fetch(`${url}/trpc/${proc}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(opts.input) });
  const body = (await res.json()) as { result?: { data: unknown }; error?: { data?: { code?: string } } };
  return { status: res.status, data: body.result?.data, code: body.error?.data?.code };
}

const login = (url: string, email: string, password: string) => trpc(url, 'auth.login', { input: { email, password } });
const me = (url: string, token: string) => trpc(url, 'auth.me', { token });
const secret = (text: string, label: RegExp) => label.exec(text)?.[1];

/** Lines a pino logger wrote (JSON), as opposed to what was printed for a person. */
const logLines = (out: string) => out.split('\n').filter((l) => l.startsWith('{'));

let server: Booted;

describe('the first admin', () => {
  it('is created by the first server boot of an empty database, once; off a terminal its password goes to a 0600 file, never to stdout or the log', async () => {
    const users = async () => (await tdb.db.selectFrom('users').select('email').execute()).map((u) => u.email);
    expect(await users()).toEqual([]); // the test databases start with no user at all

    const dataDir = newDir('data');
    const first = await bootServer(tdb.url, dataDir, { RELAYDESK_ADMIN_EMAIL: 'Owner@Example.com' });
    expect(first.output()).toMatch(/\[relaydesk\] first boot: created the admin owner@example\.com; its API token is in .*admin-token/);
    // Its stdout is a pipe here, as a container's is (where stdout is the log): the password is only in the file.
    const passwordFile = path.join(dataDir, 'admin-password');
    expect(first.output()).toContain(`its generated password is in ${passwordFile}`);
    expect(first.output()).not.toContain('its password (shown once');
    expect(fs.statSync(passwordFile).mode & 0o777).toBe(0o600);
    const password = fs.readFileSync(passwordFile, 'utf8').trim();
    expect(password).toMatch(/^[\w-]{20}$/);
    expect(first.output()).not.toContain(password);
    expect(logLines(first.output()).length).toBeGreaterThan(0);
    expect(logLines(first.output()).join('\n')).toContain('created the first admin');

    const tokenFile = path.join(dataDir, 'admin-token');
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = fs.readFileSync(tokenFile, 'utf8').trim();
    expect(first.output()).not.toContain(token);
    expect((await me(first.url, token)).data).toMatchObject({ email: 'owner@example.com', role: 'admin' });
    const session = await login(first.url, 'owner@example.com', password!);
    expect(session.data.user).toMatchObject({ email: 'owner@example.com', role: 'admin' });
    expect(logLines(first.output()).join('\n')).not.toContain(password!);
    await first.stop();

    // A second boot on the same, now non-empty, database creates nothing.
    server = await bootServer(tdb.url, dataDir, { RELAYDESK_ADMIN_EMAIL: 'other@example.com' });
    expect(server.output()).not.toContain('first boot');
    expect(fs.readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(await users()).toEqual(['owner@example.com']);
  }, 60_000);

  it('on a terminal (npm start, npm run server by hand) the generated password is also shown, once', () => {
    const admin = { email: 'a@example.com', tokenFile: '/d/admin-token', generatedPassword: 'pw-0123456789abcdefg', passwordFile: '/d/admin-password' };
    const onTerminal: string[] = [];
    announceFirstAdmin(admin, (l) => onTerminal.push(l), true);
    expect(onTerminal.filter((l) => l.includes(admin.generatedPassword))).toEqual([
      'its password (shown once, change it with npm run admin -- reset-password): pw-0123456789abcdefg',
    ]);
    const offTerminal: string[] = [];
    announceFirstAdmin(admin, (l) => offTerminal.push(l), false);
    expect(offTerminal.join('\n')).not.toContain(admin.generatedPassword);
    expect(offTerminal.join('\n')).toContain('its generated password is in /d/admin-password');
  });

  it('two processes booting at once on an empty database create exactly one admin', async () => {
    const dirs = Array.from({ length: 4 }, () => newDir('race'));
    const results = await Promise.all(
      dirs.map((dataDir, i) => {
        // Each boot its own pool, as separate processes would have.
        const db = createDb(raceDb.url, { max: 2 });
        return ensureFirstAdmin(db, { dataDir, email: `racer${i}@example.com`, password: 'a long enough password' }).finally(() => db.destroy());
      }),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.findIndex(Boolean);
    expect(results[winner]).toEqual({ email: `racer${winner}@example.com`, tokenFile: path.join(dirs[winner]!, 'admin-token') });
    expect(dirs.filter((d) => fs.existsSync(path.join(d, 'admin-token')))).toEqual([dirs[winner]]);
    expect(await raceDb.db.selectFrom('users').select(['email', 'role']).execute()).toEqual([{ email: `racer${winner}@example.com`, role: 'admin' }]);
    expect(await raceDb.db.selectFrom('api_tokens').select('name').execute()).toEqual([{ name: 'first-boot' }]);
  });

  it('a server booted before the migrations serves, says why, and creates the admin once `npm run migrate` ran', async () => {
    const adminUrl = inject('adminDatabaseUrl');
    const name = `t_unmigrated_${randomBytes(4).toString('hex')}`;
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`create database ${name}`);
    await c.end();
    try {
      const url = databaseUrl(name);
      const dataDir = newDir('unmigrated');
      const early = await bootServer(url, dataDir, { RELAYDESK_ADMIN_EMAIL: 'early@example.com', RELAYDESK_ADMIN_PASSWORD: 'early bird password' });
      expect(early.output()).toMatch(/the database is not migrated yet \(run `npm run migrate`\)/);
      expect((await fetch(`${early.url}/health`)).status).toBeLessThan(600); // it answers

      const migrated = await runScript('migrate.ts', [], { DATABASE_URL: url });
      expect(migrated).toMatchObject({ code: 0, stderr: '' });
      expect(migrated.stdout).toMatch(/applied: .*init[\s\S]*job queues ready/);
      await waitFor('the first admin after the migrations', async () => early.output().includes('first boot: created the admin early@example.com'), 30_000);
      expect(early.output()).not.toContain('its password'); // it was given
      expect(early.output()).not.toContain('early bird password');
      expect((await login(early.url, 'early@example.com', 'early bird password')).data.user.role).toBe('admin');
      expect(fs.statSync(path.join(dataDir, 'admin-token')).mode & 0o777).toBe(0o600);
      await early.stop();
    } finally {
      const d = new pg.Client({ connectionString: adminUrl });
      await d.connect();
      await d.query(`drop database if exists ${name} with (force)`);
      await d.end();
    }
  }, 90_000);
});

describe('npm run admin', () => {
  it('create: a user with a generated password, printed once; or with the given one, never echoed', async () => {
    const made = await admin(['create', '--email', 'Ops@Example.com', '--name', 'Ops Person']);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    expect(made.stdout).toMatch(/^created the admin Ops Person <ops@example\.com> \(id [0-9a-f-]{36}\)\n/);
    const password = secret(made.stdout, /password \(shown once\): (\S+)/)!;
    expect((await login(server.url, 'ops@example.com', password)).data.user).toMatchObject({ name: 'Ops Person', role: 'admin' });

    const agent = await admin(['create', '--email', 'agent.smith@example.com', '--name', 'Smith', '--role', 'agent', '--password', 'given password 1']);
    expect(agent).toMatchObject({ code: 0, stderr: '' });
    expect(agent.stdout).not.toMatch(/password/);
    expect((await login(server.url, 'agent.smith@example.com', 'given password 1')).data.user.role).toBe('agent');

    const twice = await admin(['create', '--email', 'ops@example.com', '--name', 'Again']);
    expect(twice).toEqual({ code: 1, stdout: '', stderr: 'admin: email is already taken\n' });
  }, 60_000);

  it('reset-password: a new password that works, the old one and its login sessions ended, API tokens kept', async () => {
    const before = await admin(['create', '--email', 'forgetful@example.com', '--name', 'Forgetful', '--role', 'customer', '--password', 'old password 123']);
    expect(before.code).toBe(0);
    const session = (await login(server.url, 'forgetful@example.com', 'old password 123')).data.token as string;
    const apiToken = (await admin(['token', '--email', 'forgetful@example.com'])).stdout.trim().split('\n').at(-1)!;
    expect((await me(server.url, session)).status).toBe(200);

    const reset = await admin(['reset-password', '--email', 'Forgetful@example.com']);
    expect(reset).toMatchObject({ code: 0, stderr: '' });
    expect(reset.stdout).toMatch(/^reset the password of forgetful@example\.com: its login sessions are ended/);
    const password = secret(reset.stdout, /new password \(shown once\): (\S+)/)!;

    expect((await me(server.url, session)).code).toBe('UNAUTHORIZED');
    expect((await login(server.url, 'forgetful@example.com', 'old password 123')).code).toBe('UNAUTHORIZED');
    expect((await login(server.url, 'forgetful@example.com', password)).data.user.email).toBe('forgetful@example.com');
    expect((await me(server.url, apiToken)).data.email).toBe('forgetful@example.com');

    const given = await admin(['reset-password', '--email', 'forgetful@example.com', '--password', 'chosen password 9']);
    expect(given).toMatchObject({ code: 0, stderr: '' });
    expect(given.stdout).not.toMatch(/chosen|new password/);
    expect((await login(server.url, 'forgetful@example.com', 'chosen password 9')).status).toBe(200);
  }, 60_000);

  it('token: a new API token, alone on the last line, that authenticates auth.me', async () => {
    const t = await admin(['token', '--email', 'ops@example.com', '--name', 'deploy bot']);
    expect(t).toMatchObject({ code: 0, stderr: '' });
    const lines = t.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^API token "deploy bot" for ops@example\.com \(id [0-9a-f-]{36}\), shown once:$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^rd_[\w-]{43}$/);
    expect((await me(server.url, lines[1]!)).data).toMatchObject({ email: 'ops@example.com', role: 'admin' });
    const listed = await tdb.db.selectFrom('api_tokens as t').innerJoin('users as u', 'u.id', 't.user_id').select(['t.name', 't.expires_at']).where('u.email', '=', 'ops@example.com').execute();
    expect(listed).toContainEqual({ name: 'deploy bot', expires_at: null });
  });

  it('bad arguments: exit 2 with one clear line, before touching the database', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^admin: which command\? usage: npm run admin -- create /],
      [['frobnicate'], /^admin: unknown command "frobnicate": use create, reset-password or token/],
      [['create', '--name', 'No Email'], /^admin: create needs --email/],
      [['reset-password'], /^admin: reset-password needs --email/],
      [['token', '--name', 'x'], /^admin: token needs --email/],
      [['create', '--email', 'ops@example.com'], /^admin: create needs --name/],
      [['create', '--email', 'not-an-email', '--name', 'X'], /^admin: --email must be an email address$/],
      [['reset-password', '--email', 'ops@example.com', '--password', 'short'], /^admin: --password must be at least 10 characters$/],
      [['create', '--email', 'x@example.com', '--name', 'X', '--role', 'boss'], /^admin: --role must be one of admin, agent, customer$/],
      [['token', '--email', 'ops@example.com', '--role', 'admin'], /^admin: --role is not an option of token/],
      [['token', '--email', 'ops@example.com', '--frob'], /^admin: unknown option --frob/],
      [['token', '--email'], /^admin: --email needs a value$/],
    ];
    // No database at all: arguments are checked first.
    const runs = await Promise.all(cases.map(([args]) => admin(args, { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' })));
    runs.forEach((r, i) => {
      const [args, expected] = cases[i]!;
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr.endsWith('\n') && r.stderr.split('\n').length === 2, `one line for ${args.join(' ')}: ${r.stderr}`).toBe(true);
      expect(r.stderr.trimEnd()).toMatch(expected);
    });
  }, 60_000);

  it('failures: exit 1 with one line (no such user, a database that does not answer)', async () => {
    expect(await admin(['reset-password', '--email', 'nobody@example.com'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'admin: no user has the email nobody@example.com\n',
    });
    const down = await admin(['token', '--email', 'ops@example.com'], { DATABASE_URL: `postgres://nobody@127.0.0.1:${await freePort()}/none` });
    expect(down).toMatchObject({ code: 1, stdout: '' });
    expect(down.stderr).toMatch(/^admin: the database is unreachable \(connect ECONNREFUSED [^)]+\)\n$/);
  });

  it('reads DATABASE_URL from ./.env; the real environment wins over it', async () => {
    const dir = newDir('dotenv');
    fs.writeFileSync(path.join(dir, '.env'), `# an operator's file\nDATABASE_URL=${tdb.url}\n`);
    const fromFile = await admin(['token', '--email', 'ops@example.com'], {}, dir);
    expect(fromFile).toMatchObject({ code: 0, stderr: '' });

    fs.writeFileSync(path.join(dir, '.env'), `DATABASE_URL=postgres://nobody@127.0.0.1:1/none\n`);
    const envWins = await admin(['token', '--email', 'ops@example.com'], { DATABASE_URL: tdb.url }, dir);
    expect(envWins).toMatchObject({ code: 0, stderr: '' });
  });
});
