// Rate-limit counters shared by every server process (login failures,
// suggestions, AI drafts), in the table layout rate-limiter-flexible's
// Postgres store reads: one row per key, its points, and when its window ends
// (epoch milliseconds). Unlogged: a crash losing counts loses nothing that
// matters, and the writes skip the WAL.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create unlogged table rate_limits (
      key text primary key,
      points integer not null default 0,
      expire bigint
    )`.execute(db);
  // tickets.claim wrote its ticket.assigned events without the requester
  // until now: give them their ticket's contact, as every other path records it.
  await sql`
    update events e set contact_id = t.contact_id
      from tickets t
     where e.ticket_id = t.id and e.contact_id is null and e.type = 'ticket.assigned'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table rate_limits`.execute(db);
}
