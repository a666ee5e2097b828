// tickets.create: the ticket, its requester, its event and its jobs, in one transaction.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import type { SessionUser } from '../caller.ts';
import { upsertContact } from '../contacts/queries.ts';
import { builtinClassification, storedClassification } from '../ai/classify.ts';
import { AppError } from '../errors.ts';
import { appendEvents, type NewEvent } from '../events/append.ts';
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
    const filled = [...(input.category === undefined ? (['category'] as const) : []), ...(input.priority === undefined ? (['priority'] as const) : [])];
    // Without an LLM the built-in model fills what is unset here, as the
    // classify job would (a value the caller gave is kept).
    const inline = filled.length > 0 && jobs.classifyInline ? builtinClassification(input, jobs.classifyInline.reason) : null;
    const category = input.category ?? inline?.category ?? null;
    const priority = input.priority ?? inline?.priority ?? null;
    const classification = inline ? storedClassification(inline) : manual ? { source: 'manual' as const, confidence: 1 } : null;
    const ticket = await trx
      .insertInto('tickets')
      .values({
        id: uuidv7(),
        title: input.title,
        description: input.description,
        priority,
        category,
        tags: input.tags ?? [],
        contact_id: contactId,
        classification,
      })
      .returning(ticketColumns)
      .executeTakeFirstOrThrow();
    const dto = ticketDto(ticket);
    const events: NewEvent[] = [{ type: 'ticket.created', ticketId: ticket.id, contactId, actor: { type: 'user', id: user.id }, data: { ticket: dto } }];
    if (inline && category && priority) {
      events.push({
        type: 'ticket.classified',
        ticketId: ticket.id,
        contactId,
        actor: { type: 'system', id: null },
        data: { category, priority, classification: storedClassification(inline), reason: inline.reason, filled, version: ticket.version },
      });
    }
    await appendEvents(trx, events);
    await sendAssignDrain(jobs, trx, ticket.id, 'created');
    // Otherwise classified in the background: creating a ticket never waits on an LLM.
    if (jobs.classify && !inline && filled.length > 0) await jobs.send(trx, 'ticket.classify', { ticketId: ticket.id });
    return dto;
  });
}
