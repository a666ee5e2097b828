import { z } from 'zod';
import { QUEUE_NAMES } from '@relaydesk/worker/queues';
import { queueCounts } from '../jobs.ts';
import { adminProcedure, router } from '../trpc.ts';

const n = z.number().int();

export const queuesRouter = router({
  stats: adminProcedure
    .output(z.array(z.object({ name: z.enum(QUEUE_NAMES), queued: n, active: n, completed: n, failed: n, deadLettered: n })))
    .query(({ ctx }) => queueCounts(ctx.jobs)),
});
