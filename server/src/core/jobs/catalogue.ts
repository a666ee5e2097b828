// The job catalogue: every queue's name, retry policy and payload schema, and
// its dead-letter queue (`<name>.dead`). Senders (core commands, the webhook
// dispatcher) and handlers (worker/src/jobs) both import it; a payload is
// parsed by its handler first, since jobs outlive code changes.
import type { Queue } from 'pg-boss';
import { z } from 'zod';

export const QUEUE_NAMES = ['ticket.classify', 'ticket.assign', 'ticket.ai-draft', 'webhook.deliver', 'webhook.prune'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const JOB_PAYLOADS = {
  'ticket.assign': z.object({
    /** The ticket that caused this job, for the logs; every job drains the whole backlog. */
    ticketId: z.uuid().optional(),
    reason: z.enum(['created', 'capacity', 'sweep']),
  }),
  'ticket.classify': z.object({ ticketId: z.uuid() }),
  'ticket.ai-draft': z.object({
    ticketId: z.uuid(),
    draftId: z.uuid(),
    /** The agent who asked, for the logs. */
    requestedBy: z.uuid().nullable(),
  }),
  'webhook.deliver': z.object({
    deliveryId: z.uuid(),
    /** The delivery's round: a manual redelivery starts a new one, and jobs of older rounds stand down. */
    generation: z.number().int().min(1),
    /** Sent by webhooks.redeliver. */
    manual: z.boolean().optional(),
  }),
  'webhook.prune': z.object({
    /** Who asked, for the logs: the hourly schedule, or someone by hand. The retention is the worker's WEBHOOK_LOG_RETENTION_DAYS. */
    reason: z.enum(['schedule', 'manual']).default('schedule'),
  }),
} satisfies Record<QueueName, z.ZodType>;

export type JobPayloads = { [Q in QueueName]: z.infer<(typeof JOB_PAYLOADS)[Q]> };
export type AssignPayload = JobPayloads['ticket.assign'];
export type ClassifyPayload = JobPayloads['ticket.classify'];
export type DraftPayload = JobPayloads['ticket.ai-draft'];
export type DeliverPayload = JobPayloads['webhook.deliver'];
export type PrunePayload = JobPayloads['webhook.prune'];

export const deadLetterOf = (q: QueueName) => `${q}.dead`;

type Policy = Omit<Queue, 'name' | 'deadLetter'>;

// `notify`: sending a job also sends a Postgres NOTIFY (in the sender's
// transaction, so at its commit), which wakes a listening worker at once
// instead of at its next poll. Every queue someone waits on has it.
export const QUEUE_POLICIES: Record<QueueName, Policy> = {
  // Cheap, idempotent, and the backlog drains on the next run anyway.
  'ticket.assign': { retryLimit: 10, retryDelay: 1, retryBackoff: true, retryDelayMax: 60, expireInSeconds: 60, notify: true },
  // LLM calls: a few tries, then the built-in classifier has already answered.
  'ticket.classify': { retryLimit: 4, retryDelay: 5, retryBackoff: true, retryDelayMax: 300, expireInSeconds: 120, notify: true },
  'ticket.ai-draft': { retryLimit: 3, retryDelay: 5, retryBackoff: true, retryDelayMax: 300, expireInSeconds: 300, notify: true },
  // Receivers go down for hours: back off to an hour, for about a day. Each
  // job carries the schedule of WEBHOOK_RETRY_* (see webhookRetry), these are the defaults.
  'webhook.deliver': { retryLimit: 30, retryDelay: 10, retryBackoff: true, retryDelayMax: 3600, expireInSeconds: 60, notify: true },
  // Hourly upkeep: a run stops after its time budget (60 s, see
  // webhooks/retention.ts), well inside the expiry; what is left waits for
  // the next hour. A failed run (the database away) is tried again a few times.
  'webhook.prune': { retryLimit: 3, retryDelay: 60, retryBackoff: true, retryDelayMax: 600, expireInSeconds: 300 },
};

/** A webhook job's retry schedule: exponential backoff with jitter (pg-boss: delay × 2^n × (1 + random), capped). */
export interface WebhookRetry {
  retryLimit: number;
  retryDelay: number;
  retryDelayMax: number;
  retryBackoff: true;
}

export function webhookRetry(env: { WEBHOOK_RETRY_LIMIT: number; WEBHOOK_RETRY_DELAY_S: number; WEBHOOK_RETRY_DELAY_MAX_S: number }): WebhookRetry {
  return {
    retryLimit: env.WEBHOOK_RETRY_LIMIT,
    retryDelay: env.WEBHOOK_RETRY_DELAY_S,
    retryDelayMax: Math.max(env.WEBHOOK_RETRY_DELAY_S, env.WEBHOOK_RETRY_DELAY_MAX_S),
    retryBackoff: true,
  };
}

/**
 * The retry schedule of one job: the cap on the delay is spread by up to 20 %
 * per job, so deliveries that failed together (a receiver's outage) do not
 * all come back in the same second once their delays reach the cap.
 */
export function jittered(retry: WebhookRetry): WebhookRetry {
  const cap = Math.floor(retry.retryDelayMax * (0.8 + 0.2 * Math.random()));
  return { ...retry, retryDelayMax: Math.max(retry.retryDelay, cap) };
}

const DEAD_LETTER_POLICY: Policy = { retryLimit: 0, deleteAfterSeconds: 30 * 24 * 3600, retentionSeconds: 30 * 24 * 3600 };

/** Dead letters are kept for inspection; webhook.deliver's are also consumed (the delivery is marked dead), and that is retried. */
export const deadLetterPolicyOf = (q: QueueName): Policy =>
  q === 'webhook.deliver' ? { ...DEAD_LETTER_POLICY, retryLimit: 10, retryDelay: 5, retryBackoff: true, retryDelayMax: 600 } : DEAD_LETTER_POLICY;

