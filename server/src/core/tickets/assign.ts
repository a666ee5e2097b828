// Auto-assignment: gives waiting tickets, oldest first, to the active agent
// under capacity with the fewest open tickets (ties: idle longest).
//
// Every drain assigns as many waiting tickets as capacity allows, so a new
// ticket never jumps the queue, and any drain sent when capacity frees (a
// resolve, a capacity change, a new agent) or by the minute-by-minute sweep
// assigns what has been waiting. Idempotent by construction: a ticket is
// taken only while unassigned, under its row lock.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';
import { appendEvent } from '../events/append.ts';

/** Tickets one job assigns at most, so a huge backlog is shared across workers. */
const MAX_PER_JOB = 500;
/** Short waits for tickets that were locked when the job looked. */
const LOOK_AGAIN = 5;
/** Tickets per transaction: one lock round trip for many assignments. */
const BATCH = 50;
// Serialises the choice of agent across workers, so "fewest open tickets" is exact.
const ASSIGN_LOCK = 7390125;

/**
 * Assigns up to `max` waiting tickets, oldest first, each to the least-loaded
 * agent with room at that moment. Returns how many it assigned: fewer than
 * `max` means the backlog is empty or everyone is full.
 */
export async function assignWaiting(trx: Transaction<Database>, max: number): Promise<number> {
  await sql`select pg_advisory_xact_lock(${ASSIGN_LOCK})`.execute(trx);
  const tickets = await trx
    .selectFrom('tickets')
    .select(['id'])
    .where('assignee_id', 'is', null)
    .where('status', '=', 'open')
    .orderBy('id')
    .limit(max)
    .forUpdate()
    .skipLocked()
    .execute();
  let assigned = 0;
  for (const ticket of tickets) {
    const agent = await trx
      .selectFrom('users')
      .select('id')
      .where('role', '=', 'agent')
      .where('active', '=', true)
      .whereRef('open_tickets', '<', 'capacity')
      .orderBy('open_tickets')
      .orderBy(sql`last_assigned_at asc nulls first`)
      .orderBy('id')
      .limit(1)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (!agent) break; // everyone is full: the rest wait for the next drain
    const updated = await trx
      .updateTable('tickets')
      .set({ assignee_id: agent.id, version: sql`version + 1`, updated_at: sql`now()` })
      .where('id', '=', ticket.id)
      .returning(['version'])
      .executeTakeFirstOrThrow();
    await appendEvent(trx, {
      type: 'ticket.assigned',
      ticketId: ticket.id,
      actor: { type: 'worker', id: null },
      data: { from: null, to: agent.id, reason: 'auto', version: updated.version },
    });
    assigned++;
  }
  return assigned;
}

export async function hasAssignableWork(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ work: boolean }>`
    select exists (select 1 from tickets where assignee_id is null and status = 'open')
       and exists (select 1 from users where role = 'agent' and active and open_tickets < capacity) as work`.execute(db);
  return rows[0]!.work;
}

/**
 * One drain: assigns the backlog in transactions of BATCH tickets, up to
 * MAX_PER_JOB. `hold` lets a test keep a transaction open (a worker killed
 * in the middle of a drain).
 */
export async function drainAssignments(db: Kysely<Database>, opts: { holdMs?: number } = {}): Promise<void> {
  // Most drains find nothing to do (the backlog is empty, or everyone is
  // full): answer that with one indexed read, without the lock that
  // serialises assigners.
  if (!(await hasAssignableWork(db))) return;
  const holdMs = opts.holdMs ?? 0;
  let lookAgain = LOOK_AGAIN;
  for (let round = 0; round < MAX_PER_JOB / BATCH; round++) {
    const assigned = await db.transaction().execute(async (trx) => {
      const n = await assignWaiting(trx, BATCH);
      if (holdMs > 0 && n > 0) await new Promise((r) => setTimeout(r, holdMs));
      return n;
    });
    if (assigned === BATCH) continue;
    // A waiting ticket locked by another writer at that instant (its
    // classification, an edit) was skipped: such locks last milliseconds,
    // so look again shortly rather than leave it for the next sweep.
    if (lookAgain-- > 0 && (await hasAssignableWork(db))) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    return;
  }
}
