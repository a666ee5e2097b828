// tickets.claim: an agent tops up their own queue from the unassigned tickets.
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import { appendEvents } from '../events/append.ts';
import { atomically } from '../transaction.ts';
import { ticketColumns } from './queries.ts';
import { ticketDto, type TicketOutput, type TicketRow } from './schemas.ts';

/**
 * Tops the agent's open assigned tickets up to `limit` (and never past their
 * capacity) from the unassigned ones, oldest first, and returns all of the
 * agent's open tickets, oldest first, with how many were new.
 *
 * The agent's row is locked first (a second claim by the same agent waits,
 * then sees the new count), then one statement takes exactly the missing
 * number of tickets with SKIP LOCKED — so concurrent claimers never wait on
 * each other's tickets, never share one, and never hold a ticket they don't
 * take — and returns the batch. The limit is a constant in that statement, so
 * the planner walks the unassigned index for a handful of rows instead of
 * sorting the backlog. The open-tickets trigger still refuses anything past
 * capacity. The assignment events go through appendEvents like every other
 * event, so they carry the same audience (the requester sees their ticket taken).
 */
export async function claimTickets(db: Kysely<Database>, user: SessionUser, limit: number): Promise<{ items: TicketOutput[]; claimed: number }> {
  const cols = sql.raw(ticketColumns.join(', '));
  return atomically(db, async (trx) => {
    const me = await trx
      .selectFrom('users')
      .select(['capacity', 'open_tickets', 'active', 'role'])
      .where('id', '=', user.id)
      .forNoKeyUpdate()
      .executeTakeFirstOrThrow();
    // Checked again under the lock: a deactivation may have committed since the token was.
    if (!me.active || me.role !== 'agent') throw new AppError('FORBIDDEN', 'only active agents claim tickets');
    const want = Math.max(0, Math.min(limit, me.capacity) - me.open_tickets);
    const { rows } = await sql<TicketRow & { claimed: boolean }>`
      with picked as (
        select id from tickets
         where assignee_id is null and status = 'open'
         order by id
         limit ${want}::int
         for update skip locked
      ), taken as (
        update tickets t set assignee_id = ${user.id}, version = t.version + 1, updated_at = now()
          from picked where t.id = picked.id
        returning t.*
      )
      select ${cols}, true as claimed from taken
      union all
      select ${cols}, false as claimed from tickets
       where assignee_id = ${user.id} and status not in ('resolved', 'closed')
      order by id`.execute(trx);
    const taken = rows.filter((r) => r.claimed);
    await appendEvents(
      trx,
      taken.map((t) => ({
        type: 'ticket.assigned' as const,
        ticketId: t.id,
        contactId: t.contact_id,
        actor: { type: 'user' as const, id: user.id },
        data: { from: null, to: user.id, reason: 'claim' as const, version: t.version },
      })),
    );
    return { items: rows.map(ticketDto), claimed: taken.length };
  });
}
