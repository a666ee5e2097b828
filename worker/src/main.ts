// `npm run worker`: one worker process against DATABASE_URL. Run as many as
// the load needs: they share every queue through pg-boss (SKIP LOCKED), and
// each job's effect happens once.
import { createDb } from '@relaydesk/db';
import { loadEnv, workerEnv } from '@relaydesk/server/core/env';
import { startSequencer } from '@relaydesk/server/core/events/sequencer';
import { brief, createLogger } from '@relaydesk/server/core/logger';
import { builtinClassifier } from '@relaydesk/server/core/ai/classifier';
import { createAiContext } from '@relaydesk/server/core/ai/context';
import { makeTicketAiDraft } from './jobs/ticket-ai-draft.ts';
import { ticketAssign } from './jobs/ticket-assign.ts';
import { makeTicketClassify } from './jobs/ticket-classify.ts';
import { makeWebhookDeliver, runWebhookDeadLetters } from './jobs/webhook-deliver.ts';
import { makeWebhookPrune, WEBHOOK_PRUNE_CRON } from './jobs/webhook-prune.ts';
import { webhookConfigFrom } from '@relaydesk/server/core/webhooks/config';
import { startMaintenance } from './maintenance.ts';
import { startDispatcher } from './webhook-dispatch.ts';
import { createBoss, ensureQueues } from '@relaydesk/server/core/jobs/boss';
import { runJobs } from './runner.ts';
import { startWorkerMetrics, workerMetrics } from './metrics.ts';

const env = loadEnv(workerEnv);
const log = createLogger('worker', env.LOG_LEVEL);
const db = createDb(env.DATABASE_URL, {
  max: env.DB_POOL_SIZE,
  applicationName: 'relaydesk-worker',
  preparedStatements: env.DB_PREPARED_STATEMENTS,
  onError: (err) => log.warn({ err: brief(err) }, 'idle database connection lost'),
});
const boss = createBoss(env.DATABASE_URL, { max: 4, applicationName: 'relaydesk-worker-boss', supervise: true, listen: env.JOBS_LISTEN_NOTIFY });
// pg-boss reports lost connections here and keeps retrying; it must not crash the process.
boss.on('error', (err) => log.warn({ err: brief(err) }, 'pg-boss error'));
boss.on('warning', (w: { message: string; data?: { type?: string } }) => {
  if (w.data?.type === 'listen_notify_unavailable') log.warn({ warning: w }, 'job pickup: LISTEN unavailable, polling every 0.5 s');
  else log.warn({ warning: w }, 'pg-boss warning');
});

try {
  await boss.start();
  await ensureQueues(boss);
} catch (err) {
  log.fatal({ err }, 'cannot start the job system');
  console.error(`Worker failed to start: ${(err as Error).message}`);
  process.exit(1);
}

const metrics = workerMetrics();
const onSettled = metrics.onSettled;
if (env.AUTO_ASSIGN) {
  // Every assignment job is a drain of the whole backlog: one drain answers
  // all the jobs fetched with it, however many tickets sent them.
  await runJobs(boss, db, log, ticketAssign, { onSettled, collapse: true, batchSize: 100 });
  // The backstop: waiting tickets get assigned even if a drain was never sent.
  await boss.schedule('ticket.assign', '* * * * *', { reason: 'sweep' });
} else {
  await boss.unschedule('ticket.assign').catch(() => {});
}
// AI jobs: LLM calls wait on the network, not the CPU, so a batch runs in
// parallel. One breaker per process: after Groq fails, jobs answer from the
// built-in fallback at once for a while instead of each waiting out a timeout.
const ai = createAiContext(env, db);
if (env.AI_CLASSIFY !== 'off') {
  const trained = performance.now();
  const model = builtinClassifier();
  log.info({ tickets: model.trainedOn, features: model.vocabularySize, ms: Math.round(performance.now() - trained) }, 'built-in classifier trained');
}
await runJobs(boss, db, log, makeTicketClassify(ai), { onSettled, batchSize: 10 });
await runJobs(boss, db, log, makeTicketAiDraft(ai), { onSettled, batchSize: 4 });
// Webhooks: deliveries wait on receivers. Small batches on parallel fetch
// loops: a batch is fetched again only when all of it is done, so a receiver
// that times out holds up only its own batch of 5, not all of them.
const webhooks = webhookConfigFrom(env);
await runJobs(boss, db, log, makeWebhookDeliver(webhooks), {
  onSettled,
  batchSize: Math.min(5, webhooks.concurrency),
  localConcurrency: Math.ceil(webhooks.concurrency / 5),
});
await runWebhookDeadLetters(boss, db, log);
// Retention of the delivery log: one schedule for all workers (pg-boss keeps
// it in one row, rewritten by each boot), one job an hour. `missed: 'once'`:
// an hour with no worker up is made up for once, when one starts.
await runJobs(boss, db, log, makeWebhookPrune(env.WEBHOOK_LOG_RETENTION_DAYS), { onSettled, batchSize: 1, pollingIntervalSeconds: 5 });
await boss.schedule('webhook.prune', WEBHOOK_PRUNE_CRON, { reason: 'schedule' }, { missed: 'once' });
const dispatcher = startDispatcher({ db, boss, retry: webhooks.retry, log });
// Workers take part in the election for the event-log sequencer too: the log
// keeps moving (and webhooks flowing) with no server running.
const sequencer = startSequencer({ db, connectionString: env.DATABASE_URL, log });
const maintenance = startMaintenance({ db, log });
const metricsServer = env.WORKER_METRICS_PORT !== undefined ? await startWorkerMetrics(metrics, env.WORKER_METRICS_PORT, log) : undefined;

log.info({ autoAssign: env.AUTO_ASSIGN, llm: ai.config.apiKey ? ai.config.model : null }, 'worker ready');
process.send?.({ type: 'ready' });

let stopping = false;
async function shutdown(reason: string) {
  if (stopping) return;
  stopping = true;
  log.info({ reason }, 'shutting down: finishing jobs in flight');
  // Graceful: stop fetching, let handlers finish (bounded), then close.
  await dispatcher.stop();
  await maintenance.stop();
  await boss.stop({ graceful: true, timeout: 20_000 }).catch((err) => log.warn({ err }, 'pg-boss stop'));
  metricsServer?.close();
  await sequencer.stop();
  await db.destroy();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('disconnect', () => void shutdown('supervisor gone'));
