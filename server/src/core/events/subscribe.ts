// Where a live stream starts and what it follows: the checks every stream
// door (tRPC's events.subscribe, plain SSE) makes before streaming.
import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { assertCanRead } from '../access.ts';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import { id } from '../schemas.ts';
import { getTicket } from '../tickets/queries.ts';
import { expandTypes, logHead, type EventFilter } from './log.ts';
import { eventCursor, eventTypes } from './schemas.ts';
import { positionOf } from './types.ts';

export const subscribeInput = z
  .strictObject({
    /** Resume after this event: everything after it, in order, then live. */
    lastEventId: eventCursor.nullish(),
    ticketId: id.optional(),
    /** Exact types or `prefix.*` patterns; all types when omitted. */
    types: eventTypes.optional(),
  })
  .optional();
export type SubscribeInput = z.infer<typeof subscribeInput>;

export interface StreamStart {
  filter: EventFilter;
  /** The position to stream after. */
  start: number;
  /** The log's head, as read now. */
  head: number;
}

export async function startStream(db: Kysely<Database>, user: SessionUser, input: SubscribeInput): Promise<StreamStart> {
  const filter: EventFilter = {
    ticketId: input?.ticketId,
    types: input?.types ? expandTypes(input.types) : undefined,
  };
  // A customer may follow only their own ticket; asking for another's is
  // indistinguishable from asking for one that does not exist.
  if (filter.ticketId && user.role === 'customer') assertCanRead(user, await getTicket(db, filter.ticketId));
  const head = await logHead(db);
  let start = head;
  if (input?.lastEventId) {
    start = positionOf(input.lastEventId);
    if (start > head) throw new AppError('BAD_REQUEST', 'lastEventId is ahead of the event log: it is not an id from this server', { field: 'lastEventId' });
  }
  return { filter, start, head };
}
