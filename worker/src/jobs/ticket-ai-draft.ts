// ticket.ai-draft: drafts a reply for an agent (see the core's ai/draft.ts).
import type { AiDeps } from '@relaydesk/server/core/ai/classify';
import { writeDraft } from '@relaydesk/server/core/ai/draft';
import { JOB_PAYLOADS } from '@relaydesk/server/core/jobs/catalogue';
import { defineJob } from '../runner.ts';

export function makeTicketAiDraft(ai: AiDeps) {
  return defineJob({
    queue: 'ticket.ai-draft',
    schema: JOB_PAYLOADS['ticket.ai-draft'],
    handle: (data, ctx) => writeDraft(ai, ctx.db, ctx.log, data, { lastAttempt: ctx.lastAttempt }),
  });
}
