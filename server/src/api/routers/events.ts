// events.subscribe: the live event stream over SSE, resumable by event id.
import { AppError } from '../../core/errors.ts';
import { subscribeInput } from '../../core/events/subscribe.ts';
import { openStream } from '../events/subscription.ts';
import { authedProcedure, router } from '../trpc.ts';

export const eventsRouter = router({
  subscribe: authedProcedure.input(subscribeInput).subscription(({ ctx, input, signal }) => {
    if (!ctx.events) throw new AppError('UNAVAILABLE', 'live events are not served by this process');
    const { hub, limits } = ctx.events;
    return openStream({ db: ctx.db, hub, log: ctx.log, limits, disconnect: ctx.disconnect }, ctx.user, input, signal);
  }),
});
