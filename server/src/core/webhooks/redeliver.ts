// webhooks.redeliver: one delivery, or every dead delivery of an endpoint,
// sent again in a new round.
import { sql, type Kysely, type Transaction } from 'kysely';
import { fromKysely } from 'pg-boss';
import type { Database } from '@relaydesk/db';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import { jittered, type DeliverPayload } from '../jobs/catalogue.ts';
import type { Jobs } from '../jobs/send.ts';
import { atomically } from '../transaction.ts';
import type { WebhookConfig } from './config.ts';
import { assertAdmin, endpointNotFound } from './endpoints.ts';
import type { RedeliverInput } from './schemas.ts';

/** Dead deliveries one redeliver call re-sends at most; call again for more. */
const REDELIVER_MAX = 10_000;

/** Sends one delivery job per (id, generation), in `trx`, on the configured retry schedule (its cap jittered per job). */
async function sendDeliveries(jobs: Jobs, config: WebhookConfig, trx: Transaction<Database>, rows: { id: string; generation: number }[]) {
  if (rows.length === 0) return;
  await jobs.boss.insert(
    'webhook.deliver',
    rows.map((r) => ({
      data: { deliveryId: r.id, generation: r.generation, manual: true } satisfies DeliverPayload,
      ...jittered(config.retry),
    })),
    { db: fromKysely(trx) },
  );
}

export async function redeliver(
  db: Kysely<Database>,
  jobs: Jobs,
  config: WebhookConfig,
  user: SessionUser,
  input: RedeliverInput,
): Promise<{ queued: number; more: boolean }> {
  assertAdmin(user);
  // pg-boss started before the transaction, which may hold many rows locked.
  await jobs.ready();
  return atomically(db, async (trx) => {
    const endpointId =
      input.endpointId ??
      (await trx.selectFrom('webhook_deliveries').select('endpoint_id').where('id', '=', input.deliveryId!).executeTakeFirst())?.endpoint_id;
    if (!endpointId) throw new AppError('NOT_FOUND', 'delivery not found', { field: 'deliveryId' });
    // The deliveries are locked first, then the endpoint: the order a delivery job takes them.
    const ids = (
      await trx
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('endpoint_id', '=', endpointId)
        .$if(input.deliveryId !== undefined, (s) => s.where('id', '=', input.deliveryId!))
        .$if(input.deliveryId === undefined, (s) => s.where('status', '=', 'dead'))
        .$if(input.since !== undefined, (s) => s.where('created_at', '>=', new Date(input.since!)))
        .orderBy('id')
        .limit(REDELIVER_MAX + 1)
        .forUpdate()
        .execute()
    ).map((r) => r.id);
    // Key share: the endpoint can't be deleted until this commits. It can
    // still be switched off meanwhile (auto-disable): those jobs then end
    // `dead` unsent, "the endpoint is disabled", as any pending delivery would.
    const endpoint = await trx.selectFrom('webhook_endpoints').select('active').where('id', '=', endpointId).forKeyShare().executeTakeFirst();
    if (!endpoint) throw endpointNotFound(input.endpointId ? 'endpointId' : 'deliveryId');
    if (!endpoint.active) {
      throw new AppError('PRECONDITION_FAILED', 'the endpoint is disabled: switch it on with webhooks.update first', {
        field: input.endpointId ? 'endpointId' : 'deliveryId',
      });
    }
    if (input.deliveryId !== undefined && ids.length === 0) throw new AppError('NOT_FOUND', 'delivery not found', { field: 'deliveryId' });
    const more = ids.length > REDELIVER_MAX;
    if (more) ids.pop();
    if (ids.length === 0) return { queued: 0, more: false };
    // A new round: jobs of the previous one stand down.
    const rows = await trx
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', generation: sql`generation + 1`, completed_at: null, last_error: null })
      .where('id', 'in', ids)
      .returning(['id', 'generation'])
      .execute();
    await sendDeliveries(jobs, config, trx, rows);
    return { queued: rows.length, more };
  });
}
