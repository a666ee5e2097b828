// Live-only events (`ai.draft.delta`): sent to the subscribers listening at
// that moment and never stored, so never replayed. They travel as a NOTIFY
// on their own channel, which every server's hub LISTENs to, rather than
// through the log: a draft's deltas would otherwise be most of the log.
//
// A delta lost on the way (a reconnecting hub, a subscriber that fell
// behind) costs only a flicker: the stored message of `ai.draft.completed`
// holds the whole draft.
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import type { LoggedEvent } from './log.ts';
import type { EventActor, EventDataMap } from './types.ts';

export const LIVE_CHANNEL = 'relaydesk_live';

/** A NOTIFY payload must stay under 8000 bytes: deltas are cut well below. */
export const MAX_LIVE_TEXT = 2000;

export interface LiveEvent {
  type: 'ai.draft.delta';
  ticketId: string;
  occurredAt: string;
  actor: EventActor | null;
  data: EventDataMap['ai.draft.delta'];
}

/** The types that are live only (never in the log). */
export const LIVE_TYPES: ReadonlySet<string> = new Set<LiveEvent['type']>(['ai.draft.delta']);

export async function publishLive(db: Kysely<Database>, e: LiveEvent): Promise<void> {
  await sql`select pg_notify(${LIVE_CHANNEL}, ${JSON.stringify(e)})`.execute(db);
}

/** A NOTIFY payload as an event (null if it is not one). */
export function parseLive(payload: string | undefined): LiveEvent | null {
  try {
    const e = JSON.parse(payload ?? '') as LiveEvent;
    if (e?.type !== 'ai.draft.delta' || typeof e.ticketId !== 'string' || typeof e.data?.delta !== 'string') return null;
    return e;
  } catch {
    return null;
  }
}

/**
 * In the shape filters and visibility rules read. Its position is the log
 * position it follows; AI drafts are staff only, like every `ai.draft.*`.
 */
export function liveAsLogged(e: LiveEvent): Omit<LoggedEvent, 'position'> {
  return {
    type: e.type,
    ticketId: e.ticketId,
    contactId: null,
    internal: true,
    actor: e.actor,
    data: e.data,
    occurredAt: new Date(e.occurredAt),
  };
}
