// tickets.*: thin doors over the core's ticket commands and queries.
import { z } from 'zod';
import { ticketHistory } from '../../core/events/history.ts';
import { messageOutput } from '../../core/messages/schemas.ts';
import { id, pageOf } from '../../core/schemas.ts';
import { claimTickets } from '../../core/tickets/claim.ts';
import { createTicket } from '../../core/tickets/create.ts';
import { deleteTicket } from '../../core/tickets/delete.ts';
import { getTicketFor, listTicketsFor } from '../../core/tickets/read.ts';
import {
  claimInput,
  claimOutput,
  createTicketInput,
  deletedOutput,
  listTicketsInput,
  resolveTicketInput,
  statsOutput,
  suggestInput,
  suggestOutput,
  ticketHistoryInput,
  ticketOutput,
  updateTicketInput,
} from '../../core/tickets/schemas.ts';
import { ticketStats } from '../../core/tickets/stats.ts';
import { suggestClassification } from '../../core/tickets/suggest.ts';
import { resolveTicket, updateTicket } from '../../core/tickets/update.ts';
import { adminProcedure, authedProcedure, roleProcedure, router, staffProcedure } from '../trpc.ts';

export const ticketsRouter = router({
  create: authedProcedure
    .input(createTicketInput)
    .output(ticketOutput)
    .mutation(({ ctx, input }) => createTicket(ctx.db, ctx.jobs, ctx.user, input)),

  list: authedProcedure
    .input(listTicketsInput)
    .output(pageOf(ticketOutput))
    .query(({ ctx, input }) => listTicketsFor(ctx.db, ctx.user, input)),

  get: authedProcedure
    .input(z.strictObject({ id }))
    .output(ticketOutput.extend({ messages: z.array(messageOutput) }))
    .query(({ ctx, input }) => getTicketFor(ctx.db, ctx.user, input.id)),

  history: authedProcedure.input(ticketHistoryInput).query(({ ctx, input }) => ticketHistory(ctx.db, ctx.user, input)),

  update: authedProcedure
    .input(updateTicketInput)
    .output(ticketOutput)
    .mutation(({ ctx, input }) => updateTicket(ctx.db, ctx.jobs, ctx.user, input)),

  resolve: authedProcedure
    .input(resolveTicketInput)
    .output(ticketOutput)
    .mutation(({ ctx, input }) => resolveTicket(ctx.db, ctx.jobs, ctx.user, input)),

  delete: adminProcedure
    .input(z.strictObject({ id }))
    .output(deletedOutput)
    .mutation(({ ctx, input }) => deleteTicket(ctx.db, ctx.jobs, ctx.user, input.id)),

  claim: roleProcedure('agent')
    .input(claimInput)
    .output(claimOutput)
    .mutation(({ ctx, input }) => claimTickets(ctx.db, ctx.user, input.limit)),

  suggest: authedProcedure
    .input(suggestInput)
    .output(suggestOutput)
    .query(({ ctx, input }) => suggestClassification(ctx.ai, ctx.user, input, ctx.log)),

  stats: staffProcedure.output(statsOutput).query(({ ctx }) => ticketStats(ctx.db)),
});
