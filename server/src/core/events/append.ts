// Appending to the event log. The event's type decides the shape of its data
// (EventDataMap), and its audience is recorded here, the same way for every
// writer: the requester is the ticket's contact (read in the same statement
// unless given), and `internal` follows from the type and payload.
import { sql, type Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';
import type { EventActor, EventDataMap, EventType } from './types.ts';
import { recordsInternal } from './visibility.ts';

export type Actor = EventActor;

/** Types that are stored: `ai.draft.delta` is live only (see live.ts). */
export type StoredEventType = Exclude<EventType, 'ai.draft.delta'>;

export type NewEvent = {
  [K in StoredEventType]: {
    type: K;
    ticketId: string | null;
    actor: Actor | null;
    data: EventDataMap[K];
    /**
     * The requester who may see it: by default the ticket's contact, read in
     * the same statement (pass it when the ticket row is already gone).
     */
    contactId?: string | null;
  };
}[StoredEventType];

/**
 * Appends to the event log; takes a transaction so it commits with its change.
 * Its place in the log (and so its id for subscribers) is given after commit
 * by the sequencer.
 */
export async function appendEvent(trx: Transaction<Database>, e: NewEvent): Promise<void> {
  await appendEvents(trx, [e]);
}

/** Appends several events in one statement (one round trip however many). */
export async function appendEvents(trx: Transaction<Database>, events: readonly NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await trx
    .insertInto('events')
    .values(
      events.map((e) => ({
        type: e.type,
        ticket_id: e.ticketId,
        actor_type: e.actor?.type ?? null,
        actor_id: e.actor?.id ?? null,
        data: e.data as unknown as Record<string, unknown>,
        contact_id:
          e.contactId !== undefined || e.ticketId === null
            ? (e.contactId ?? null)
            : sql<string | null>`(select contact_id from tickets where id = ${e.ticketId})`,
        internal: recordsInternal(e.type, e.data),
      })),
    )
    .execute();
}
