// Composable commands: a core command takes a `db` that may already be a
// transaction. Then the caller owns it and the command's writes commit (or
// roll back) with whatever else the caller does in it; given a plain `db`,
// the command opens its own.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';

export function atomically<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}
