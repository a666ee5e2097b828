// ticket.assign: one drain of the waiting tickets (see the core's assign.ts).
import { JOB_PAYLOADS } from '@relaydesk/server/core/jobs/catalogue';
import { drainAssignments } from '@relaydesk/server/core/tickets/assign';
import { defineJob } from '../runner.ts';

export const ticketAssign = defineJob({
  queue: 'ticket.assign',
  schema: JOB_PAYLOADS['ticket.assign'],
  async handle(_data, ctx) {
    // Fault injection for tests: keep the transaction open so a killed
    // worker dies in the middle of a job.
    await drainAssignments(ctx.db, { holdMs: Number(process.env.RELAYDESK_TEST_JOB_HOLD_MS ?? 0) });
  },
});
