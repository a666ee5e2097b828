// The ticket-count roll-up: folds the deltas that triggers write into the
// counts that `tickets.stats` reads (see the ticket-counts migration). It
// takes a try-lock, so with many callers one does the work and the others
// return at once.
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';

/** Folds pending ticket-count deltas; returns how many delta rows it moved. */
export async function rollUpTicketCounts(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ moved: number }>`select relaydesk_roll_up_ticket_counts() as moved`.execute(db);
  return Number(rows[0]!.moved);
}
