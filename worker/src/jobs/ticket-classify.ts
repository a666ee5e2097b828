// ticket.classify: fills in the category and priority of a ticket created
// without them — from the LLM when configured, else (or when it fails) from
// the built-in model — and emits `ticket.classified`.
//
// A value a person set is never overwritten: only fields still empty when
// the result is written (under the ticket's row lock) are filled. That also
// makes the job idempotent: a second run finds nothing empty and does nothing.
import { z } from 'zod';
import type { TicketUpdate } from '@relaydesk/db';
import { classifyWithFallback, type AiDeps } from '@relaydesk/server/ai/classify';
import { appendEvent } from '@relaydesk/server/queries/events';
import { lockTicket, updateTicketRow } from '@relaydesk/server/queries/tickets';
import { defineJob } from '../runner.ts';

export const queue = 'ticket.classify';

export const payload = z.object({ ticketId: z.uuid() });
export type ClassifyPayload = z.infer<typeof payload>;

export function makeTicketClassify(ai: AiDeps) {
  return defineJob({
    queue,
    schema: payload,
    async handle({ ticketId }, ctx) {
      const ticket = await ctx.db
        .selectFrom('tickets')
        .select(['title', 'description', 'category', 'priority'])
        .where('id', '=', ticketId)
        .executeTakeFirst();
      // Deleted, or a person set both meanwhile (or a previous run did): nothing to do.
      if (!ticket || (ticket.category !== null && ticket.priority !== null)) return;

      const result = await classifyWithFallback(ai, 'classify', ticket, {
        timeoutMs: ai.config.classifyTimeoutMs,
        maxRetries: ai.config.maxRetries,
        log: ctx.log,
      });

      await ctx.db.transaction().execute(async (trx) => {
        const now = await lockTicket(trx, ticketId);
        if (!now) return;
        const patch: TicketUpdate = {};
        const filled: ('category' | 'priority')[] = [];
        if (now.category === null) {
          patch.category = result.category;
          filled.push('category');
        }
        if (now.priority === null) {
          patch.priority = result.priority;
          filled.push('priority');
        }
        if (filled.length === 0) return;
        const classification = {
          source: result.source,
          confidence: Math.round(result.confidence * 1000) / 1000,
          ...(result.model ? { model: result.model } : {}),
        };
        const updated = await updateTicketRow(trx, ticketId, { ...patch, classification });
        await appendEvent(trx, {
          type: 'ticket.classified',
          ticketId,
          actor: { type: 'worker', id: null },
          data: {
            category: updated.category,
            priority: updated.priority,
            classification,
            reason: result.reason,
            filled,
            version: updated.version,
          },
        });
      });
      ctx.log.debug({ ticketId, source: result.source }, 'ticket classified');
    },
  });
}
