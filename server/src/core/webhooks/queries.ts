import type { Kysely } from 'kysely';
import type { Database, DeliveryStatus } from '@relaydesk/db';

/** Every endpoint column a caller may see: never the secrets. */
export const endpointColumns = [
  'id',
  'url',
  'description',
  'event_types',
  'include_internal',
  'active',
  'previous_secret_expires_at',
  'failing_since',
  'consecutive_failures',
  'disabled_at',
  'disabled_reason',
  'created_at',
  'updated_at',
] as const;

export async function listEndpoints(db: Kysely<Database>, opts: { active?: boolean | undefined; cursor?: string | undefined; limit: number }) {
  let q = db.selectFrom('webhook_endpoints').select(endpointColumns).orderBy('id').limit(opts.limit + 1);
  if (opts.active !== undefined) q = q.where('active', '=', opts.active);
  if (opts.cursor) q = q.where('id', '>', opts.cursor);
  return q.execute();
}

const deliveryColumns = [
  'd.id',
  'd.endpoint_id',
  'd.event_position',
  'd.event_type',
  'd.status',
  'd.attempts',
  'd.last_error',
  'd.created_at',
  'd.last_attempt_at',
  'd.completed_at',
] as const;

export async function listDeliveries(
  db: Kysely<Database>,
  opts: { endpointId?: string | undefined; status?: DeliveryStatus | undefined; eventPosition?: number | undefined; cursor?: string | undefined; limit: number },
) {
  // Newest first: ids are uuid v7, so their order is creation order.
  let q = db.selectFrom('webhook_deliveries as d').select(deliveryColumns).orderBy('d.id', 'desc').limit(opts.limit + 1);
  if (opts.endpointId) q = q.where('d.endpoint_id', '=', opts.endpointId);
  if (opts.status) q = q.where('d.status', '=', opts.status);
  if (opts.eventPosition !== undefined) q = q.where('d.event_position', '=', opts.eventPosition);
  if (opts.cursor) q = q.where('d.id', '<', opts.cursor);
  const deliveries = await q.execute();
  const attempts =
    deliveries.length === 0
      ? []
      : await db
          .selectFrom('webhook_attempts')
          .selectAll()
          .where(
            'delivery_id',
            'in',
            deliveries.map((d) => d.id),
          )
          .orderBy('delivery_id')
          .orderBy('number')
          .execute();
  const byDelivery = new Map<string, typeof attempts>();
  for (const a of attempts) {
    const list = byDelivery.get(a.delivery_id) ?? [];
    list.push(a);
    byDelivery.set(a.delivery_id, list);
  }
  return deliveries.map((d) => ({ ...d, attemptLog: byDelivery.get(d.id) ?? [] }));
}
