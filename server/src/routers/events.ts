// events.subscribe: the live event stream over SSE, resumable by event id.
import { z } from 'zod';
import { AppError } from '../errors.ts';
import { expandTypes, isTypePattern, logHead, type EventFilter } from '../events/log.ts';
import { streamEvents } from '../events/subscription.ts';
import { CURSOR_PATTERN, positionOf } from '../events/types.ts';
import { getTicket } from '../queries/tickets.ts';
import { authedProcedure, router } from '../trpc.ts';
import { assertCanRead } from './access.ts';
import { id } from './shared.ts';

export const eventCursor = z.string().regex(CURSOR_PATTERN, 'must be an event id');
export const eventTypes = z
  .array(z.string().refine(isTypePattern, 'must be an event type (e.g. ticket.updated) or a pattern (e.g. ticket.*)'))
  .min(1)
  .max(20);

const subscribeInput = z
  .object({
    /** Resume after this event: everything after it, in order, then live. */
    lastEventId: eventCursor.nullish(),
    ticketId: id.optional(),
    /** Exact types or `prefix.*` patterns; all types when omitted. */
    types: eventTypes.optional(),
  })
  .optional();

export const eventsRouter = router({
  subscribe: authedProcedure.input(subscribeInput).subscription(async ({ ctx, input, signal }) => {
    if (!ctx.events) throw new AppError('UNAVAILABLE', 'live events are not served by this process');
    const filter: EventFilter = {
      ticketId: input?.ticketId,
      types: input?.types ? expandTypes(input.types) : undefined,
    };
    // A customer may follow only their own ticket; asking for another's is
    // indistinguishable from asking for one that does not exist.
    if (filter.ticketId && ctx.user.role === 'customer') assertCanRead(ctx.user, await getTicket(ctx.db, filter.ticketId));
    const head = await logHead(ctx.db);
    let start = head;
    if (input?.lastEventId) {
      start = positionOf(input.lastEventId);
      if (start > head) throw new AppError('BAD_REQUEST', 'lastEventId is ahead of the event log: it is not an id from this server', { field: 'lastEventId' });
    }
    return streamEvents(
      { db: ctx.db, hub: ctx.events.hub, log: ctx.log, limits: ctx.events.limits, disconnect: ctx.disconnect },
      ctx.user,
      filter,
      start,
      head,
      signal,
    );
  }),
});
