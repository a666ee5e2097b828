// Webhook settings shared by the server (saving endpoints, redelivering) and
// the worker (dispatching, delivering).
import type { z } from 'zod';
import { webhookRetry, type WebhookRetry } from '../jobs/catalogue.ts';
import type { commonEnv } from '../env.ts';

export interface WebhookConfig {
  allowPrivate: boolean;
  retry: WebhookRetry;
  timeoutMs: number;
  /** Seconds of nothing but failures before an endpoint is disabled. */
  disableAfterS: number;
  concurrency: number;
}

/** An endpoint is only disabled after at least this many failed attempts in a row, however long they took. */
export const DISABLE_MIN_FAILURES = 10;

export function webhookConfigFrom(env: z.infer<typeof commonEnv>): WebhookConfig {
  return {
    allowPrivate: env.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
    retry: webhookRetry(env),
    timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    disableAfterS: env.WEBHOOK_DISABLE_AFTER_S,
    concurrency: env.WEBHOOK_CONCURRENCY,
  };
}
