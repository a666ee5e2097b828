// A customer's stream and replay read only their own tickets' public events:
// index exactly those, so a replay from the start of the log reads the rows
// it returns rather than the whole log.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index events_customer_idx on events (contact_id, position) where not internal`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index events_customer_idx`.execute(db);
}
