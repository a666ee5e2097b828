// ai.draftReply: asks a worker for a draft reply. The draft streams to
// subscribers as `ai.draft.delta` events and is stored as an internal AI
// message (`ai.draft.completed`), or `ai.draft.failed` says why not.
import type { Kysely } from 'kysely';
import { uuidv7 } from 'uuidv7';
import type { Database } from '@relaydesk/db';
import { assertCanRead, assertRole } from '../access.ts';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import type { Jobs } from '../jobs/send.ts';
import { getTicket, lockTicket } from '../tickets/queries.ts';
import { atomically } from '../transaction.ts';
import type { AiContext } from './context.ts';

/** Staff, on any ticket they can read (an internal note, like any agent may add). */
export async function requestDraft(db: Kysely<Database>, jobs: Jobs, ai: AiContext, user: SessionUser, ticketId: string) {
  assertRole(user, 'admin', 'agent');
  if (ai.config.modes.drafts === 'off') throw new AppError('PRECONDITION_FAILED', 'AI drafts are switched off (AI_DRAFTS=off)');
  const draftId = uuidv7();
  // Counted before the transaction: the limiter takes a connection of its own.
  assertCanRead(user, await getTicket(db, ticketId));
  const wait = await ai.draftLimiter.take(user.id);
  if (wait > 0) throw new AppError('TOO_MANY_REQUESTS', `too many drafts requested; try again in ${wait} s`, { retryAfterSeconds: wait });
  await atomically(db, async (trx) => {
    // Locked, so a delete cannot slip in between the check and the job.
    assertCanRead(user, await lockTicket(trx, ticketId));
    await jobs.send(trx, 'ticket.ai-draft', { ticketId, draftId, requestedBy: user.id });
  });
  return { draftId, ticketId };
}
