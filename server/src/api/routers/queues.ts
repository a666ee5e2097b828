// queues.stats: job counts per queue, for admins.
import { queueCounts, queueStatsOutput } from '../../core/jobs/stats.ts';
import { adminProcedure, router } from '../trpc.ts';

export const queuesRouter = router({
  stats: adminProcedure.output(queueStatsOutput).query(({ ctx }) => queueCounts(ctx.jobs)),
});
