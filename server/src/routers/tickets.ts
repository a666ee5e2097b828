import { z } from 'zod';
import { sql, type Kysely } from 'kysely';
import { CATEGORIES, PRIORITIES, STATUSES, type Database, type Ticket, type TicketUpdate } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import type { AiContext } from '../ai/context.ts';
import { classifyWithFallback } from '../ai/classify.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { afterHoldingChange, sendAssignDrain, type Jobs } from '../jobs.ts';
import { ticketHistory } from '../events/history.ts';
import type { EventMessage, EventTicket } from '../events/types.ts';
import { appendEvent, type Actor } from '../queries/events.ts';
import { upsertContact } from '../queries/contacts.ts';
import { listMessages } from '../queries/messages.ts';
import { getTicket, listTickets, lockTicket, ticketColumns, ticketStats, updateTicketRow } from '../queries/tickets.ts';
import { adminProcedure, authedProcedure, roleProcedure, router, staffProcedure, type SessionUser } from '../trpc.ts';
import { assertCanModify, assertCanRead } from './access.ts';
import { eventCursor } from './events.ts';
import { messageDto, messageOutput, type MessageOutput } from './messages.ts';
import { email, id, iso, isoDate, isoOrNull, limit, name, nonBlank, page, pageOf, text } from './shared.ts';

const status = z.enum(STATUSES);
const priority = z.enum(PRIORITIES);
const category = z.enum(CATEGORIES);
// Text is stored as sent; only its length (after trimming) is checked.
const title = nonBlank(200);
const description = nonBlank(20_000);
const tag = text().trim().toLowerCase().min(1).max(50);
const tags = z
  .array(tag)
  .max(20)
  .transform((t) => [...new Set(t)]);

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

type TicketRow = Pick<Ticket, (typeof ticketColumns)[number]>;

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

const userActor = (user: SessionUser): Actor => ({ type: 'user', id: user.id });

// ---- create ---------------------------------------------------------------

const createInput = z.object({
  title,
  description,
  priority: priority.optional(),
  category: category.optional(),
  tags: tags.optional(),
  contact: z.object({ email, name }).optional(),
});

export async function createTicket(db: Kysely<Database>, jobs: Jobs, user: SessionUser, input: z.infer<typeof createInput>) {
  if (user.role === 'customer' && input.contact) {
    throw new AppError('FORBIDDEN', 'customers file tickets as themselves; omit contact', { field: 'contact' });
  }
  return db.transaction().execute(async (trx) => {
    // Staff filing without a contact are the requester themselves.
    const contactId =
      user.role === 'customer'
        ? user.contactId!
        : await upsertContact(trx, input.contact?.email ?? user.email, input.contact?.name ?? user.name);
    const manual = input.priority !== undefined || input.category !== undefined;
    const ticket = await trx
      .insertInto('tickets')
      .values({
        id: uuidv7(),
        title: input.title,
        description: input.description,
        priority: input.priority ?? null,
        category: input.category ?? null,
        tags: input.tags ?? [],
        contact_id: contactId,
        classification: manual ? { source: 'manual', confidence: 1 } : null,
      })
      .returning(ticketColumns)
      .executeTakeFirstOrThrow();
    const dto = ticketDto(ticket);
    await appendEvent(trx, { type: 'ticket.created', ticketId: ticket.id, contactId, actor: userActor(user), data: { ticket: dto } });
    await sendAssignDrain(jobs, trx, ticket.id, 'created');
    // Classified in the background: creating a ticket never waits on an LLM.
    if (jobs.classify && (ticket.category === null || ticket.priority === null)) {
      await jobs.send(trx, 'ticket.classify', { ticketId: ticket.id });
    }
    return dto;
  });
}

// ---- update ---------------------------------------------------------------

const updateInput = z.object({
  id,
  expectedVersion: z.number().int().min(1).optional(),
  title: title.optional(),
  description: description.optional(),
  status: status.optional(),
  priority: priority.optional(),
  category: category.optional(),
  tags: tags.optional(),
  assigneeId: id.nullable().optional(),
  resolution: text().max(20_000).optional(),
});
type UpdateInput = z.infer<typeof updateInput>;

const patchable = ['title', 'description', 'status', 'priority', 'category', 'tags', 'assigneeId', 'resolution'] as const;
const columnOf = { assigneeId: 'assignee_id' } as const;
const column = (f: (typeof patchable)[number]) => (f in columnOf ? columnOf[f as keyof typeof columnOf] : f) as keyof TicketRow;
const closed = (s: string) => s === 'resolved' || s === 'closed';

export async function updateTicket(
  db: Kysely<Database>,
  jobs: Jobs,
  user: SessionUser,
  input: UpdateInput,
  opts: { resolving?: boolean } = {},
) {
  const fields = patchable.filter((f) => input[f] !== undefined);
  if (fields.length === 0) throw new AppError('BAD_REQUEST', 'nothing to update: give at least one field');
  return db.transaction().execute(async (trx) => {
    const ticket = await lockTicket(trx, input.id);
    assertCanModify(user, ticket);
    if (opts.resolving && closed(ticket.status)) {
      throw new AppError('CONFLICT', `the ticket is already ${ticket.status}`, { field: 'status' });
    }
    if (input.expectedVersion !== undefined && input.expectedVersion !== ticket.version) {
      throw new AppError('CONFLICT', `stale version: expected ${input.expectedVersion}, the ticket is at ${ticket.version}`, {
        field: 'expectedVersion',
      });
    }
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    const patch: TicketUpdate = {};
    for (const f of fields) {
      const from = ticket[column(f)];
      const to = input[f];
      if (JSON.stringify(from) === JSON.stringify(to)) continue;
      changes[f] = { from, to };
      (patch as Record<string, unknown>)[column(f)] = to;
    }
    if (Object.keys(changes).length === 0) return ticketDto(ticket); // nothing differs: no new version, no event

    // Whether the new assignee may hold it (active staff, under capacity) is
    // checked by the open-tickets trigger on their locked row.
    if (changes.status) {
      const wasClosed = closed(ticket.status);
      const isClosed = closed(input.status!);
      if (isClosed && !wasClosed) patch.resolved_at = sql<Date>`now()` as unknown as Date;
      if (!isClosed && wasClosed) patch.resolved_at = null;
    }
    if (changes.priority || changes.category) patch.classification = { source: 'manual', confidence: 1 };

    const updated = await updateTicketRow(trx, ticket.id, patch);
    const actor = userActor(user);
    await appendEvent(trx, { type: 'ticket.updated', ticketId: ticket.id, actor, data: { changes, version: updated.version } });
    if (changes.assigneeId) {
      await appendEvent(trx, {
        type: 'ticket.assigned',
        ticketId: ticket.id,
        actor,
        data: { from: ticket.assignee_id, to: updated.assignee_id, reason: 'manual' },
      });
    }
    if (changes.status && input.status === 'resolved') {
      await appendEvent(trx, { type: 'ticket.resolved', ticketId: ticket.id, actor, data: { resolution: updated.resolution } });
    }
    await afterHoldingChange(jobs, trx, ticket.id, ticket, updated);
    return ticketDto(updated);
  });
}

// ---- claim ----------------------------------------------------------------

/**
 * Tops the agent's open assigned tickets up to `limit` (and never past their
 * capacity) from the unassigned ones, oldest first, and returns all of the
 * agent's open tickets, oldest first, with how many were new.
 *
 * Two statements: the agent's row is locked first (a second claim by the same
 * agent waits, then sees the new count), then one statement takes exactly the
 * missing number of tickets with SKIP LOCKED — so concurrent claimers never
 * wait on each other's tickets, never share one, and never hold a ticket they
 * don't take — writes their assignment events, and returns the batch. The
 * limit is a constant in that statement, so the planner walks the unassigned
 * index for a handful of rows instead of sorting the backlog. The open-tickets
 * trigger still refuses anything past capacity.
 */
export async function claimTickets(db: Kysely<Database>, user: SessionUser, limit: number) {
  const cols = sql.raw(ticketColumns.join(', '));
  return db.transaction().execute(async (trx) => {
    const me = await trx
      .selectFrom('users')
      .select(['capacity', 'open_tickets', 'active', 'role'])
      .where('id', '=', user.id)
      .forNoKeyUpdate()
      .executeTakeFirstOrThrow();
    // Checked again under the lock: a deactivation may have committed since the token was.
    if (!me.active || me.role !== 'agent') throw new AppError('FORBIDDEN', 'only active agents claim tickets');
    const want = Math.max(0, Math.min(limit, me.capacity) - me.open_tickets);
    const { rows } = await sql<TicketRow & { claimed: boolean }>`
      with picked as (
        select id from tickets
         where assignee_id is null and status = 'open'
         order by id
         limit ${want}::int
         for update skip locked
      ), taken as (
        update tickets t set assignee_id = ${user.id}, version = t.version + 1, updated_at = now()
          from picked where t.id = picked.id
        returning t.*
      ), logged as (
        insert into events (type, ticket_id, actor_type, actor_id, data)
        select 'ticket.assigned', id, 'user', ${user.id},
               jsonb_build_object('from', null, 'to', ${user.id}::uuid, 'reason', 'claim', 'version', version)
          from taken
      )
      select ${cols}, true as claimed from taken
      union all
      select ${cols}, false as claimed from tickets
       where assignee_id = ${user.id} and status not in ('resolved', 'closed')
      order by id`.execute(trx);
    return { items: rows.map(ticketDto), claimed: rows.filter((r) => r.claimed).length };
  });
}

// ---- suggest --------------------------------------------------------------

/**
 * Category and priority for a form being typed: the LLM within a tight
 * timeout, the built-in classifier when it is slow, failing or absent.
 * Rate-limited per user (the LLM costs money; a form calls this often).
 */
export async function suggestClassification(
  ai: AiContext,
  user: SessionUser,
  input: { title?: string | undefined; description: string },
  log: Logger,
) {
  if (ai.config.modes.suggest === 'off') throw new AppError('PRECONDITION_FAILED', 'suggestions are switched off (AI_SUGGEST=off)');
  const wait = ai.suggestLimiter.take(user.id);
  if (wait > 0) throw new AppError('TOO_MANY_REQUESTS', `too many suggestions; try again in ${wait} s`);
  const r = await classifyWithFallback(ai, 'suggest', input, { timeoutMs: ai.config.suggestTimeoutMs, maxRetries: 0, log });
  return { category: r.category, priority: r.priority, confidence: r.confidence, source: r.source, ...(r.model ? { model: r.model } : {}) };
}

// ---- router ---------------------------------------------------------------

const oneOrMany = <T extends z.ZodType>(s: T) => z.union([s, z.array(s).min(1).max(10)]).transform((v) => (Array.isArray(v) ? v : [v]));

const listInput = z
  .object({
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

export const ticketsRouter = router({
  create: authedProcedure
    .input(createInput)
    .output(ticketOutput)
    .mutation(({ ctx, input }) => createTicket(ctx.db, ctx.jobs, ctx.user, input)),

  list: authedProcedure
    .input(listInput)
    .output(pageOf(ticketOutput))
    .query(async ({ ctx, input }) => {
      let contactId = input.contactId;
      if (ctx.user.role === 'customer') {
        // Customers see only their own tickets, whatever filter they send.
        if (contactId && contactId !== ctx.user.contactId) return { items: [], nextCursor: null };
        contactId = ctx.user.contactId!;
      }
      const rows = await listTickets(ctx.db, { ...input, contactId });
      return page(rows, input.limit, ticketDto);
    }),

  get: authedProcedure
    .input(z.object({ id }))
    .output(ticketOutput.extend({ messages: z.array(messageOutput) }))
    .query(async ({ ctx, input }) => {
      const ticket = await getTicket(ctx.db, input.id);
      assertCanRead(ctx.user, ticket);
      const messages = await listMessages(ctx.db, ticket.id, ctx.user.role !== 'customer');
      return { ...ticketDto(ticket), messages: messages.map(messageDto) };
    }),

  history: authedProcedure
    .input(z.object({ id, cursor: eventCursor.optional(), limit }))
    .query(({ ctx, input }) => ticketHistory(ctx.db, ctx.user, input)),

  update: authedProcedure
    .input(updateInput)
    .output(ticketOutput)
    .mutation(({ ctx, input }) => updateTicket(ctx.db, ctx.jobs, ctx.user, input)),

  resolve: authedProcedure
    .input(z.object({ id, expectedVersion: z.number().int().min(1).optional(), resolution: text().max(20_000).optional() }))
    .output(ticketOutput)
    .mutation(({ ctx, input }) => updateTicket(ctx.db, ctx.jobs, ctx.user, { ...input, status: 'resolved' }, { resolving: true })),

  delete: adminProcedure
    .input(z.object({ id }))
    .output(z.object({ id: z.uuid(), deleted: z.literal(true) }))
    .mutation(({ ctx, input }) =>
      ctx.db.transaction().execute(async (trx) => {
        const gone = await trx
          .deleteFrom('tickets')
          .where('id', '=', input.id)
          .returning(['id', 'number', 'title', 'status', 'assignee_id', 'contact_id'])
          .executeTakeFirst();
        if (!gone) throw new AppError('NOT_FOUND', 'ticket not found');
        await afterHoldingChange(ctx.jobs, trx, gone.id, gone, null);
        await appendEvent(trx, {
          type: 'ticket.deleted',
          ticketId: gone.id,
          contactId: gone.contact_id,
          actor: userActor(ctx.user),
          data: { number: gone.number, title: gone.title },
        });
        return { id: gone.id, deleted: true as const };
      }),
    ),

  claim: roleProcedure('agent')
    .input(z.object({ limit: z.number().int().min(1).max(15).default(15) }).default({ limit: 15 }))
    .output(z.object({ items: z.array(ticketOutput), claimed: z.number().int() }))
    .mutation(({ ctx, input }) => claimTickets(ctx.db, ctx.user, input.limit)),

  suggest: authedProcedure
    .input(z.object({ title: text().max(200).optional(), description: nonBlank(20_000) }))
    .output(
      z.object({
        category,
        priority,
        confidence: z.number().min(0).max(1),
        source: z.enum(['llm', 'builtin']),
        model: z.string().optional(),
      }),
    )
    .query(({ ctx, input }) => suggestClassification(ctx.ai, ctx.user, input, ctx.log)),

  stats: staffProcedure
    .output(
      z.object({
        total: z.number(),
        byStatus: z.record(z.string(), z.number()),
        byPriority: z.record(z.string(), z.number()),
        byCategory: z.record(z.string(), z.number()),
        byAssignee: z.array(z.object({ assigneeId: z.uuid().nullable(), name: z.string().nullable(), open: z.number(), total: z.number() })),
        medianFirstResponseSeconds: z.number().nullable(),
        medianResolutionSeconds: z.number().nullable(),
      }),
    )
    .query(({ ctx }) => ticketStats(ctx.db)),
});
