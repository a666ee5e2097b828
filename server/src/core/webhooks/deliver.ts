// Webhook delivery: one attempt to POST one event to one endpoint.
//
// The body is built from the event log at each attempt (the same bytes every
// time), signed per Standard Webhooks with the endpoint's secret (and the
// previous one during a rotation's grace period), with the event's id as
// `webhook-id` on every attempt. The attempt is recorded, with the delivery's
// status and the endpoint's run of failures, in one transaction. A failure
// throws RetryLater: pg-boss retries on the job's schedule (exponential
// backoff with jitter) and, after the last attempt, moves the job to the
// dead-letter queue; the delivery is then `dead` in the log.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';
import { RetryLater } from '../errors.ts';
import { appendEvent } from '../events/append.ts';
import { eventColumns, eventDto, eventFor, loggedEvent } from '../events/log.ts';
import type { DeliverPayload } from '../jobs/catalogue.ts';
import type { Logger } from '../logger.ts';
import { DISABLE_MIN_FAILURES, type WebhookConfig } from './config.ts';
import { postWebhook, type AttemptResult } from './send.ts';
import { signatureHeader } from './signing.ts';

const USER_AGENT = 'Relaydesk-Webhooks/1.0 (+https://www.standardwebhooks.com)';

async function loadDelivery(db: Kysely<Database>, id: string) {
  return db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_endpoints as w', 'w.id', 'd.endpoint_id')
    .innerJoin('events', 'events.position', 'd.event_position')
    .select([
      'd.id as delivery_id',
      'd.status',
      'd.generation',
      'w.id as endpoint_id',
      'w.url',
      'w.active',
      'w.secret',
      'w.previous_secret',
      'w.previous_secret_expires_at',
      'w.include_internal',
      ...eventColumns.map((c) => `events.${c}` as const),
    ])
    .where('d.id', '=', id)
    .executeTakeFirst();
}

/** The request body: Standard Webhooks' `{ type, timestamp, data }`, with the whole event as `data`. */
function webhookBody(event: ReturnType<typeof eventDto>): string {
  return JSON.stringify({ type: event.type, timestamp: event.occurredAt, data: event });
}

/**
 * One attempt of delivery `data`: sends it unless it is settled, superseded
 * or its endpoint gone or disabled, and records the attempt. Throws
 * RetryLater when the receiver did not take it.
 */
export async function deliverOnce(db: Kysely<Database>, config: WebhookConfig, log: Logger, data: DeliverPayload, opts: { lastAttempt: boolean }): Promise<void> {
  const row = await loadDelivery(db, data.deliveryId);
  // The endpoint was deleted, or a newer round (a redelivery) took over, or it is already settled.
  if (!row || row.generation !== data.generation || row.status !== 'pending') return;
  if (!row.active) {
    await markDead(db, data, 'not sent: the endpoint is disabled');
    return;
  }
  const event = eventFor({ role: 'webhook', includeInternal: row.include_internal }, loggedEvent(row));
  const body = webhookBody(event);
  const now = new Date();
  const secrets = [row.secret];
  if (row.previous_secret && row.previous_secret_expires_at && row.previous_secret_expires_at > now) secrets.push(row.previous_secret);
  const result = await postWebhook({
    url: row.url,
    body,
    timeoutMs: config.timeoutMs,
    allowPrivate: config.allowPrivate,
    headers: {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': event.id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signatureHeader(secrets, event.id, now, body),
    },
  });
  const dead = !result.ok && opts.lastAttempt;
  await recordAttempt(db, log, config, { data, endpointId: row.endpoint_id, url: row.url, startedAt: now, result, dead });
  if (!result.ok) {
    const why = failureOf(result);
    throw new RetryLater(dead ? `gave up after the last attempt: ${why}` : why);
  }
}

const failureOf = (r: AttemptResult) => r.error ?? `HTTP ${r.statusCode}`;

/**
 * Ends a pending delivery as dead, if its round is still the current one;
 * `reason` replaces the last attempt's error unless `keepError`. Whether it did.
 */
export async function markDead(db: Kysely<Database>, data: DeliverPayload, reason: string, keepError = false): Promise<boolean> {
  const r = await db
    .updateTable('webhook_deliveries')
    .set({ status: 'dead', completed_at: sql`now()`, last_error: keepError ? sql`coalesce(last_error, ${reason})` : reason })
    .where('id', '=', data.deliveryId)
    .where('generation', '=', data.generation)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

interface Attempt {
  data: DeliverPayload;
  endpointId: string;
  url: string;
  startedAt: Date;
  result: AttemptResult;
  dead: boolean;
}

/**
 * One statement: the delivery's count and status, the attempt's row and, on
 * a success, the end of the endpoint's run of failures (its row is only
 * written when there was one). Null when the delivery is gone (endpoint deleted).
 */
async function writeAttempt(db: Kysely<Database> | Transaction<Database>, a: Attempt, status: 'delivered' | 'dead' | 'pending') {
  const { result } = a;
  // The attempt counts even if a redelivery started a new round meanwhile (a request went out); the status is the round's.
  const current = sql`generation = ${a.data.generation} and status = 'pending'`;
  // Locks the delivery, then (on a failure, or the end of a failure run) the
  // endpoint: the order every path takes them (see webhooks.delete).
  const { rows } = await sql<{ attempts: number }>`
    with d as (
      update webhook_deliveries
         set attempts = attempts + 1,
             last_attempt_at = ${a.startedAt},
             last_error = case when ${current} then ${result.ok ? null : failureOf(result)}::text else last_error end,
             status = case when ${current} then ${status}::text else status end,
             completed_at = case when ${current} and ${status}::text <> 'pending' then now() else completed_at end
       where id = ${a.data.deliveryId}
      returning attempts
    ), attempt as (
      insert into webhook_attempts (delivery_id, number, manual, started_at, duration_ms, status_code, error, response_excerpt)
      select ${a.data.deliveryId}, attempts, ${a.data.manual ?? false}, ${a.startedAt}, ${result.durationMs},
             ${result.statusCode}::int, ${result.error}::text, ${result.responseExcerpt}::text
        from d
    ), recovered as (
      update webhook_endpoints set failing_since = null, consecutive_failures = 0
       where ${result.ok} and id = ${a.endpointId} and (consecutive_failures > 0 or failing_since is not null)
         and exists (select 1 from d)
    )
    select attempts from d`.execute(db);
  return rows[0] ?? null;
}

async function recordAttempt(db: Kysely<Database>, log: Logger, config: WebhookConfig, a: Attempt): Promise<void> {
  const { result } = a;
  const status = result.ok ? 'delivered' : a.dead ? 'dead' : 'pending';
  // Most attempts succeed: one round trip.
  if (result.ok) {
    await writeAttempt(db, a, status);
    return;
  }
  await db.transaction().execute(async (trx) => {
    if (!(await writeAttempt(trx, a, status))) return;
    const streak = await trx
      .updateTable('webhook_endpoints')
      .set({ consecutive_failures: sql`consecutive_failures + 1`, failing_since: sql`coalesce(failing_since, ${a.startedAt})` })
      .where('id', '=', a.endpointId)
      .where('active', '=', true)
      .returning([
        'failing_since',
        'consecutive_failures',
        sql<boolean>`failing_since <= now() - make_interval(secs => ${config.disableAfterS})`.as('overdue'),
      ])
      .executeTakeFirst();
    if (!streak?.overdue || streak.consecutive_failures < DISABLE_MIN_FAILURES) return;
    const failingSince = streak.failing_since!;
    const reason = `every attempt failed since ${failingSince.toISOString()} (${streak.consecutive_failures} in a row); the last: ${failureOf(result)}`;
    const disabled = await trx
      .updateTable('webhook_endpoints')
      .set({ active: false, disabled_at: sql`now()`, disabled_reason: reason, updated_at: sql`now()` })
      .where('id', '=', a.endpointId)
      .where('active', '=', true)
      .returning('id')
      .executeTakeFirst();
    if (!disabled) return;
    // The URL's path and query can hold a receiver's token: events and logs name the origin only.
    const origin = new URL(a.url).origin;
    log.warn({ endpointId: a.endpointId, origin, failures: streak.consecutive_failures }, 'webhook endpoint disabled: failing continuously');
    await appendEvent(trx, {
      type: 'webhook.disabled',
      ticketId: null,
      contactId: null,
      actor: { type: 'worker', id: null },
      data: { endpointId: a.endpointId, origin, reason, failingSince: failingSince.toISOString(), failures: streak.consecutive_failures },
    });
  });
}
