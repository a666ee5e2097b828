// `npm run server`: one API server process against DATABASE_URL.
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createDb } from '@relaydesk/db';
import { createBoss, ensureQueues } from '../core/jobs/boss.ts';
import { createAiContext } from '../core/ai/context.ts';
import { builtinClassifier } from '../core/ai/classifier.ts';
import { llmUnavailable } from '../core/ai/classify.ts';
import { createApp } from './app.ts';
import { EventHub } from './events/hub.ts';
import { startSequencer } from '../core/events/sequencer.ts';
import { createJobs } from '../core/jobs/send.ts';
import { loadEnv, serverEnv } from '../core/env.ts';
import { brief, createLogger } from '../core/logger.ts';
import { webhookConfigFrom } from '../core/webhooks/config.ts';
import { announceFirstAdmin, keepEnsuringFirstAdmin } from '../core/users/bootstrap.ts';
import { TokenCache } from '../core/users/token-cache.ts';

const env = loadEnv(serverEnv);
const log = createLogger('server', env.LOG_LEVEL);
const db = createDb(env.DATABASE_URL, {
  max: env.DB_POOL_SIZE,
  applicationName: 'relaydesk-server',
  preparedStatements: env.DB_PREPARED_STATEMENTS,
  // Requests are bounded by REQUEST_TIMEOUT_MS: so are their statements.
  statementTimeoutMs: env.REQUEST_TIMEOUT_MS,
  onError: (err) => log.warn({ err: brief(err) }, 'idle database connection lost'),
});

const ai = createAiContext(env, db);
// Without an LLM for classification, the server classifies as it creates; the workers then have nothing to classify.
const inlineReason = llmUnavailable(ai.config, 'classify');
// The server only sends jobs and reads queue stats: workers run maintenance.
const boss = createBoss(env.DATABASE_URL, { max: 2, applicationName: 'relaydesk-server-boss', supervise: false });
boss.on('error', (err) => log.warn({ err: brief(err) }, 'pg-boss error'));
const jobs = createJobs(
  boss,
  env.AUTO_ASSIGN,
  async () => {
    await boss.start();
    await ensureQueues(boss);
  },
  { classify: env.AI_CLASSIFY !== 'off', classifyInline: inlineReason ? { reason: inlineReason } : undefined },
);
if (env.AI_CLASSIFY === 'off') log.info('classification: off (AI_CLASSIFY=off)');
else if (inlineReason) log.info({ reason: inlineReason }, 'classification: the built-in model, in the create transaction');
else log.info('classification: the LLM, as ticket.classify jobs');
// Trained now (a fraction of a second), so the first suggestion or ticket does not wait for it.
if (env.AI_SUGGEST !== 'off' || env.AI_CLASSIFY !== 'off') builtinClassifier();
// Started now when the database answers; otherwise on the first send, so a
// server booted during a database outage recovers by itself.
await jobs.ready().catch((err) => log.warn({ err: brief(err) }, 'pg-boss could not start yet; retrying on first use'));

// The first boot of an empty database creates the first admin (whichever
// process boots first: exactly one does). A database that is down or not yet
// migrated (`npm run migrate`; the image's migrate service) does not stop the
// server: the attempt is retried in the background until it succeeds.
const firstAdmin = keepEnsuringFirstAdmin(
  db,
  { dataDir: path.resolve(env.RELAYDESK_DATA_DIR), email: env.RELAYDESK_ADMIN_EMAIL, password: env.RELAYDESK_ADMIN_PASSWORD },
  {
    log,
    onCreated: (admin) => announceFirstAdmin(admin, (line) => console.log(`[relaydesk] ${line}`)),
  },
);
await firstAdmin.ready;

// Every server tails the event log for its own subscribers; one process in
// the deployment (server or worker) is elected to sequence it.
// Bearer tokens answered from memory; the hub's LISTEN keeps the cache current.
const tokens = new TokenCache(env.AUTH_CACHE_TTL_MS);
const hub = new EventHub({ db, connectionString: env.DATABASE_URL, log, tokens });
hub.start();
const sequencer = startSequencer({ db, connectionString: env.DATABASE_URL, log });

const app = createApp({
  db,
  log,
  jobs,
  metricsToken: env.METRICS_TOKEN,
  hub,
  tokens,
  ai,
  webhooks: webhookConfigFrom(env),
  streamLimits: { maxBuffered: env.EVENTS_SUBSCRIBER_BUFFER, stuckMs: env.EVENTS_SUBSCRIBER_STUCK_MS, perToken: env.EVENTS_STREAMS_PER_TOKEN },
  http: { logRequests: env.LOG_REQUESTS, requestTimeoutMs: env.REQUEST_TIMEOUT_MS, corsOrigins: env.CORS_ORIGINS, trustProxy: env.TRUST_PROXY },
});
const server = app.listen(env.PORT, env.HOST);
server.on('error', (err: NodeJS.ErrnoException) => {
  const why = err.code === 'EADDRINUSE' ? `port ${env.PORT} on ${env.HOST} is already in use; set PORT to a free port` : err.message;
  log.fatal({ err }, why);
  console.error(`Server failed to start: ${why}`);
  process.exit(1);
});
server.on('listening', () => {
  const { port } = server.address() as AddressInfo;
  const url = `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${port}`;
  log.info({ url }, 'server listening');
  process.send?.({ type: 'listening', url, port });
});

let stopping = false;
async function shutdown(reason: string) {
  if (stopping) return;
  stopping = true;
  log.info({ reason }, 'shutting down');
  firstAdmin.stop();
  // Stop accepting, let in-flight requests finish (bounded), then close the pool.
  const force = setTimeout(() => server.closeAllConnections(), 10_000);
  force.unref();
  // Open event streams end with a code clients retry: they resume on another server.
  await hub.stop(new Error('the server is shutting down; reconnect with lastEventId to resume'));
  server.close();
  server.closeIdleConnections();
  await new Promise((r) => server.once('close', r));
  await sequencer.stop();
  await boss.stop({ graceful: false, close: true }).catch(() => {});
  await db.destroy();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
// Started by `npm start`: if the supervisor dies, do not outlive it.
process.on('disconnect', () => void shutdown('supervisor gone'));
