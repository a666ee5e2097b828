// ai.draftReply: asks the worker for a draft reply. The draft streams to
// subscribers as `ai.draft.delta` events and is stored as an internal AI
// message (`ai.draft.completed`), or `ai.draft.failed` says why not.
import { z } from 'zod';
import { uuidv7 } from 'uuidv7';
import { AppError } from '../errors.ts';
import { lockTicket } from '../queries/tickets.ts';
import { router, staffProcedure } from '../trpc.ts';
import { assertCanRead } from './access.ts';
import { id } from './shared.ts';

export const aiRouter = router({
  /** Staff, on any ticket they can read (an internal note, like any agent may add). */
  draftReply: staffProcedure
    .input(z.object({ ticketId: id }))
    .output(z.object({ draftId: z.uuid(), ticketId: z.uuid() }))
    .mutation(async ({ ctx, input }) => {
      if (ctx.ai.config.modes.drafts === 'off') throw new AppError('PRECONDITION_FAILED', 'AI drafts are switched off (AI_DRAFTS=off)');
      const draftId = uuidv7();
      await ctx.db.transaction().execute(async (trx) => {
        // Locked, so a delete cannot slip in between the check and the job.
        assertCanRead(ctx.user, await lockTicket(trx, input.ticketId));
        const wait = ctx.ai.draftLimiter.take(ctx.user.id);
        if (wait > 0) throw new AppError('TOO_MANY_REQUESTS', `too many drafts requested; try again in ${wait} s`);
        await ctx.jobs.send(trx, 'ticket.ai-draft', { ticketId: input.ticketId, draftId, requestedBy: ctx.user.id });
      });
      return { draftId, ticketId: input.ticketId };
    }),
});
