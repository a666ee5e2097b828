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
import { installQueues } from '@relaydesk/worker/queues';

export interface BenchDb {
  pg: EmbeddedPostgres;
  url: string;
  db: Kysely<Database>;
  close(): Promise<void>;
}

export async function benchDatabase(): Promise<BenchDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaydesk-bench-'));
  // Production-like durability settings except fsync: a shared dev disk's
  // fsync latency would measure the disk, not the code.
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: 0, detached: false, settings: { fsync: 'off', max_connections: '400' } });
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

export function report(rows: { name: string; value: number; unit: string; anchor: number; anchorName: string }[]) {
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(44)} ${fmt(r.value).padStart(8)} ${r.unit.padEnd(8)} | anchor ${r.anchorName}: ${fmt(r.anchor)} ${r.unit} | ratio ${(r.value / r.anchor).toFixed(2)}`,
    );
  }
}
