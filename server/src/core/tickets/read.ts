// tickets.list and tickets.get, scoped to what the caller may read.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { assertCanRead } from '../access.ts';
import type { SessionUser } from '../caller.ts';
import { listMessages } from '../messages/queries.ts';
import { messageDto, type MessageOutput } from '../messages/schemas.ts';
import { page, type Page } from '../schemas.ts';
import { getTicket, listTickets } from './queries.ts';
import { ticketDto, type ListTicketsInput, type TicketOutput } from './schemas.ts';

export async function listTicketsFor(db: Kysely<Database>, user: SessionUser, input: ListTicketsInput): Promise<Page<TicketOutput>> {
  let contactId = input.contactId;
  if (user.role === 'customer') {
    // Customers see only their own tickets, whatever filter they send.
    if (contactId && contactId !== user.contactId) return { items: [], nextCursor: null };
    contactId = user.contactId!;
  }
  const rows = await listTickets(db, { ...input, contactId });
  return page(rows, input.limit, ticketDto);
}

/** A ticket with its conversation; customers never see internal notes. */
export async function getTicketFor(db: Kysely<Database>, user: SessionUser, id: string): Promise<TicketOutput & { messages: MessageOutput[] }> {
  const ticket = await getTicket(db, id);
  assertCanRead(user, ticket);
  const messages = await listMessages(db, ticket.id, user.role !== 'customer');
  return { ...ticketDto(ticket), messages: messages.map(messageDto) };
}
