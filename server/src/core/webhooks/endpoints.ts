// Webhook endpoints: create, update, rotate a secret, delete (admins only,
// checked by the doors' role guard and again here).
import { sql, type Kysely, type Transaction } from 'kysely';
import { uuidv7 } from 'uuidv7';
import type { Database } from '@relaydesk/db';
import { assertRole } from '../access.ts';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import { logHead } from '../events/log.ts';
import type { Logger } from '../logger.ts';
import { atomically } from '../transaction.ts';
import type { WebhookConfig } from './config.ts';
import { endpointColumns } from './queries.ts';
import { endpointDto, type CreateEndpointInput, type UpdateEndpointInput } from './schemas.ts';
import { newSecret } from './signing.ts';
import { assertPublicUrl } from './ssrf.ts';

export const endpointNotFound = (field = 'id') => new AppError('NOT_FOUND', 'webhook endpoint not found', { field });

export const assertAdmin = (user: SessionUser): void => assertRole(user, 'admin');

/**
 * Where a new (or switched-on) endpoint starts: the log's head, read while
 * holding the dispatcher's cursor row in share mode. No dispatcher pass runs
 * meanwhile, and the next one reads the endpoints after this commits: every
 * event after the head reaches the endpoint, none is skipped by a pass that
 * could not see it yet.
 */
async function startingPosition(trx: Transaction<Database>): Promise<number> {
  await trx.selectFrom('webhook_dispatch').select('position').where('id', '=', 1).forShare().execute();
  return logHead(trx);
}

/** Creates an endpoint; its signing secret is returned here and never again. */
export async function createEndpoint(db: Kysely<Database>, config: WebhookConfig, user: SessionUser, input: CreateEndpointInput, log: Logger) {
  assertAdmin(user);
  // Resolved before the transaction: DNS may be slow.
  await assertPublicUrl(new URL(input.url), config.allowPrivate);
  const secret = newSecret();
  const row = await atomically(db, async (trx) =>
    trx
      .insertInto('webhook_endpoints')
      .values({
        id: uuidv7(),
        url: input.url,
        description: input.description ?? '',
        event_types: input.events,
        include_internal: input.includeInternal ?? false,
        active: input.active ?? true,
        secret,
        from_position: await startingPosition(trx),
      })
      .returning(endpointColumns)
      .executeTakeFirstOrThrow(),
  );
  log.info({ endpointId: row.id, origin: new URL(row.url).origin }, 'webhook endpoint created');
  return { endpoint: endpointDto(row), secret };
}

export async function updateEndpoint(db: Kysely<Database>, config: WebhookConfig, user: SessionUser, input: UpdateEndpointInput) {
  assertAdmin(user);
  if (input.url !== undefined) await assertPublicUrl(new URL(input.url), config.allowPrivate);
  return atomically(db, async (trx) => {
    // No key update: deliveries in flight (key share) go on meanwhile.
    const before = await trx.selectFrom('webhook_endpoints').select(['active', 'url']).where('id', '=', input.id).forNoKeyUpdate().executeTakeFirst();
    if (!before) throw endpointNotFound();
    const switchedOn = input.active === true && !before.active;
    const switchedOff = input.active === false && before.active;
    // A new address starts with a clean record: failures at the old one don't count against it.
    const moved = input.url !== undefined && input.url !== before.url;
    const row = await trx
      .updateTable('webhook_endpoints')
      .set({
        ...(input.url !== undefined && { url: input.url }),
        ...(input.events !== undefined && { event_types: input.events }),
        ...(input.description !== undefined && { description: input.description }),
        ...(input.includeInternal !== undefined && { include_internal: input.includeInternal }),
        ...(input.active !== undefined && { active: input.active }),
        // Back on: a fresh start, from the log's head (what happened while off is not sent).
        ...((switchedOn || moved) && { failing_since: null, consecutive_failures: 0 }),
        ...(switchedOn && { disabled_at: null, disabled_reason: null, from_position: await startingPosition(trx) }),
        ...(switchedOff && { disabled_at: sql<Date>`now()`, disabled_reason: `switched off by ${user.name}` }),
        updated_at: sql<Date>`now()`,
      })
      .where('id', '=', input.id)
      .returning(endpointColumns)
      .executeTakeFirstOrThrow();
    return endpointDto(row);
  });
}

/** A new secret; the old one keeps signing beside it for `graceSeconds`. */
export async function rotateSecret(db: Kysely<Database>, user: SessionUser, input: { id: string; graceSeconds: number }, log: Logger) {
  assertAdmin(user);
  const secret = newSecret();
  const row = await db
    .updateTable('webhook_endpoints')
    .set({
      previous_secret: input.graceSeconds > 0 ? sql<string>`secret` : null,
      previous_secret_expires_at: input.graceSeconds > 0 ? sql<Date>`now() + make_interval(secs => ${input.graceSeconds})` : null,
      secret,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', input.id)
    .returning(endpointColumns)
    .executeTakeFirst();
  if (!row) throw endpointNotFound();
  log.info({ endpointId: row.id, graceSeconds: input.graceSeconds }, 'webhook secret rotated');
  return { endpoint: endpointDto(row), secret };
}

export async function deleteEndpoint(db: Kysely<Database>, user: SessionUser, id: string): Promise<{ id: string; deleted: true }> {
  assertAdmin(user);
  return atomically(db, async (trx) => {
    // Its deliveries and attempts go with it; jobs still queued find nothing and stand down.
    // Deliveries first, then the endpoint: the order in which a delivery
    // job locks them when it records a failure (a cascade would take the
    // endpoint first, and the two could deadlock).
    await trx.deleteFrom('webhook_deliveries').where('endpoint_id', '=', id).execute();
    const gone = await trx.deleteFrom('webhook_endpoints').where('id', '=', id).returning('id').executeTakeFirst();
    if (!gone) throw endpointNotFound();
    return { id: gone.id, deleted: true as const };
  });
}
