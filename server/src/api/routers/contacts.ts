// contacts.*: requesters, for staff.
import { z } from 'zod';
import { contactsPage, contactsPageOutput, contactWithCount, contactWithCountOutput, listContactsInput } from '../../core/contacts/read.ts';
import { id } from '../../core/schemas.ts';
import { router, staffProcedure } from '../trpc.ts';

export const contactsRouter = router({
  list: staffProcedure
    .input(listContactsInput)
    .output(contactsPageOutput)
    .query(({ ctx, input }) => contactsPage(ctx.db, input)),

  get: staffProcedure
    .input(z.strictObject({ id }))
    .output(contactWithCountOutput)
    .query(({ ctx, input }) => contactWithCount(ctx.db, input.id)),
});
