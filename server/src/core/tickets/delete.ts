// tickets.delete: the ticket goes (its messages with it); its history stays
// in the event log for staff, ending with `ticket.deleted`.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { assertRole } from '../access.ts';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import { appendEvent } from '../events/append.ts';
import { afterHoldingChange, type Jobs } from '../jobs/send.ts';
import { atomically } from '../transaction.ts';

export async function deleteTicket(db: Kysely<Database>, jobs: Jobs, user: SessionUser, id: string): Promise<{ id: string; deleted: true }> {
  assertRole(user, 'admin');
  return atomically(db, async (trx) => {
    const gone = await trx
      .deleteFrom('tickets')
      .where('id', '=', id)
      .returning(['id', 'number', 'title', 'status', 'assignee_id', 'contact_id'])
      .executeTakeFirst();
    if (!gone) throw new AppError('NOT_FOUND', 'ticket not found');
    await afterHoldingChange(jobs, trx, gone.id, gone, null);
    await appendEvent(trx, {
      type: 'ticket.deleted',
      ticketId: gone.id,
      // The row is gone: the requester is named here, not read from it.
      contactId: gone.contact_id,
      actor: { type: 'user', id: user.id },
      data: { number: gone.number, title: gone.title },
    });
    return { id: gone.id, deleted: true as const };
  });
}
