// Background classification: fills in the category and priority of a ticket
// created without them — from the LLM when configured, else (or when it
// fails) from the built-in model — and emits `ticket.classified`.
//
// A value a person set is never overwritten: only fields still empty when
// the result is written (under the ticket's row lock) are filled. That also
// makes it idempotent: a second run finds nothing empty and does nothing.
import type { Kysely } from 'kysely';
import type { Database, TicketUpdate } from '@relaydesk/db';
import { classifyWithFallback, storedClassification, type AiDeps } from '../ai/classify.ts';
import { appendEvent } from '../events/append.ts';
import type { Logger } from '../logger.ts';
import { lockTicket, updateTicketRow } from './queries.ts';

/** Classifies the ticket if it still needs it; the source that answered, or null when nothing was to do. */
export async function classifyTicket(db: Kysely<Database>, ai: AiDeps, ticketId: string, log: Logger): Promise<'llm' | 'builtin' | null> {
  const ticket = await db
    .selectFrom('tickets')
    .select(['title', 'description', 'category', 'priority'])
    .where('id', '=', ticketId)
    .executeTakeFirst();
  // Deleted, or a person set both meanwhile (or a previous run did): nothing to do.
  if (!ticket || (ticket.category !== null && ticket.priority !== null)) return null;

  const result = await classifyWithFallback(ai, 'classify', ticket, {
    timeoutMs: ai.config.classifyTimeoutMs,
    maxRetries: ai.config.maxRetries,
    log,
  });

  await db.transaction().execute(async (trx) => {
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
    const classification = storedClassification(result);
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
  return result.source;
}
