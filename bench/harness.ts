// Shared bench plumbing: a throwaway embedded Postgres, migrated, with queues,
// and helpers to start real server and worker processes against it.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { createDb, migrateToLatest, type Database } from '@relaydesk/db';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '@relaydesk/db/embedded';
import { installQueues } from '@relaydesk/server/core/jobs/boss';

export interface BenchDb {
  pg: EmbeddedPostgres;
  url: string;
  db: Kysely<Database>;
  close(): Promise<void>;
}

export async function benchDatabase(settings: Record<string, string> = {}): Promise<BenchDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaydesk-bench-'));
  // Production-like durability settings except fsync: a shared dev disk's
  // fsync latency would measure the disk, not the code.
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'pg'),
    port: 0,
    detached: false,
    settings: { fsync: 'off', max_connections: '400', ...settings },
  });
  const db = createDb(pg.url, { max: 16 });
  await migrateToLatest(db);
  await installQueues(pg.url);
  return {
    pg,
    url: pg.url,
    db,
    async close() {
      await db.destroy();
      await pg.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Inserts `n` agents with API tokens; returns their ids and plaintext tokens. */
export async function insertAgents(db: Kysely<Database>, n: number, capacity = 1000) {
  const agents = Array.from({ length: n }, (_, i) => ({ id: uuidv7(), token: 'rd_' + randomBytes(32).toString('base64url'), i }));
  for (let i = 0; i < n; i += 1000) {
    const chunk = agents.slice(i, i + 1000);
    await db
      .insertInto('users')
      .values(chunk.map((a) => ({ id: a.id, name: `Agent ${a.i}`, email: `agent${a.i}-${a.id}@bench.test`, role: 'agent' as const, password_hash: null, capacity })))
      .execute();
    await db
      .insertInto('api_tokens')
      .values(chunk.map((a) => ({ id: uuidv7(), user_id: a.id, token_hash: createHash('sha256').update(a.token).digest(), name: 'bench' })))
      .execute();
  }
  return agents;
}

/** Issues an API token for each user; returns the plaintext tokens in the same order. */
export async function insertTokens(db: Kysely<Database>, userIds: string[]): Promise<string[]> {
  const tokens = userIds.map(() => 'rd_' + randomBytes(32).toString('base64url'));
  for (let i = 0; i < userIds.length; i += 1000) {
    await db
      .insertInto('api_tokens')
      .values(
        userIds.slice(i, i + 1000).map((userId, j) => ({
          id: uuidv7(),
          user_id: userId,
          token_hash: createHash('sha256').update(tokens[i + j]!).digest(),
          name: 'bench',
          // In use already: a first use would add the last-used write to the call.
          last_used_at: new Date(),
        })),
      )
      .execute();
  }
  return tokens;
}

/** Inserts `n` open, unassigned tickets (one contact), oldest first. */
export async function insertTickets(db: Kysely<Database>, n: number) {
  const contact = uuidv7();
  await db.insertInto('contacts').values({ id: contact, email: `c-${contact}@bench.test`, name: 'Bench' }).execute();
  for (let i = 0; i < n; i += 2000) {
    const size = Math.min(2000, n - i);
    await db
      .insertInto('tickets')
      .values(Array.from({ length: size }, (_, j) => ({ id: uuidv7(), title: `Bench ticket ${i + j}`, description: 'Printer is on fire', contact_id: contact })))
      .execute();
  }
  await sql`vacuum analyze tickets`.execute(db);
}

/** Runs `fn` on `concurrency` loops for `seconds`; returns completed operations per second. */
export async function throughput(concurrency: number, seconds: number, fn: (loop: number) => Promise<unknown>): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      while (performance.now() < until) {
        await fn(loop);
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

export const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

/** One line of bench/RESULTS.md: a figure, its anchor measured in the same run, and their ratio. */
export interface Result {
  section: string;
  name: string;
  figure: string;
  anchor: string;
  /** figure / anchor for rates; anchor / figure for latencies: above 1 is always better. */
  ratio: number;
}

export const results: Result[] = [];
let currentSection = '';

/** Starts a section of the console output and of bench/RESULTS.md. */
export function section(title: string) {
  currentSection = title;
  console.log(`\n# ${title}`);
}

export function record(r: Omit<Result, 'section'>) {
  results.push({ section: currentSection, ...r });
  console.log(`${r.name.padEnd(44)} ${r.figure.padStart(10)} | anchor ${r.anchor} | ratio ${r.ratio.toFixed(2)}`);
}

export function report(rows: { name: string; value: number; unit: string; anchor: number; anchorName: string }[]) {
  for (const r of rows) {
    record({ name: r.name, figure: `${fmt(r.value)} ${r.unit}`, anchor: `${r.anchorName}: ${fmt(r.anchor)} ${r.unit}`, ratio: r.value / r.anchor });
  }
}

export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

export interface LatencyRow {
  name: string;
  p50: number;
  p95: number;
  anchorP50: number;
  anchorP95: number;
}

/** Records a latency figure (p50/p95 in ms) beside its raw-SQL anchor; the ratio is anchor p95 / our p95. */
export function latencyRow(name: string, ours: number[], raw: number[], anchorName = 'raw SQL'): LatencyRow {
  const row = { name, p50: percentile(ours, 50), p95: percentile(ours, 95), anchorP50: percentile(raw, 50), anchorP95: percentile(raw, 95) };
  record({
    name,
    figure: `p50 ${row.p50.toFixed(1)} ms, p95 ${row.p95.toFixed(1)} ms`,
    anchor: `${anchorName}: p50 ${row.anchorP50.toFixed(1)} ms, p95 ${row.anchorP95.toFixed(1)} ms`,
    ratio: row.anchorP95 / row.p95,
  });
  return row;
}
