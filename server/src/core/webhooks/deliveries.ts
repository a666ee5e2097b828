// webhooks.deliveries: the delivery log, newest first, each with its attempts.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import type { SessionUser } from '../caller.ts';
import { cursorOf, positionOf } from '../events/types.ts';
import { iso, isoOrNull, page } from '../schemas.ts';
import { assertAdmin } from './endpoints.ts';
import { listDeliveries } from './queries.ts';
import type { ListDeliveriesInput } from './schemas.ts';

export async function deliveryLog(db: Kysely<Database>, user: SessionUser, input: ListDeliveriesInput) {
  assertAdmin(user);
  const rows = await listDeliveries(db, {
    endpointId: input.endpointId,
    status: input.status,
    eventPosition: input.eventId !== undefined ? positionOf(input.eventId) : undefined,
    cursor: input.cursor,
    limit: input.limit,
  });
  return page(rows, input.limit, (d) => ({
    id: d.id,
    endpointId: d.endpoint_id,
    eventId: cursorOf(Number(d.event_position)),
    eventType: d.event_type,
    status: d.status,
    attempts: d.attemptLog.map((a) => ({
      number: a.number,
      manual: a.manual,
      startedAt: iso(a.started_at),
      durationMs: a.duration_ms,
      statusCode: a.status_code,
      error: a.error,
      responseExcerpt: a.response_excerpt,
    })),
    lastError: d.last_error,
    createdAt: iso(d.created_at),
    lastAttemptAt: isoOrNull(d.last_attempt_at),
    completedAt: isoOrNull(d.completed_at),
  }));
}
