// Webhook endpoints' and deliveries' schemas: inputs shared by every door,
// outputs that never carry a secret, and the row-to-output mappings.
import { z } from 'zod';
import { DELIVERY_STATUSES } from '@relaydesk/db';
import { isTypePattern } from '../events/log.ts';
import { CURSOR_PATTERN } from '../events/types.ts';
import { id, iso, isoDate, isoOrNull, limit, pageOf, text } from '../schemas.ts';
import type { listEndpoints } from './queries.ts';

function urlProblem(u: string): string | null {
  if (!URL.canParse(u)) return 'must be an http:// or https:// URL';
  const parsed = new URL(u);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (!parsed.hostname) return 'must name a host';
  if (parsed.username || parsed.password) return 'must not contain a username or password (they would be stored and shown)';
  return null;
}

// Stored normalized, without a fragment (never sent anyway).
export const webhookUrl = text()
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
export const eventPatterns = z
  .array(eventPattern)
  .min(1, 'must name at least one event type')
  .max(20)
  .transform((a) => [...new Set(a)]);
const description = text().trim().max(500);

export const endpointOutput = z.object({
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
export type EndpointRow = Awaited<ReturnType<typeof listEndpoints>>[number];

export function endpointDto(r: EndpointRow): z.infer<typeof endpointOutput> {
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
export const withSecret = z.object({ endpoint: endpointOutput, secret: z.string() });

export const attemptOutput = z.object({
  number: z.number().int(),
  /** Sent after webhooks.redeliver. */
  manual: z.boolean(),
  startedAt: isoDate,
  durationMs: z.number().int(),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  responseExcerpt: z.string().nullable(),
});

export const deliveryOutput = z.object({
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

export const createEndpointInput = z.strictObject({
  url: webhookUrl,
  events: eventPatterns,
  description: description.optional(),
  includeInternal: z.boolean().optional(),
  active: z.boolean().optional(),
});
export type CreateEndpointInput = z.infer<typeof createEndpointInput>;

export const listEndpointsInput = z.strictObject({ active: z.boolean().optional(), cursor: id.optional(), limit }).default({ limit: 25 });

export const updateEndpointInput = z.strictObject({
  id,
  url: webhookUrl.optional(),
  events: eventPatterns.optional(),
  description: description.optional(),
  includeInternal: z.boolean().optional(),
  active: z.boolean().optional(),
});
export type UpdateEndpointInput = z.infer<typeof updateEndpointInput>;

export const rotateSecretInput = z.strictObject({
  id,
  /** How long the old secret keeps signing beside the new one. Default a day; 0 retires it at once. */
  graceSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(86_400),
});

export const deleteEndpointOutput = z.object({ id: z.uuid(), deleted: z.literal(true) });

export const listDeliveriesInput = z
  .strictObject({
    endpointId: id.optional(),
    status: z.enum(DELIVERY_STATUSES).optional(),
    /** An event's id: its deliveries to every endpoint. */
    eventId: z.string().regex(CURSOR_PATTERN, 'must be an event id').optional(),
    cursor: id.optional(),
    limit,
  })
  .default({ limit: 25 });
export type ListDeliveriesInput = z.infer<typeof listDeliveriesInput>;

export const deliveriesOutput = pageOf(deliveryOutput);

export const redeliverInput = z
  .strictObject({
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
  .refine((i) => i.since === undefined || i.endpointId !== undefined, { message: 'since goes with endpointId', path: ['since'] });
export type RedeliverInput = z.infer<typeof redeliverInput>;

export const redeliverOutput = z.object({ queued: z.number().int(), more: z.boolean() });
