// ticket.classify: classifies one ticket in the background (see the core's classify.ts).
import type { AiDeps } from '@relaydesk/server/core/ai/classify';
import { JOB_PAYLOADS } from '@relaydesk/server/core/jobs/catalogue';
import { classifyTicket } from '@relaydesk/server/core/tickets/classify';
import { defineJob } from '../runner.ts';

export function makeTicketClassify(ai: AiDeps) {
  return defineJob({
    queue: 'ticket.classify',
    schema: JOB_PAYLOADS['ticket.classify'],
    async handle({ ticketId }, ctx) {
      const source = await classifyTicket(ctx.db, ai, ticketId, ctx.log);
      if (source) ctx.log.debug({ ticketId, source }, 'ticket classified');
    },
  });
}
