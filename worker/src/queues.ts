// The queues of DESIGN.md, each with its retry policy and a dead-letter queue
// (`<name>.dead`). Shared by the server (which sends) and the worker (which runs).
import { PgBoss, type Queue } from 'pg-boss';

export const QUEUE_NAMES = ['ticket.classify', 'ticket.assign', 'ticket.ai-draft', 'webhook.deliver'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const deadLetterOf = (q: QueueName) => `${q}.dead`;

type Policy = Omit<Queue, 'name' | 'deadLetter'>;

export const QUEUE_POLICIES: Record<QueueName, Policy> = {
  // Cheap, idempotent, and the backlog drains on the next run anyway.
  'ticket.assign': { retryLimit: 10, retryDelay: 1, retryBackoff: true, retryDelayMax: 60, expireInSeconds: 60 },
  // LLM calls: a few tries, then the built-in classifier has already answered.
  'ticket.classify': { retryLimit: 4, retryDelay: 5, retryBackoff: true, retryDelayMax: 300, expireInSeconds: 120 },
  'ticket.ai-draft': { retryLimit: 3, retryDelay: 5, retryBackoff: true, retryDelayMax: 300, expireInSeconds: 300 },
  // Receivers go down for hours: back off to an hour, for about a day. Each
  // job carries the schedule of WEBHOOK_RETRY_* (see webhookRetry), these are the defaults.
  'webhook.deliver': { retryLimit: 30, retryDelay: 10, retryBackoff: true, retryDelayMax: 3600, expireInSeconds: 60 },
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
const deadLetterPolicyOf = (q: QueueName): Policy =>
  q === 'webhook.deliver' ? { ...DEAD_LETTER_POLICY, retryLimit: 10, retryDelay: 5, retryBackoff: true, retryDelayMax: 600 } : DEAD_LETTER_POLICY;

export interface BossOptions {
  /** Connections pg-boss may hold. Default 4. */
  max?: number;
  applicationName?: string;
  /** Run pg-boss maintenance (expiry, retention) from this instance. Workers do; the server doesn't. */
  supervise?: boolean;
  /** How often expired jobs are found and retried, in seconds. Default 10. */
  superviseIntervalSeconds?: number;
}

export function createBoss(url: string, opts: BossOptions = {}): PgBoss {
  return new PgBoss({
    connectionString: url,
    schema: 'pgboss',
    max: opts.max ?? 4,
    application_name: opts.applicationName ?? 'relaydesk-boss',
    supervise: opts.supervise ?? false,
    schedule: opts.supervise ?? false,
    superviseIntervalSeconds: opts.superviseIntervalSeconds ?? 10,
    // Expired jobs (a worker killed mid-job) are found by the monitor pass: keep it as frequent.
    monitorIntervalSeconds: opts.superviseIntervalSeconds ?? 10,
  });
}

/** Creates (or brings up to date) every queue and its dead-letter queue. */
export async function ensureQueues(boss: PgBoss): Promise<void> {
  const existing = new Set((await boss.getQueues()).map((q) => q.name));
  // Several processes may boot at once on a new database: losing the race to
  // create a queue is fine as long as it exists afterwards.
  const create = async (name: string, options: Omit<Queue, 'name'>) => {
    try {
      await boss.createQueue(name, options);
    } catch (err) {
      if (!(await boss.getQueue(name))) throw err;
    }
  };
  for (const name of QUEUE_NAMES) {
    const dead = deadLetterOf(name);
    if (existing.has(dead)) await boss.updateQueue(dead, deadLetterPolicyOf(name));
    else await create(dead, deadLetterPolicyOf(name));
    const policy = QUEUE_POLICIES[name];
    if (existing.has(name)) await boss.updateQueue(name, policy);
    else await create(name, { ...policy, deadLetter: dead });
  }
}

/** Installs pg-boss's schema and the queues (migrations, tests' template). */
export async function installQueues(url: string): Promise<void> {
  const boss = createBoss(url, { max: 1, applicationName: 'relaydesk-install' });
  boss.on('error', () => {});
  await boss.start();
  try {
    await ensureQueues(boss);
  } finally {
    await boss.stop({ graceful: false, close: true });
  }
}
