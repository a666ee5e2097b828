// Jobs per second through pg-boss with 1, 2 and 4 worker processes, beside a
// raw-SQL queue (SKIP LOCKED claim + delete of one row per transaction, 4
// connections) processing the same number of rows, in this run.
//
// The jobs are ticket.assign jobs for tickets that are already assigned, so
// each job is the full round trip (fetch, parse, handler transaction,
// completion) with a handler that finds no work: the figure is the queue's
// own throughput, not the assignment's.
import pg from 'pg';
import { sql } from 'kysely';
import { PgBoss } from 'pg-boss';
import { startWorker } from '../test/helpers/worker.ts';
import { createBoss } from '../server/src/core/jobs/boss.ts';
import { benchDatabase, report, type BenchDb } from './harness.ts';

const JOBS = Number(process.env.BENCH_JOBS ?? 3000);

async function drain(b: BenchDb, boss: PgBoss, workers: number): Promise<number> {
  await boss.insert('ticket.assign', Array.from({ length: JOBS }, () => ({ data: { reason: 'sweep' } })));
  const procs = await Promise.all(Array.from({ length: workers }, () => startWorker(b.url, { LOG_LEVEL: 'error' })));
  const started = performance.now();
  for (;;) {
    const { rows } = await sql<{ n: number }>`select count(*)::int n from pgboss.job where name = 'ticket.assign' and state in ('created', 'retry', 'active')`.execute(b.db);
    if (rows[0]!.n === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(procs.map((p) => p.stop()));
  return JOBS / seconds;
}

export async function benchJobs() {
  const b = await benchDatabase();
  const boss = createBoss(b.url, { max: 2 });
  boss.on('error', () => {});
  await boss.start();
  try {
    // Anchor: a plain table used as a queue.
    const pool = new pg.Pool({ connectionString: b.url, max: 4 });
    await pool.query('create table raw_jobs (id bigint generated always as identity primary key, data jsonb not null)');
    await pool.query(`insert into raw_jobs (data) select '{"reason":"sweep"}'::jsonb from generate_series(1, $1)`, [JOBS]);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (;;) {
          const { rowCount } = await pool.query(
            'delete from raw_jobs where id = (select id from raw_jobs order by id limit 1 for update skip locked) returning data',
          );
          if (!rowCount) return;
        }
      }),
    );
    const raw = JOBS / ((performance.now() - started) / 1000);
    await pool.end();

    const rows = [];
    for (const workers of [1, 2, 4]) {
      const perSecond = await drain(b, boss, workers);
      rows.push({ name: `pg-boss ticket.assign jobs, ${workers} worker${workers > 1 ? 's' : ''}`, value: perSecond, unit: 'jobs/s', anchor: raw, anchorName: 'raw SKIP LOCKED queue x4' });
    }
    report(rows);
    return rows;
  } finally {
    await boss.stop({ graceful: false, close: true });
    await b.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchJobs();
