// queues.stats: job counts per queue and its dead letters.
import { z } from 'zod';
import { deadLetterOf, QUEUE_NAMES, type QueueName } from './catalogue.ts';
import type { Jobs } from './send.ts';

const n = z.number().int();
export const queueStatsOutput = z.array(z.object({ name: z.enum(QUEUE_NAMES), queued: n, active: n, completed: n, failed: n, deadLettered: n }));

export interface QueueCounts {
  name: QueueName;
  queued: number;
  active: number;
  completed: number;
  failed: number;
  deadLettered: number;
}

/**
 * Job counts per queue from pg-boss's own counters (kept by the workers'
 * monitor pass, so up to ~10 s behind): reading them costs nothing, where
 * counting the job table would scan days of completed jobs on every call.
 */
export async function queueCounts(jobs: Jobs): Promise<QueueCounts[]> {
  await jobs.ready();
  const byName = new Map((await jobs.boss.getQueues()).map((q) => [q.name, q]));
  return QUEUE_NAMES.map((name) => {
    const q = byName.get(name);
    const queued = q?.queuedCount ?? 0;
    const active = q?.activeCount ?? 0;
    const failed = q?.failedCount ?? 0;
    return {
      name,
      queued,
      active,
      failed,
      completed: Math.max(0, (q?.totalCount ?? 0) - queued - active - failed),
      deadLettered: byName.get(deadLetterOf(name))?.totalCount ?? 0,
    };
  });
}
