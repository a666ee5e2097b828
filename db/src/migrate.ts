// Applies migrations. The list is static (no directory scan) so it works the
// same under Node's type stripping, vitest and a bundler.
import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import * as init from './migrations/2026_11_21_0001_init.ts';
import * as assignment from './migrations/2026_11_21_0002_assignment.ts';
import * as liveEvents from './migrations/2026_11_21_0003_live_events.ts';
import * as customerEvents from './migrations/2026_11_21_0004_customer_events.ts';
import * as aiDrafts from './migrations/2026_11_21_0005_ai_drafts.ts';
import * as webhooks from './migrations/2026_11_21_0006_webhooks.ts';
import * as ticketCounts from './migrations/2026_11_21_0007_ticket_counts.ts';
import * as rateLimits from './migrations/2026_12_02_0008_rate_limits.ts';
import * as webhookRetention from './migrations/2026_12_02_0009_webhook_retention.ts';
import * as triggerPlanCache from './migrations/2026_12_02_0010_trigger_plan_cache.ts';

const migrations: Record<string, Migration> = {
  '2026_11_21_0001_init': init,
  '2026_11_21_0002_assignment': assignment,
  '2026_11_21_0003_live_events': liveEvents,
  '2026_11_21_0004_customer_events': customerEvents,
  '2026_11_21_0005_ai_drafts': aiDrafts,
  '2026_11_21_0006_webhooks': webhooks,
  '2026_11_21_0007_ticket_counts': ticketCounts,
  '2026_12_02_0008_rate_limits': rateLimits,
  '2026_12_02_0009_webhook_retention': webhookRetention,
  '2026_12_02_0010_trigger_plan_cache': triggerPlanCache,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Brings the database to the latest schema; safe to call from many processes at once. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  // kysely's migrator takes its own lock; the advisory lock also covers
  // callers that create the migration tables at the same moment.
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(7390123)`.execute(conn);
    try {
      const { error, results } = await new Migrator({ db: conn, provider }).migrateToLatest();
      if (error) throw error;
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    } finally {
      await sql`select pg_advisory_unlock(7390123)`.execute(conn);
    }
  });
}
