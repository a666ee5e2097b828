// Rate-limit counters shared by every server process (login failures,
// suggestions, AI drafts), in the table layout rate-limiter-flexible's
// Postgres store reads: one row per key, its points, and when its window ends
// (epoch milliseconds). Unlogged: a crash losing counts loses nothing that
// matters, and the writes skip the WAL.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create unlogged table rate_limits (
      key varchar(255) primary key,
      points integer not null default 0,
      expire bigint
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table rate_limits`.execute(db);
}
