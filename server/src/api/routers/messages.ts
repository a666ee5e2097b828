// messages.add: a thin door over the core's addMessage.
import { addMessage } from '../../core/messages/add.ts';
import { addMessageInput, messageOutput } from '../../core/messages/schemas.ts';
import { authedProcedure, router } from '../trpc.ts';

export const messagesRouter = router({
  add: authedProcedure
    .input(addMessageInput)
    .output(messageOutput)
    .mutation(({ ctx, input }) => addMessage(ctx.db, ctx.jobs, ctx.user, input)),
});
