// Tickets' input and output schemas: shared by every door (tRPC, REST), and
// the one mapping from a row to what callers see (`ticketDto`), used by events too.
import { z } from 'zod';
import { CATEGORIES, PRIORITIES, STATUSES, type Ticket } from '@relaydesk/db';
import type { EventMessage, EventTicket } from '../events/types.ts';
import { eventCursor } from '../events/schemas.ts';
import type { MessageOutput } from '../messages/schemas.ts';
import { email, id, iso, isoDate, isoOrNull, limit, name, nonBlank, text } from '../schemas.ts';
import type { ticketColumns } from './queries.ts';

export const status = z.enum(STATUSES);
export const priority = z.enum(PRIORITIES);
export const category = z.enum(CATEGORIES);
// Text is stored as sent; only its length (after trimming) is checked.
const title = nonBlank(200);
const description = nonBlank(20_000);
export const tag = text().trim().toLowerCase().min(1).max(50);
const tags = z
  .array(tag)
  .max(20)
  .transform((t) => [...new Set(t)]);
const resolution = text().max(20_000);
const expectedVersion = z.number().int().min(1);

export const ticketOutput = z.object({
  id: z.uuid(),
  number: z.number().int(),
  title: z.string(),
  description: z.string(),
  status,
  priority: priority.nullable(),
  category: category.nullable(),
  tags: z.array(z.string()),
  contactId: z.uuid(),
  assigneeId: z.uuid().nullable(),
  classification: z
    .object({ source: z.enum(['llm', 'builtin', 'manual']), confidence: z.number(), model: z.string().optional() })
    .nullable(),
  resolution: z.string().nullable(),
  version: z.number().int(),
  createdAt: isoDate,
  updatedAt: isoDate,
  firstResponseAt: isoDate.nullable(),
  resolvedAt: isoDate.nullable(),
});
export type TicketOutput = z.infer<typeof ticketOutput>;
// The event payloads spell the ticket and message out for the SDK; they must
// stay the very shapes the API returns.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const ticketShapesAgree: Same<TicketOutput, EventTicket> & Same<MessageOutput, EventMessage> = true;

export type TicketRow = Pick<Ticket, (typeof ticketColumns)[number]>;

export function ticketDto(t: TicketRow): TicketOutput {
  return {
    id: t.id,
    number: t.number,
    title: t.title,
    description: t.description,
    status: t.status,
    priority: t.priority,
    category: t.category,
    tags: t.tags,
    contactId: t.contact_id,
    assigneeId: t.assignee_id,
    classification: t.classification,
    resolution: t.resolution,
    version: t.version,
    createdAt: iso(t.created_at),
    updatedAt: iso(t.updated_at),
    firstResponseAt: isoOrNull(t.first_response_at),
    resolvedAt: isoOrNull(t.resolved_at),
  };
}

export const createTicketInput = z.strictObject({
  title,
  description,
  priority: priority.optional(),
  category: category.optional(),
  tags: tags.optional(),
  contact: z.strictObject({ email, name }).optional(),
});
export type CreateTicketInput = z.infer<typeof createTicketInput>;

export const updateTicketInput = z.strictObject({
  id,
  expectedVersion: expectedVersion.optional(),
  title: title.optional(),
  description: description.optional(),
  status: status.optional(),
  priority: priority.optional(),
  category: category.optional(),
  tags: tags.optional(),
  assigneeId: id.nullable().optional(),
  resolution: resolution.optional(),
});
export type UpdateTicketInput = z.infer<typeof updateTicketInput>;

export const resolveTicketInput = z.strictObject({ id, expectedVersion: expectedVersion.optional(), resolution: resolution.optional() });

const oneOrMany = <T extends z.ZodType>(s: T) => z.union([s, z.array(s).min(1).max(10)]).transform((v) => (Array.isArray(v) ? v : [v]));

export const listTicketsInput = z
  .strictObject({
    status: oneOrMany(status).optional(),
    priority: oneOrMany(priority).optional(),
    category: oneOrMany(category).optional(),
    /** null lists unassigned tickets */
    assigneeId: id.nullable().optional(),
    contactId: id.optional(),
    tag: tag.optional(),
    search: text().trim().min(1).max(200).optional(),
    cursor: id.optional(),
    limit,
    sort: z.enum(['newest', 'oldest']).default('newest'),
  })
  .default({ limit: 25, sort: 'newest' });
export type ListTicketsInput = z.infer<typeof listTicketsInput>;

export const ticketHistoryInput = z.strictObject({ id, cursor: eventCursor.optional(), limit });

export const claimInput = z.strictObject({ limit: z.number().int().min(1).max(15).default(15) }).default({ limit: 15 });

export const claimOutput = z.object({ items: z.array(ticketOutput), claimed: z.number().int() });

export const suggestInput = z.strictObject({ title: text().max(200).optional(), description: nonBlank(20_000) });

export const suggestOutput = z.object({
  category,
  priority,
  confidence: z.number().min(0).max(1),
  source: z.enum(['llm', 'builtin']),
  model: z.string().optional(),
});

export const statsOutput = z.object({
  total: z.number(),
  byStatus: z.record(z.string(), z.number()),
  byPriority: z.record(z.string(), z.number()),
  byCategory: z.record(z.string(), z.number()),
  byAssignee: z.array(z.object({ assigneeId: z.uuid().nullable(), name: z.string().nullable(), open: z.number(), total: z.number() })),
  medianFirstResponseSeconds: z.number().nullable(),
  medianResolutionSeconds: z.number().nullable(),
});

export const deletedOutput = z.object({ id: z.uuid(), deleted: z.literal(true) });
