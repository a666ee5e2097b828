// `npm run worker`: one worker process against DATABASE_URL. Run as many as
// the load needs. It has no queues yet: the job backbone adds them.
import { sql } from 'kysely';
import { createDb } from '@relaydesk/db';
import { loadEnv, workerEnv } from '@relaydesk/server/env';
import { createLogger } from '@relaydesk/server/logger';

const env = loadEnv(workerEnv);
const log = createLogger('worker', env.LOG_LEVEL);
const db = createDb(env.DATABASE_URL, {
  max: 2,
  applicationName: 'relaydesk-worker',
  onError: (err) => log.warn({ err }, 'idle database connection lost'),
});

try {
  await sql`select 1`.execute(db);
} catch (err) {
  log.fatal({ err }, 'cannot reach the database');
  console.error(`Worker failed to start: cannot reach DATABASE_URL (${(err as Error).message})`);
  process.exit(1);
}
log.info('worker ready');
process.send?.({ type: 'ready' });
// Nothing to poll yet; keep the process alive until told to stop.
const keepAlive = setInterval(() => {}, 1 << 30);

let stopping = false;
async function shutdown(reason: string) {
  if (stopping) return;
  stopping = true;
  log.info({ reason }, 'shutting down');
  clearInterval(keepAlive);
  await db.destroy();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('disconnect', () => void shutdown('supervisor gone'));
