// webhooks.*: endpoints (admin only), their delivery log, and redelivery.
import { sql, type Transaction } from 'kysely';
import { fromKysely } from 'pg-boss';
import { uuidv7 } from 'uuidv7';
import { z } from 'zod';
import { DELIVERY_STATUSES, type Database } from '@relaydesk/db';
import type { DeliverPayload } from '@relaydesk/worker/jobs/webhook-deliver';
import { jittered } from '@relaydesk/worker/queues';
import { AppError } from '../errors.ts';
import { isTypePattern, logHead } from '../events/log.ts';
import { cursorOf, CURSOR_PATTERN, positionOf } from '../events/types.ts';
import { endpointColumns, listDeliveries, listEndpoints } from '../queries/webhooks.ts';
import { adminProcedure, router, type Context } from '../trpc.ts';
import { newSecret } from '../webhooks/signing.ts';
import { assertPublicUrl } from '../webhooks/ssrf.ts';
import { id, iso, isoDate, isoOrNull, limit, page, pageOf, text } from './shared.ts';

function urlProblem(u: string): string | null {
  if (!URL.canParse(u)) return 'must be an http:// or https:// URL';
  const parsed = new URL(u);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (!parsed.hostname) return 'must name a host';
  if (parsed.username || parsed.password) return 'must not contain a username or password (they would be stored and shown)';
  return null;
}

// Stored normalized, without a fragment (never sent anyway).
const webhookUrl = text()
  .trim()
  .max(2048)
  .transform((u, ctx) => {
    const problem = urlProblem(u);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    const parsed = new URL(u);
    parsed.hash = '';
    return parsed.href;
  });

const eventPattern = z
  .string()
  .refine(isTypePattern, 'must be an event type (e.g. ticket.updated), a pattern (e.g. ticket.*) or *')
  .refine((p) => p !== 'ai.draft.delta', 'ai.draft.delta is live only: it is never stored, so never delivered');
const eventPatterns = z
  .array(eventPattern)
  .min(1, 'must name at least one event type')
  .max(20)
  .transform((a) => [...new Set(a)]);
const description = text().trim().max(500);

const endpointOutput = z.object({
  id: z.uuid(),
  url: z.string(),
  description: z.string(),
  /** The event types and patterns it receives. */
  events: z.array(z.string()),
  /** Also receives what customers never see: internal notes, AI drafts, webhook.disabled. */
  includeInternal: z.boolean(),
  active: z.boolean(),
  /** While set and in the future, the previous secret still signs too. */
  previousSecretExpiresAt: isoDate.nullable(),
  /** The current run of failed attempts. */
  failingSince: isoDate.nullable(),
  consecutiveFailures: z.number().int(),
  disabledAt: isoDate.nullable(),
  disabledReason: z.string().nullable(),
  createdAt: isoDate,
  updatedAt: isoDate,
});
type EndpointRow = Awaited<ReturnType<typeof listEndpoints>>[number];

function endpointDto(r: EndpointRow): z.infer<typeof endpointOutput> {
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    events: r.event_types,
    includeInternal: r.include_internal,
    active: r.active,
    previousSecretExpiresAt: isoOrNull(r.previous_secret_expires_at),
    failingSince: isoOrNull(r.failing_since),
    consecutiveFailures: r.consecutive_failures,
    disabledAt: isoOrNull(r.disabled_at),
    disabledReason: r.disabled_reason,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** The endpoint and its signing secret: shown once, here. */
const withSecret = z.object({ endpoint: endpointOutput, secret: z.string() });

const attemptOutput = z.object({
  number: z.number().int(),
  /** Sent after webhooks.redeliver. */
  manual: z.boolean(),
  startedAt: isoDate,
  durationMs: z.number().int(),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  responseExcerpt: z.string().nullable(),
});

const deliveryOutput = z.object({
  id: z.uuid(),
  endpointId: z.uuid(),
  /** The event's id: also the `webhook-id` header of every attempt. */
  eventId: z.string(),
  eventType: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.array(attemptOutput),
  lastError: z.string().nullable(),
  createdAt: isoDate,
  lastAttemptAt: isoDate.nullable(),
  completedAt: isoDate.nullable(),
});

const notFound = (field = 'id') => new AppError('NOT_FOUND', 'webhook endpoint not found', { field });

async function checkUrl(ctx: Context, url: string) {
  await assertPublicUrl(new URL(url), ctx.webhooks.allowPrivate);
}

/** Sends one delivery job per (id, generation), in `trx`, on the configured retry schedule (its cap jittered per job). */
async function sendDeliveries(ctx: Context, trx: Transaction<Database>, rows: { id: string; generation: number }[]) {
  if (rows.length === 0) return;
  await ctx.jobs.boss.insert(
    'webhook.deliver',
    rows.map((r) => ({
      data: { deliveryId: r.id, generation: r.generation, manual: true } satisfies DeliverPayload,
      ...jittered(ctx.webhooks.retry),
    })),
    { db: fromKysely(trx) },
  );
}

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

/** Dead deliveries one redeliver call re-sends at most; call again for more. */
const REDELIVER_MAX = 10_000;

export const webhooksRouter = router({
  create: adminProcedure
    .input(
      z.object({
        url: webhookUrl,
        events: eventPatterns,
        description: description.optional(),
        includeInternal: z.boolean().optional(),
        active: z.boolean().optional(),
      }),
    )
    .output(withSecret)
    .mutation(async ({ ctx, input }) => {
      await checkUrl(ctx, input.url);
      const secret = newSecret();
      const row = await ctx.db.transaction().execute(async (trx) =>
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
      ctx.log.info({ endpointId: row.id, origin: new URL(row.url).origin }, 'webhook endpoint created');
      return { endpoint: endpointDto(row), secret };
    }),

  list: adminProcedure
    .input(z.object({ active: z.boolean().optional(), cursor: id.optional(), limit }).default({ limit: 25 }))
    .output(pageOf(endpointOutput))
    .query(async ({ ctx, input }) => page(await listEndpoints(ctx.db, input), input.limit, endpointDto)),

  update: adminProcedure
    .input(
      z.object({
        id,
        url: webhookUrl.optional(),
        events: eventPatterns.optional(),
        description: description.optional(),
        includeInternal: z.boolean().optional(),
        active: z.boolean().optional(),
      }),
    )
    .output(endpointOutput)
    .mutation(async ({ ctx, input }) => {
      if (input.url !== undefined) await checkUrl(ctx, input.url);
      return ctx.db.transaction().execute(async (trx) => {
        // No key update: deliveries in flight (key share) go on meanwhile.
        const before = await trx.selectFrom('webhook_endpoints').select(['active', 'url']).where('id', '=', input.id).forNoKeyUpdate().executeTakeFirst();
        if (!before) throw notFound();
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
            ...(switchedOff && { disabled_at: sql<Date>`now()`, disabled_reason: `switched off by ${ctx.user.name}` }),
            updated_at: sql<Date>`now()`,
          })
          .where('id', '=', input.id)
          .returning(endpointColumns)
          .executeTakeFirstOrThrow();
        return endpointDto(row);
      });
    }),

  rotateSecret: adminProcedure
    .input(
      z.object({
        id,
        /** How long the old secret keeps signing beside the new one. Default a day; 0 retires it at once. */
        graceSeconds: z
          .number()
          .int()
          .min(0)
          .max(7 * 86_400)
          .default(86_400),
      }),
    )
    .output(withSecret)
    .mutation(async ({ ctx, input }) => {
      const secret = newSecret();
      const row = await ctx.db
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
      if (!row) throw notFound();
      ctx.log.info({ endpointId: row.id, graceSeconds: input.graceSeconds }, 'webhook secret rotated');
      return { endpoint: endpointDto(row), secret };
    }),

  delete: adminProcedure
    .input(z.object({ id }))
    .output(z.object({ id: z.uuid(), deleted: z.literal(true) }))
    .mutation(async ({ ctx, input }) =>
      ctx.db.transaction().execute(async (trx) => {
        // Its deliveries and attempts go with it; jobs still queued find nothing and stand down.
        // Deliveries first, then the endpoint: the order in which a delivery
        // job locks them when it records a failure (a cascade would take the
        // endpoint first, and the two could deadlock).
        await trx.deleteFrom('webhook_deliveries').where('endpoint_id', '=', input.id).execute();
        const gone = await trx.deleteFrom('webhook_endpoints').where('id', '=', input.id).returning('id').executeTakeFirst();
        if (!gone) throw notFound();
        return { id: gone.id, deleted: true as const };
      }),
    ),

  deliveries: adminProcedure
    .input(
      z
        .object({
          endpointId: id.optional(),
          status: z.enum(DELIVERY_STATUSES).optional(),
          /** An event's id: its deliveries to every endpoint. */
          eventId: z.string().regex(CURSOR_PATTERN, 'must be an event id').optional(),
          cursor: id.optional(),
          limit,
        })
        .default({ limit: 25 }),
    )
    .output(pageOf(deliveryOutput))
    .query(async ({ ctx, input }) => {
      const rows = await listDeliveries(ctx.db, {
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
    }),

  redeliver: adminProcedure
    .input(
      z
        .object({
          /** One delivery, whatever its status. */
          deliveryId: id.optional(),
          /** Or every dead delivery of an endpoint (created since `since`, when given). */
          endpointId: id.optional(),
          since: isoDate.optional(),
        })
        .refine((i) => (i.deliveryId === undefined) !== (i.endpointId === undefined), {
          message: 'give either deliveryId or endpointId',
          path: ['deliveryId'],
        })
        .refine((i) => i.since === undefined || i.endpointId !== undefined, { message: 'since goes with endpointId', path: ['since'] }),
    )
    .output(z.object({ queued: z.number().int(), more: z.boolean() }))
    .mutation(async ({ ctx, input }) => {
      // pg-boss started before the transaction, which may hold many rows locked.
      await ctx.jobs.ready();
      return ctx.db.transaction().execute(async (trx) => {
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
        if (!endpoint) throw notFound(input.endpointId ? 'endpointId' : 'deliveryId');
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
        await sendDeliveries(ctx, trx, rows);
        return { queued: rows.length, more };
      });
    }),
});

