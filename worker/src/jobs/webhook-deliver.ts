// webhook.deliver: one attempt to POST one event to one endpoint (see the
// core's webhooks/deliver.ts); its dead-letter queue's consumer marks a
// delivery dead when pg-boss gave up on it without the handler settling it.
import type { Kysely } from 'kysely';
import type { PgBoss } from 'pg-boss';
import type { Database } from '@relaydesk/db';
import { deadLetterOf, JOB_PAYLOADS } from '@relaydesk/server/core/jobs/catalogue';
import type { Logger } from '@relaydesk/server/core/logger';
import type { WebhookConfig } from '@relaydesk/server/core/webhooks/config';
import { deliverOnce, markDead } from '@relaydesk/server/core/webhooks/deliver';
import { defineJob } from '../runner.ts';

const deliverPayload = JOB_PAYLOADS['webhook.deliver'];

export function makeWebhookDeliver(config: WebhookConfig) {
  return defineJob({
    queue: 'webhook.deliver',
    schema: deliverPayload,
    // A failed attempt is recorded, then thrown as RetryLater: retried on the job's schedule.
    handle: (data, ctx) => deliverOnce(ctx.db, config, ctx.log, data, { lastAttempt: ctx.lastAttempt }),
  });
}

/**
 * The dead-letter queue's consumer: a job that pg-boss gave up on without
 * the handler settling it (a worker killed during the last attempt, an
 * expired job) still ends as a dead delivery in the log.
 */
export async function runWebhookDeadLetters(boss: PgBoss, db: Kysely<Database>, log: Logger): Promise<void> {
  await boss.work(deadLetterOf('webhook.deliver'), { batchSize: 50, pollingIntervalSeconds: 5 }, async (jobs) => {
    for (const job of jobs) {
      const parsed = deliverPayload.safeParse(job.data);
      if (!parsed.success) continue;
      if (await markDead(db, parsed.data, 'gave up: the last attempt never finished (worker stopped or timed out)', true)) {
        log.warn({ deliveryId: parsed.data.deliveryId }, 'webhook delivery dead-lettered');
      }
    }
  });
}
