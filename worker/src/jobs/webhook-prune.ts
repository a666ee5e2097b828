// webhook.prune: deletes settled webhook deliveries and their attempts older
// than WEBHOOK_LOG_RETENTION_DAYS (the core's webhooks/retention).
// Scheduled hourly by every worker (pg-boss keeps one schedule and sends
// one job per hour, whichever worker's clock claims it).
import { JOB_PAYLOADS } from '@relaydesk/server/core/jobs/catalogue';
import { pruneWebhookLog } from '@relaydesk/server/core/webhooks/retention';
import { defineJob } from '../runner.ts';

/** Minute 17 of every hour: off the hour, when other people's cron jobs pile up. */
export const WEBHOOK_PRUNE_CRON = '17 * * * *';

export function makeWebhookPrune(retentionDays: number) {
  return defineJob({
    queue: 'webhook.prune',
    schema: JOB_PAYLOADS['webhook.prune'],
    async handle({ reason }, ctx) {
      const r = await pruneWebhookLog(ctx.db, { olderThanDays: retentionDays });
      const level = r.deliveries > 0 || !r.done ? 'info' : 'debug';
      ctx.log[level]({ reason, retentionDays, ...r }, r.done ? 'webhook log pruned' : 'webhook log pruned: time budget spent, the rest waits for the next run');
    },
  });
}
