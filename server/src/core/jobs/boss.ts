// pg-boss for every process: one way to construct it, and to create (or
// bring up to date) the queues of the catalogue.
import { PgBoss, type Queue } from 'pg-boss';
import { deadLetterOf, deadLetterPolicyOf, QUEUE_NAMES, QUEUE_POLICIES } from './catalogue.ts';

export interface BossOptions {
  /** Connections pg-boss may hold. Default 4. */
  max?: number;
  applicationName?: string;
  /** Run pg-boss maintenance (expiry, retention) from this instance. Workers do; the server doesn't. */
  supervise?: boolean;
  /** How often expired jobs are found and retried, in seconds. Default 10. */
  superviseIntervalSeconds?: number;
  /**
   * Hold a LISTEN connection so workers of `notify` queues wake when a job is
   * sent (workers only: senders just NOTIFY). When it cannot be set up,
   * pg-boss warns and the workers poll; a lost one is reconnected with backoff.
   */
  listen?: boolean;
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
    useListenNotify: opts.listen ?? false,
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
