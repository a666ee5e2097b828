// Sending jobs from the server: always inside the transaction of the write
// that causes them, so a rolled-back write leaves no job and a committed one
// always has its jobs.
import { fromKysely, type PgBoss } from 'pg-boss';
import type { Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';
import type { AssignPayload } from '@relaydesk/worker/jobs/ticket-assign';
import type { QueueName } from '@relaydesk/worker/queues';

export interface JobPayloads {
  'ticket.assign': AssignPayload;
}

export interface Jobs {
  send<Q extends keyof JobPayloads & QueueName>(trx: Transaction<Database>, queue: Q, data: JobPayloads[Q]): Promise<void>;
  /** Auto-assignment is on (AUTO_ASSIGN); when off, agents pull work with tickets.claim. */
  autoAssign: boolean;
  boss: PgBoss;
  /** Resolves once pg-boss is started; retried after a failure. */
  ready(): Promise<void>;
}

export function createJobs(boss: PgBoss, autoAssign: boolean, start: () => Promise<void>): Jobs {
  let starting: Promise<void> | undefined;
  const ready = () => {
    starting ??= start().catch((err) => {
      starting = undefined;
      throw err;
    });
    return starting;
  };
  return {
    boss,
    autoAssign,
    ready,
    async send(trx, queue, data) {
      await ready();
      await boss.send(queue, data, { db: fromKysely(trx) });
    },
  };
}

/** Capacity may have freed up: let the assigner look at the waiting tickets. */
export async function sendAssignDrain(jobs: Jobs, trx: Transaction<Database>, ticketId?: string) {
  if (jobs.autoAssign) await jobs.send(trx, 'ticket.assign', { ticketId, reason: 'capacity' });
}
