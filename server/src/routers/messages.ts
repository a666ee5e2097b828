import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import { AppError } from '../errors.ts';
import { appendEvent } from '../queries/events.ts';
import { afterHoldingChange, type Jobs } from '../jobs.ts';
import { lockTicket, updateTicketRow } from '../queries/tickets.ts';
import { authedProcedure, router, type SessionUser } from '../trpc.ts';
import { id, iso, isoDate, nonBlank } from './shared.ts';
import { assertCanRead } from './access.ts';

export const messageOutput = z.object({
  id: z.uuid(),
  ticketId: z.uuid(),
  authorType: z.enum(['user', 'ai', 'system']),
  author: z.object({ id: z.uuid(), name: z.string(), role: z.enum(['admin', 'agent', 'customer']) }).nullable(),
  body: z.string(),
  internal: z.boolean(),
  createdAt: isoDate,
});
export type MessageOutput = z.infer<typeof messageOutput>;

export function messageDto(m: {
  id: string;
  ticket_id: string;
  author_type: 'user' | 'ai' | 'system';
  author_id: string | null;
  author_name: string | null;
  author_role: 'admin' | 'agent' | 'customer' | null;
  body: string;
  internal: boolean;
  created_at: Date;
}): MessageOutput {
  return {
    id: m.id,
    ticketId: m.ticket_id,
    authorType: m.author_type,
    author: m.author_id && m.author_name && m.author_role ? { id: m.author_id, name: m.author_name, role: m.author_role } : null,
    body: m.body,
    internal: m.internal,
    createdAt: iso(m.created_at),
  };
}

const addInput = z.object({
  ticketId: id,
  body: nonBlank(20_000),
  internal: z.boolean().default(false),
});

/**
 * Adds a reply or an internal note. Who may: a customer on their own ticket
 * (never internal); an agent on any ticket for internal notes and on tickets
 * assigned to them for replies; an admin anywhere. Side effects on the
 * ticket: the first staff reply sets firstResponseAt; a customer's reply
 * reopens a waiting or resolved ticket.
 */
export async function addMessage(db: Kysely<Database>, jobs: Jobs, user: SessionUser, input: z.infer<typeof addInput>) {
  return db.transaction().execute(async (trx) => {
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
    await appendEvent(trx, { type: 'message.created', ticketId: ticket.id, actor, data: { message: dto }, internal: dto.internal });
    return dto;
  });
}

export const messagesRouter = router({
  add: authedProcedure
    .input(addInput)
    .output(messageOutput)
    .mutation(({ ctx, input }) => addMessage(ctx.db, ctx.jobs, ctx.user, input)),
});
