// `npm start`: the whole system on one machine.
//
// With no DATABASE_URL it runs an embedded Postgres under
// $RELAYDESK_DATA_DIR/postgres (kept across restarts), migrates, creates the
// first admin on an empty database, then runs one server and one worker as
// separate child processes and keeps them running: a child that crashes is
// restarted with backoff (see "The supervisor" below). Ctrl-C / SIGTERM stop
// the children first, then Postgres, and leave no process behind.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDb, migrateToLatest } from '@relaydesk/db';
import { EmbeddedPostgresError, isAlive, startEmbeddedPostgres, stopOrphanPostgres, type EmbeddedPostgres } from '@relaydesk/db/embedded';
import { announceFirstAdmin, ensureFirstAdmin } from '@relaydesk/server/core/users/bootstrap';
import { loadEnv, startEnv } from '@relaydesk/server/core/env';
import { installQueues } from '@relaydesk/server/core/jobs/boss';
import { processEnv } from './process-env.ts';

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
let stopping = false;

// The supervisor. A child that dies on its own is restarted after a
// per-child backoff: 1 s, doubling up to 30 s, back to 1 s once a child has
// been up (ready) for 60 s. The other child keeps running meanwhile, so the
// API stays up while a worker restarts, and queued jobs wait in Postgres.
// Crashes are counted per child, like the backoff (the other child's are a
// different fault): the 5th crash of one child within 2 minutes is a loop
// that restarting won't fix, so everything stops with exit code 1. A child
// that dies before it was ever ready stops everything at once: on the first
// boot that is configuration or code (its own line, e.g. a taken PORT, says
// which), not bad luck.
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const HEALTHY_AFTER_MS = 60_000;
const CRASH_LIMIT = 5;
const CRASH_WINDOW_MS = 2 * 60_000;

interface Slot {
  name: 'server' | 'worker';
  entry: string;
  /** The IPC message the child sends once it serves: the server's `listening`, the worker's `ready`. */
  readyMessage: string;
  child?: ChildProcess;
  /** When the current child became ready; unset while it boots. */
  readySince?: number;
  everReady: boolean;
  nextDelayMs: number;
  /** When this child crashed, within the last CRASH_WINDOW_MS. */
  crashes: number[];
  restart?: NodeJS.Timeout;
  url?: string;
}

const slots: Slot[] = [
  { name: 'server', entry: 'server/src/api/main.ts', readyMessage: 'listening', everReady: false, nextDelayMs: BACKOFF_FIRST_MS, crashes: [] },
  { name: 'worker', entry: 'worker/src/main.ts', readyMessage: 'ready', everReady: false, nextDelayMs: BACKOFF_FIRST_MS, crashes: [] },
];

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
    if (admin) announceFirstAdmin(admin, say);
  } finally {
    await db.destroy();
  }
} catch (err) {
  // Ctrl-C during start-up stops Postgres under the migration or the admin's
  // creation, which then fails: stop() is already exiting, and decides how.
  if (stopping) await new Promise(() => {});
  await pg?.stop().catch(() => {});
  if (lockFile) fs.rmSync(lockFile, { force: true });
  fail(err instanceof EmbeddedPostgresError ? err.message : `start-up failed: ${(err as Error).message}`);
}

let announced = false;
const warn = (line: string) => console.error(`[relaydesk] ${line}`);

function spawnChild(slot: Slot) {
  const child = spawn(process.execPath, [path.join(root, slot.entry)], {
    env: processEnv({ ...process.env, DATABASE_URL: databaseUrl }),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  slot.child = child;
  slot.readySince = undefined;
  child.on('message', (msg: { type?: string; url?: string }) => {
    if (msg?.type !== slot.readyMessage || stopping || slot.child !== child) return;
    slot.readySince = Date.now();
    // With PORT=0 a restarted server listens on another port: say where.
    const moved = slot.everReady && msg.url !== undefined && msg.url !== slot.url;
    if (msg.url) slot.url = msg.url;
    if (slot.everReady) return say(`${slot.name} is back (pid ${child.pid})${moved ? `, now at ${msg.url}` : ''}`);
    slot.everReady = true;
    if (!announced && slots.every((s) => s.everReady)) announce();
  });
  let gone = false;
  const onGone = (how: string) => {
    if (gone) return;
    gone = true;
    if (slot.child === child) slot.child = undefined;
    if (!stopping) crashed(slot, how);
  };
  child.on('exit', (code, signal) => onGone(signal ? `signal ${signal}` : `code ${code}`));
  // A failed spawn emits 'error' and no 'exit'; a failed kill() is an 'error' of a live child.
  child.on('error', (err) => {
    if (child.pid === undefined) onGone(err.message);
  });
}

function crashed(slot: Slot, how: string) {
  if (!slot.everReady) {
    warn(`${slot.name} exited during start-up (${how}); stopping everything`);
    return void stop(1);
  }
  const now = Date.now();
  slot.crashes = [...slot.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
  if (slot.crashes.length >= CRASH_LIMIT) {
    warn(`${slot.name} crashed ${CRASH_LIMIT} times within ${CRASH_WINDOW_MS / 60_000} minutes (last: ${how}); stopping everything`);
    return void stop(1);
  }
  if (slot.readySince !== undefined && now - slot.readySince >= HEALTHY_AFTER_MS) slot.nextDelayMs = BACKOFF_FIRST_MS;
  const delay = slot.nextDelayMs;
  slot.nextDelayMs = Math.min(delay * 2, BACKOFF_MAX_MS);
  warn(`${slot.name} exited (${how}); restarting in ${delay / 1000} s`);
  slot.restart = setTimeout(() => {
    slot.restart = undefined;
    if (!stopping) spawnChild(slot);
  }, delay);
}

function announce() {
  announced = true;
  const url = slots[0]!.url!;
  say(`Relaydesk is running at ${url} (tRPC at ${url}/trpc, health at ${url}/health)`);
  // Pids for operators (and the supervisor tests); a restart prints the new one.
  const pids = slots.flatMap((s) => (s.child?.pid !== undefined ? [`${s.name} pid ${s.child.pid}`] : []));
  if (pg) pids.push(`Postgres pid ${pg.pid}`);
  say(`processes: ${pids.join(', ')}; this supervisor pid ${process.pid}`);
  say(`admin token: ${path.join(path.relative(process.cwd(), dataDir) || '.', 'admin-token')}   Ctrl-C stops everything`);
}

/** SIGTERM, then SIGKILL if it is still running after `graceMs`. */
function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function stop(exitCode: number) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  for (const slot of slots) clearTimeout(slot.restart);
  try {
    // Longer than a worker's own graceful-stop bound (20 s). A child that exits
    // from here on is not restarted: `stopping` is set.
    await Promise.all(slots.flatMap((s) => (s.child ? [stopChild(s.child, 25_000)] : [])));
    // A signal during start-up: let Postgres finish starting, then stop it.
    const cluster = pg ?? (await pgStarting?.catch(() => undefined));
    await cluster?.stop();
    say('stopped');
  } catch (err) {
    console.error(`[relaydesk] stopping failed: ${(err as Error).message}`);
    exitCode = 1;
  } finally {
    if (lockFile) fs.rmSync(lockFile, { force: true });
    process.exit(exitCode);
  }
}

if (stopping) await new Promise(() => {}); // a signal arrived during start-up: stop() is exiting
for (const slot of slots) spawnChild(slot);
