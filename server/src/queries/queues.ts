import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { deadLetterOf, QUEUE_NAMES, type QueueName } from '@relaydesk/worker/queues';

export interface QueueCounts {
  name: QueueName;
  queued: number;
  active: number;
  completed: number;
  failed: number;
  deadLettered: number;
}

/** Job counts per queue, straight from pg-boss's job table (what is retained of it). */
export async function queueCounts(db: Kysely<Database>): Promise<QueueCounts[]> {
  const { rows } = await sql<{ name: string; state: string; n: number }>`
    select name, state, count(*)::int as n from pgboss.job group by name, state`.execute(db);
  const count = (name: string, states: string[]) =>
    rows.filter((r) => r.name === name && states.includes(r.state)).reduce((a, r) => a + r.n, 0);
  return QUEUE_NAMES.map((name) => ({
    name,
    queued: count(name, ['created', 'retry']),
    active: count(name, ['active']),
    completed: count(name, ['completed']),
    failed: count(name, ['failed']),
    deadLettered: count(deadLetterOf(name), ['created', 'retry', 'active', 'completed', 'failed']),
  }));
}
