// events.subscribe: the live event stream over SSE, resumable by event id.
import { AppError } from '../../core/errors.ts';
import { startStream, subscribeInput } from '../../core/events/subscribe.ts';
import { streamEvents } from '../events/subscription.ts';
import { authedProcedure, router } from '../trpc.ts';

export const eventsRouter = router({
  subscribe: authedProcedure.input(subscribeInput).subscription(async ({ ctx, input, signal }) => {
    if (!ctx.events) throw new AppError('UNAVAILABLE', 'live events are not served by this process');
    const { filter, start, head } = await startStream(ctx.db, ctx.user, input);
    const { hub, limits } = ctx.events;
    // The cap is per token and per server process (a token's streams normally stay on one server).
    const release = hub.acquireStream(ctx.user.tokenId, limits.perToken);
    if (!release) {
      throw new AppError('TOO_MANY_REQUESTS', `this token already holds ${limits.perToken} live streams (EVENTS_STREAMS_PER_TOKEN); close one first`, {
        retryAfterSeconds: 5,
      });
    }
    // Released when the stream ends, and when the request goes even if the stream never started.
    signal?.addEventListener('abort', release, { once: true });
    return streamEvents(
      { db: ctx.db, hub, log: ctx.log, limits, disconnect: ctx.disconnect, onEnd: release },
      ctx.user,
      filter,
      start,
      head,
      signal,
    );
  }),
});
