import { z } from 'zod';
import type { Contact } from '@relaydesk/db';
import { AppError } from '../errors.ts';
import { getContact, listContacts } from '../queries/contacts.ts';
import { router, staffProcedure } from '../trpc.ts';
import { id, iso, isoDate, limit, page, pageOf, text } from './shared.ts';

const contactOutput = z.object({ id: z.uuid(), email: z.string(), name: z.string(), createdAt: isoDate, updatedAt: isoDate });

const contactDto = (c: Contact) => ({ id: c.id, email: c.email, name: c.name, createdAt: iso(c.created_at), updatedAt: iso(c.updated_at) });

export const contactsRouter = router({
  list: staffProcedure
    .input(z.object({ search: text().trim().min(1).max(200).optional(), cursor: id.optional(), limit }).default({ limit: 25 }))
    .output(pageOf(contactOutput))
    .query(async ({ ctx, input }) => page(await listContacts(ctx.db, input), input.limit, contactDto)),

  get: staffProcedure
    .input(z.object({ id }))
    .output(contactOutput.extend({ ticketCount: z.number().int() }))
    .query(async ({ ctx, input }) => {
      const c = await getContact(ctx.db, input.id);
      if (!c) throw new AppError('NOT_FOUND', 'contact not found');
      return { ...contactDto(c), ticketCount: Number(c.ticket_count ?? 0) };
    }),
});
