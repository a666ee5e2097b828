// ai.draftReply: a thin door over the core's requestDraft.
import { z } from 'zod';
import { requestDraft } from '../../core/ai/request-draft.ts';
import { id } from '../../core/schemas.ts';
import { router, staffProcedure } from '../trpc.ts';

export const aiRouter = router({
  draftReply: staffProcedure
    .input(z.strictObject({ ticketId: id }))
    .output(z.object({ draftId: z.uuid(), ticketId: z.uuid() }))
    .mutation(({ ctx, input }) => requestDraft(ctx.db, ctx.jobs, ctx.ai, ctx.user, input.ticketId)),
});
