// `npm start`: the whole system on one machine.
//
// With no DATABASE_URL it runs an embedded Postgres under
// $RELAYDESK_DATA_DIR/postgres (kept across restarts), migrates, creates the
// first admin on an empty database, then runs one server and one worker as
// separate child processes. Ctrl-C / SIGTERM stop the children first, then
// Postgres, and leave no process behind.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDb, migrateToLatest } from '@relaydesk/db';
import { EmbeddedPostgresError, isAlive, startEmbeddedPostgres, stopOrphanPostgres, type EmbeddedPostgres } from '@relaydesk/db/embedded';
import { ensureFirstAdmin } from '@relaydesk/server/core/users/bootstrap';
import { loadEnv, startEnv } from '@relaydesk/server/core/env';
import { installQueues } from '@relaydesk/server/core/jobs/boss';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = loadEnv(startEnv);
const dataDir = path.resolve(env.RELAYDESK_DATA_DIR);
const say = (line: string) => console.log(`[relaydesk] ${line}`);
const fail = (line: string): never => {
  console.error(`[relaydesk] ${line}`);
  process.exit(1);
};

/** One supervisor per data directory; a dead one's leftovers are cleaned up. */
async function takeDataDirLock(): Promise<string> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lock = path.join(dataDir, 'relaydesk.pid');
  let previous: number | undefined;
  try {
    previous = Number(fs.readFileSync(lock, 'utf8').trim()) || undefined;
  } catch {
    /* no lock */
  }
  if (previous && previous !== process.pid && isAlive(previous)) {
    fail(`Relaydesk is already running on ${dataDir} (pid ${previous}). Stop it first, or set RELAYDESK_DATA_DIR to another directory.`);
  }
  if (previous) {
    const orphan = await stopOrphanPostgres(path.join(dataDir, 'postgres'));
    if (orphan) say(`stopped a Postgres (pid ${orphan}) left running by a previous start that was killed`);
  }
  fs.writeFileSync(lock, String(process.pid));
  return lock;
}

let pg: EmbeddedPostgres | undefined;
let pgStarting: Promise<EmbeddedPostgres> | undefined;
let lockFile: string | undefined;
let databaseUrl = env.DATABASE_URL;
const children = new Map<string, ChildProcess>();
let stopping = false;

// Installed before anything starts, so a Ctrl-C during start-up still stops
// Postgres (which runs in its own process group) instead of orphaning it.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void stop(0));

try {
  if (!databaseUrl) {
    lockFile = await takeDataDirLock();
    pgStarting = startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres'), port: env.RELAYDESK_PG_PORT });
    pg = await pgStarting;
    databaseUrl = pg.url;
    say(`embedded Postgres on 127.0.0.1:${pg.port}, data in ${path.relative(process.cwd(), pg.dataDir) || pg.dataDir}`);
  }
  const db = createDb(databaseUrl, { max: 2, applicationName: 'relaydesk-start' });
  try {
    const applied = await migrateToLatest(db);
    if (applied.length) say(`migrations applied: ${applied.join(', ')}`);
    await installQueues(databaseUrl);
    const admin = await ensureFirstAdmin(db, { dataDir, email: env.RELAYDESK_ADMIN_EMAIL, password: env.RELAYDESK_ADMIN_PASSWORD });
    if (admin) {
      say(`first boot: created the admin ${admin.email}; its API token is in ${path.relative(process.cwd(), admin.tokenFile)}`);
      // Printed once, here; only its hash is stored.
      if (admin.generatedPassword) say(`its password (shown once, change it with npm run admin -- reset-password): ${admin.generatedPassword}`);
    }
  } finally {
    await db.destroy();
  }
} catch (err) {
  await pg?.stop();
  if (lockFile) fs.rmSync(lockFile, { force: true });
  fail(err instanceof EmbeddedPostgresError ? err.message : `start-up failed: ${(err as Error).message}`);
}

function run(name: string, entry: string): ChildProcess {
  const child = spawn(process.execPath, [path.join(root, entry)], {
    // DNS lookups (webhook targets) run on libuv's thread pool: a slow
    // resolver must not starve the rest of the process (default pool: 4).
    env: { UV_THREADPOOL_SIZE: '16', ...process.env, DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.set(name, child);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      console.error(`[relaydesk] the ${name} exited (${signal ?? `code ${code}`}); stopping everything`);
      void stop(1);
    }
  });
  return child;
}

async function stop(exitCode: number) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  await Promise.all(
    [...children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          // Longer than a worker's own graceful-stop bound (20 s).
          const kill = setTimeout(() => child.kill('SIGKILL'), 25_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  // A signal during start-up: let Postgres finish starting, then stop it.
  const cluster = pg ?? (await pgStarting?.catch(() => undefined));
  await cluster?.stop();
  if (lockFile) fs.rmSync(lockFile, { force: true });
  say('stopped');
  process.exit(exitCode);
}

if (stopping) await new Promise(() => {}); // a signal arrived during start-up: stop() is exiting
const server = run('server', 'server/src/api/main.ts');
run('worker', 'worker/src/main.ts');
server.on('message', (msg: { type?: string; url?: string }) => {
  if (msg?.type === 'listening') {
    say(`Relaydesk is running at ${msg.url} (tRPC at ${msg.url}/trpc, health at ${msg.url}/health)`);
    say(`admin token: ${path.join(path.relative(process.cwd(), dataDir) || '.', 'admin-token')}   Ctrl-C stops everything`);
  }
});
