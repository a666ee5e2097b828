// `npm run migrate`: applies migrations to DATABASE_URL (from the
// environment, or ./.env) and installs the job queues (pg-boss schema `pgboss`).
import { createDb, migrateToLatest } from '@relaydesk/db';
import { loadDotEnv } from '@relaydesk/server/core/env';
import { installQueues } from '@relaydesk/server/core/jobs/boss';

loadDotEnv();
const url = process.env.DATABASE_URL;
if (!url) {
  console.error('DATABASE_URL is not set: `npm run migrate` needs the Postgres to migrate (npm start migrates its embedded one itself)');
  process.exit(1);
}
const db = createDb(url, { max: 1, applicationName: 'relaydesk-migrate' });
try {
  const applied = await migrateToLatest(db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
  await installQueues(url);
  console.log('job queues ready');
} catch (err) {
  console.error(`migration failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
