import { z } from 'zod';
import { aiRouter } from './routers/ai.ts';
import { authRouter } from './routers/auth.ts';
import { contactsRouter } from './routers/contacts.ts';
import { eventsRouter } from './routers/events.ts';
import { checkHealth } from '../core/health.ts';
import { messagesRouter } from './routers/messages.ts';
import { queuesRouter } from './routers/queues.ts';
import { ticketsRouter } from './routers/tickets.ts';
import { usersRouter } from './routers/users.ts';
import { webhooksRouter } from './routers/webhooks.ts';
import { publicProcedure, router } from './trpc.ts';

export const appRouter = router({
  health: publicProcedure
    .output(z.object({ status: z.enum(['ok', 'degraded']), db: z.enum(['up', 'down']), reason: z.string().optional() }))
    .query(({ ctx }) => checkHealth(ctx.db)),
  auth: authRouter,
  users: usersRouter,
  contacts: contactsRouter,
  tickets: ticketsRouter,
  messages: messagesRouter,
  queues: queuesRouter,
  events: eventsRouter,
  ai: aiRouter,
  webhooks: webhooksRouter,
});

export type AppRouter = typeof appRouter;
