import { sql, type Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';

export interface Actor {
  type: 'user' | 'system' | 'worker';
  id: string | null;
}

export interface NewEvent {
  type: string;
  ticketId: string | null;
  actor: Actor | null;
  data: Record<string, unknown>;
  /**
   * The requester who may see it: by default the ticket's contact, read in the
   * same statement (pass it when the ticket row is already gone).
   */
  contactId?: string | null;
  /** Staff only: an internal note, an AI draft. */
  internal?: boolean;
}

/**
 * Appends to the event log; takes a transaction so it commits with its change.
 * Its place in the log (and so its id for subscribers) is given after commit
 * by the sequencer.
 */
export async function appendEvent(trx: Transaction<Database>, e: NewEvent): Promise<void> {
  await appendEvents(trx, [e]);
}

/** Appends several events in one statement (one round trip however many). */
export async function appendEvents(trx: Transaction<Database>, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await trx
    .insertInto('events')
    .values(
      events.map((e) => ({
        type: e.type,
        ticket_id: e.ticketId,
        actor_type: e.actor?.type ?? null,
        actor_id: e.actor?.id ?? null,
        data: e.data,
        contact_id:
          e.contactId !== undefined || e.ticketId === null
            ? (e.contactId ?? null)
            : sql<string | null>`(select contact_id from tickets where id = ${e.ticketId})`,
        internal: e.internal ?? false,
      })),
    )
    .execute();
}
