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
import { appendEvents } from '../events/append.ts';
import { RetryLater } from '../errors.ts';

/** Tickets one job assigns at most, so a huge backlog is shared across workers. */
const MAX_PER_JOB = 500;
/** How long a drain waits for a waiting ticket another writer holds. */
const LOCK_WAIT = '2s';
/** Tickets per transaction: one lock round trip for many assignments. */
const BATCH = 50;
// Serialises the choice of agent across workers, so "fewest open tickets" is exact.
const ASSIGN_LOCK = 7390125;

/**
 * Assigns up to `max` waiting tickets, oldest first, each to the least-loaded
 * agent with room at that moment. Returns how many it assigned: fewer than
 * `max` means the backlog is empty, everyone is full, or a waiting ticket
 * was locked by another writer (skipped; with `wait`, waited for instead,
 * up to LOCK_WAIT).
 *
 * A batch is a handful of statements whatever its size: the tickets and the
 * agents that could take them are locked, the choices made here (the same
 * greedy order the database would give one ticket at a time), then one
 * update and one insert of events. Tickets stay locked for milliseconds, not
 * for a round trip per ticket, so a classification waiting on one is not held up.
 */
export async function assignWaiting(trx: Transaction<Database>, max: number, opts: { wait?: boolean } = {}): Promise<number> {
  let waited: { id: string }[] = [];
  if (opts.wait) {
    // The oldest waiting ticket, waited for (up to LOCK_WAIT) before the
    // assigners' lock is taken, so no other drain waits behind this one.
    await sql.raw(`set local lock_timeout = '${LOCK_WAIT}'`).execute(trx);
    waited = await waitingTickets(trx, 1).execute();
    if (waited.length === 0) return 0;
  }
  await sql.raw(`set local lock_timeout = 0`).execute(trx);
  await sql`select pg_advisory_xact_lock(${ASSIGN_LOCK})`.execute(trx);
  // Agents' rows are waited for with a bound: a writer holding one for long
  // must not hold every assigner (and the tickets locked here) with it.
  await sql.raw(`set local lock_timeout = '${LOCK_WAIT}'`).execute(trx);
  const tickets = opts.wait ? waited : await waitingTickets(trx, max).skipLocked().execute();
  if (tickets.length === 0) return 0;
  // Greedy picks for n tickets come from the first n agents by load: an agent
  // is passed over only for one ranked before it, and each pick takes one.
  const ranked = await trx
    .selectFrom('users')
    .select('id')
    .where('role', '=', 'agent')
    .where('active', '=', true)
    .whereRef('open_tickets', '<', 'capacity')
    .orderBy('open_tickets')
    .orderBy(sql`last_assigned_at asc nulls first`)
    .orderBy('id')
    .limit(tickets.length)
    .execute();
  if (ranked.length === 0) return 0; // everyone is full: the rest wait for the next drain
  // Locked in id order, as every path locks users, and read again under the lock.
  const { rows: agents } = await sql<{ id: string; open_tickets: number; capacity: number; last_assigned_us: number | null }>`
    select id, open_tickets, capacity, (extract(epoch from last_assigned_at) * 1000000)::bigint as last_assigned_us
      from users where id = any(${ranked.map((a) => a.id)}::uuid[]) and role = 'agent' and active
     order by id for no key update`.execute(trx);
  const plan = pickAgents(
    tickets.map((t) => t.id),
    agents.map((a) => ({ id: a.id, open: a.open_tickets, capacity: a.capacity, lastAssigned: a.last_assigned_us })),
  );
  if (plan.length === 0) return 0;
  const { rows } = await sql<{ id: string; version: number; assignee_id: string }>`
    update tickets t set assignee_id = p.agent, version = t.version + 1, updated_at = now()
      from unnest(${plan.map((p) => p.ticket)}::uuid[], ${plan.map((p) => p.agent)}::uuid[]) as p(ticket, agent)
     where t.id = p.ticket
    returning t.id, t.version, t.assignee_id`.execute(trx);
  const assigned = new Map(rows.map((r) => [r.id, r]));
  await appendEvents(
    trx,
    plan.map(({ ticket }) => {
      const row = assigned.get(ticket)!;
      return {
        type: 'ticket.assigned' as const,
        ticketId: ticket,
        actor: { type: 'worker' as const, id: null },
        data: { from: null, to: row.assignee_id, reason: 'auto' as const, version: row.version },
      };
    }),
  );
  return plan.length;
}

export interface Candidate {
  id: string;
  open: number;
  capacity: number;
  /** When last assigned, as a number that orders like the timestamp (µs since the epoch); null: never (goes first among equals). */
  lastAssigned: number | null;
}

/** The oldest open, unassigned tickets, to lock. */
function waitingTickets(trx: Transaction<Database>, limit: number) {
  return trx
    .selectFrom('tickets')
    .select(['id'])
    .where('assignee_id', 'is', null)
    .where('status', '=', 'open')
    .orderBy('id')
    .limit(limit)
    .forUpdate();
}

/**
 * Gives each ticket, in order, to the candidate with the fewest open tickets
 * (ties: idle longest, then by id), counting the tickets given so far; an
 * agent just given one counts as the most recently assigned. Stops when
 * nobody has room.
 */
export function pickAgents(ticketIds: string[], candidates: Candidate[]): { ticket: string; agent: string }[] {
  const pool = candidates.map((c) => ({ ...c, last: c.lastAssigned ?? -Infinity }));
  const before = (a: (typeof pool)[number], b: (typeof pool)[number]) =>
    a.open !== b.open ? a.open < b.open : a.last !== b.last ? a.last < b.last : a.id < b.id;
  const plan: { ticket: string; agent: string }[] = [];
  for (const ticket of ticketIds) {
    let best: (typeof pool)[number] | undefined;
    for (const a of pool) if (a.open < a.capacity && (!best || before(a, best))) best = a;
    if (!best) break;
    plan.push({ ticket, agent: best.id });
    best.open++;
    best.last = Number.MAX_SAFE_INTEGER; // assigned now: after everyone not yet assigned in this batch
  }
  return plan;
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
  try {
    for (let round = 0; round < MAX_PER_JOB / BATCH; round++) {
      const assigned = await db.transaction().execute(async (trx) => {
        const n = await assignWaiting(trx, BATCH);
        if (holdMs > 0 && n > 0) await new Promise((r) => setTimeout(r, holdMs));
        return n;
      });
      if (assigned === BATCH) continue;
      if (!(await hasAssignableWork(db))) return;
      // Work is left that this batch could not take: a waiting ticket another
      // writer holds (its classification, an edit: milliseconds, usually).
      // Wait for the oldest such ticket, briefly; one held longer is left to
      // the next drain or the minute's sweep, and nothing else waits on it.
      try {
        if ((await db.transaction().execute((trx) => assignWaiting(trx, 1, { wait: true }))) === 0) return;
      } catch (err) {
        if ((err as { code?: string }).code === '55P03') return;
        throw err;
      }
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    // Two writers locking the same rows in another order (Postgres broke the
    // tie), or an agent's row held past LOCK_WAIT: try again shortly.
    if (code === '40P01' || code === '55P03') throw new RetryLater('another writer holds what this drain needs; assigning shortly');
    throw err;
  }
}
