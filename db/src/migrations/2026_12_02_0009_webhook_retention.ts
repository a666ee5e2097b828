// Webhook log retention: the hourly prune (server/src/core/webhooks/
// retention.ts) finds settled deliveries oldest first by the time they
// settled. A partial index holds only settled ones, so the deliveries still
// being tried are not in it, and their retries (which change neither the
// status nor completed_at) stay HOT updates.
//
// Built while writes to webhook_deliveries wait (a migration runs in a
// transaction, so not CONCURRENTLY): about a second per million deliveries.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create index webhook_deliveries_settled_idx on webhook_deliveries ((coalesce(completed_at, created_at)))
     where status <> 'pending'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index webhook_deliveries_settled_idx`.execute(db);
}
