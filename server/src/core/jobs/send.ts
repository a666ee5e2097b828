// Sending jobs from core commands: always inside the transaction of the write
// that causes them, so a rolled-back write leaves no job and a committed one
// always has its jobs.
import { fromKysely, type PgBoss, type SendOptions } from 'pg-boss';
import type { Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';
import type { AssignPayload, JobPayloads, QueueName } from './catalogue.ts';

export interface Jobs {
  send<Q extends QueueName>(trx: Transaction<Database>, queue: Q, data: JobPayloads[Q], options?: SendOptions): Promise<void>;
  /** Auto-assignment is on (AUTO_ASSIGN); when off, agents pull work with tickets.claim. */
  autoAssign: boolean;
  /** New tickets without category or priority are classified in the background (AI_CLASSIFY is not off). */
  classify: boolean;
  /**
   * Set when no LLM classifies (AI_CLASSIFY=builtin, or auto without
   * GROQ_API_KEY): the built-in model, a fraction of a millisecond and unable
   * to fail, classifies a new ticket inside its create transaction instead of
   * a job, which saves the job's three commits and a second write of the
   * ticket row. `reason` is why, as its `ticket.classified` event gives it.
   */
  classifyInline?: { reason: string };
  boss: PgBoss;
  /** Resolves once pg-boss is started; retried after a failure. */
  ready(): Promise<void>;
}

export function createJobs(
  boss: PgBoss,
  autoAssign: boolean,
  start: () => Promise<void>,
  opts: { classify?: boolean; classifyInline?: { reason: string } } = {},
): Jobs {
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
    classify: opts.classify ?? false,
    ...(opts.classify && opts.classifyInline ? { classifyInline: opts.classifyInline } : {}),
    ready,
    async send(trx, queue, data, options = {}) {
      await ready();
      await boss.send(queue, data, { ...options, db: fromKysely(trx) });
    },
  };
}

/**
 * Lets the assigner look at the waiting tickets: a ticket was created, or
 * capacity may have freed up. The one place that honours AUTO_ASSIGN.
 */
export async function sendAssignDrain(jobs: Jobs, trx: Transaction<Database>, ticketId?: string, reason: AssignPayload['reason'] = 'capacity') {
  if (jobs.autoAssign) await jobs.send(trx, 'ticket.assign', { ticketId, reason });
}

type Holding = { status: string; assignee_id: string | null };
const closed = (s: string) => s === 'resolved' || s === 'closed';
/** An open ticket left its assignee (resolved, closed, reassigned, deleted): a slot freed. */
const freesSlot = (before: Holding, after: Holding | null) =>
  before.assignee_id !== null && !closed(before.status) && (after === null || closed(after.status) || after.assignee_id !== before.assignee_id);
/** A ticket (re)joined the queue of open, unassigned tickets. */
const joinsQueue = (before: Holding, after: Holding) =>
  after.status === 'open' && after.assignee_id === null && (before.status !== 'open' || before.assignee_id !== null);

/** After a ticket changed from `before` to `after` (null: deleted): wake the assigner if a slot freed or a ticket now waits. */
export async function afterHoldingChange(jobs: Jobs, trx: Transaction<Database>, ticketId: string, before: Holding, after: Holding | null) {
  if (freesSlot(before, after) || (after && joinsQueue(before, after))) await sendAssignDrain(jobs, trx, ticketId);
}
