// tickets.create: the ticket, its requester, its event and its jobs, in one transaction.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import type { SessionUser } from '../caller.ts';
import { upsertContact } from '../contacts/queries.ts';
import { AppError } from '../errors.ts';
import { appendEvent } from '../events/append.ts';
import { sendAssignDrain, type Jobs } from '../jobs/send.ts';
import { atomically } from '../transaction.ts';
import { ticketColumns } from './queries.ts';
import { ticketDto, type CreateTicketInput, type TicketOutput } from './schemas.ts';

export async function createTicket(db: Kysely<Database>, jobs: Jobs, user: SessionUser, input: CreateTicketInput): Promise<TicketOutput> {
  if (user.role === 'customer' && input.contact) {
    throw new AppError('FORBIDDEN', 'customers file tickets as themselves; omit contact', { field: 'contact' });
  }
  return atomically(db, async (trx) => {
    // Staff filing without a contact are the requester themselves.
    const contactId =
      user.role === 'customer'
        ? user.contactId!
        : await upsertContact(trx, input.contact?.email ?? user.email, input.contact?.name ?? user.name);
    const manual = input.priority !== undefined || input.category !== undefined;
    const ticket = await trx
      .insertInto('tickets')
      .values({
        id: uuidv7(),
        title: input.title,
        description: input.description,
        priority: input.priority ?? null,
        category: input.category ?? null,
        tags: input.tags ?? [],
        contact_id: contactId,
        classification: manual ? { source: 'manual', confidence: 1 } : null,
      })
      .returning(ticketColumns)
      .executeTakeFirstOrThrow();
    const dto = ticketDto(ticket);
    await appendEvent(trx, { type: 'ticket.created', ticketId: ticket.id, contactId, actor: { type: 'user', id: user.id }, data: { ticket: dto } });
    await sendAssignDrain(jobs, trx, ticket.id, 'created');
    // Classified in the background: creating a ticket never waits on an LLM.
    if (jobs.classify && (ticket.category === null || ticket.priority === null)) {
      await jobs.send(trx, 'ticket.classify', { ticketId: ticket.id });
    }
    return dto;
  });
}
