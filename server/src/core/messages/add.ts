// messages.add: a reply or an internal note, with its effects on the ticket.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import { assertCanRead } from '../access.ts';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import { appendEvent } from '../events/append.ts';
import { afterHoldingChange, type Jobs } from '../jobs/send.ts';
import { lockTicket, updateTicketRow } from '../tickets/queries.ts';
import { atomically } from '../transaction.ts';
import { messageDto, type AddMessageInput, type MessageOutput } from './schemas.ts';

/**
 * Adds a reply or an internal note. Who may: a customer on their own ticket
 * (never internal); an agent on any ticket for internal notes and on tickets
 * assigned to them for replies; an admin anywhere. Side effects on the
 * ticket: the first staff reply sets firstResponseAt; a customer's reply
 * reopens a waiting or resolved ticket.
 */
export async function addMessage(db: Kysely<Database>, jobs: Jobs, user: SessionUser, input: AddMessageInput): Promise<MessageOutput> {
  return atomically(db, async (trx) => {
    const ticket = await lockTicket(trx, input.ticketId);
    assertCanRead(user, ticket);
    const staff = user.role !== 'customer';
    if (input.internal && !staff) throw new AppError('FORBIDDEN', 'customers cannot add internal notes', { field: 'internal' });
    if (user.role === 'agent' && !input.internal && ticket.assignee_id !== user.id) {
      throw new AppError('FORBIDDEN', 'agents reply only on tickets assigned to them (internal notes are open to all agents)');
    }
    if (ticket.status === 'closed' && !input.internal) throw new AppError('CONFLICT', 'the ticket is closed');

    const message = await trx
      .insertInto('messages')
      .values({ id: uuidv7(), ticket_id: ticket.id, author_type: 'user', author_id: user.id, body: input.body, internal: input.internal })
      .returning(['id', 'ticket_id', 'author_type', 'author_id', 'body', 'internal', 'created_at'])
      .executeTakeFirstOrThrow();

    const actor = { type: 'user' as const, id: user.id };
    if (staff && !input.internal && !ticket.first_response_at) {
      // System bookkeeping, not an edit: no new version, so a client holding
      // the ticket's version can still update it after replying.
      await trx.updateTable('tickets').set({ first_response_at: message.created_at }).where('id', '=', ticket.id).execute();
    } else if (!staff && (ticket.status === 'waiting' || ticket.status === 'resolved')) {
      const updated = await updateTicketRow(trx, ticket.id, { status: 'open', resolved_at: null });
      await appendEvent(trx, {
        type: 'ticket.updated',
        ticketId: ticket.id,
        actor,
        data: { changes: { status: { from: ticket.status, to: 'open' } }, version: updated.version, reason: 'customer replied' },
      });
      // Its holder may be gone (the reopen trigger then unassigned it): queue it.
      await afterHoldingChange(jobs, trx, ticket.id, ticket, updated);
    }
    const dto = messageDto({ ...message, author_name: user.name, author_role: user.role });
    await appendEvent(trx, { type: 'message.created', ticketId: ticket.id, actor, data: { message: dto } });
    return dto;
  });
}
