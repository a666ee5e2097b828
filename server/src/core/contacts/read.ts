// contacts.list and contacts.get: requesters, for staff.
import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Contact, Database } from '@relaydesk/db';
import { AppError } from '../errors.ts';
import { id, iso, isoDate, limit, page, pageOf, text } from '../schemas.ts';
import { getContact, listContacts } from './queries.ts';

export const contactOutput = z.object({ id: z.uuid(), email: z.string(), name: z.string(), createdAt: isoDate, updatedAt: isoDate });
export const contactWithCountOutput = contactOutput.extend({ ticketCount: z.number().int() });
export const contactsPageOutput = pageOf(contactOutput);
export const listContactsInput = z.strictObject({ search: text().trim().min(1).max(200).optional(), cursor: id.optional(), limit }).default({ limit: 25 });

const contactDto = (c: Pick<Contact, 'id' | 'email' | 'name' | 'created_at' | 'updated_at'>) => ({
  id: c.id,
  email: c.email,
  name: c.name,
  createdAt: iso(c.created_at),
  updatedAt: iso(c.updated_at),
});

export async function contactsPage(db: Kysely<Database>, input: z.infer<typeof listContactsInput>) {
  return page(await listContacts(db, input), input.limit, contactDto);
}

export async function contactWithCount(db: Kysely<Database>, contactId: string) {
  const c = await getContact(db, contactId);
  if (!c) throw new AppError('NOT_FOUND', 'contact not found');
  return { ...contactDto(c), ticketCount: Number(c.ticket_count ?? 0) };
}
