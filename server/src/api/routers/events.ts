// events.subscribe: the live event stream over SSE, resumable by event id.
import { AppError } from '../../core/errors.ts';
import { startStream, subscribeInput } from '../../core/events/subscribe.ts';
import { streamEvents } from '../events/subscription.ts';
import { authedProcedure, router } from '../trpc.ts';

export const eventsRouter = router({
  subscribe: authedProcedure.input(subscribeInput).subscription(async ({ ctx, input, signal }) => {
    if (!ctx.events) throw new AppError('UNAVAILABLE', 'live events are not served by this process');
    const { filter, start, head } = await startStream(ctx.db, ctx.user, input);
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
