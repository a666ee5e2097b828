// tickets.update and tickets.resolve: a flat partial patch under the row
// lock, with optimistic concurrency, its events, and the assigner woken when
// a slot frees or a ticket rejoins the queue.
import { sql, type Kysely } from 'kysely';
import type { Database, TicketUpdate } from '@relaydesk/db';
import { assertCanModify } from '../access.ts';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import { appendEvents, type NewEvent } from '../events/append.ts';
import type { EventDataMap } from '../events/types.ts';
import { afterHoldingChange, type Jobs } from '../jobs/send.ts';
import { atomically } from '../transaction.ts';
import { lockTicket, updateTicketRow } from './queries.ts';
import { ticketDto, type TicketOutput, type TicketRow, type UpdateTicketInput } from './schemas.ts';

const patchable = ['title', 'description', 'status', 'priority', 'category', 'tags', 'assigneeId', 'resolution'] as const;
const columnOf = { assigneeId: 'assignee_id' } as const;
const column = (f: (typeof patchable)[number]) => (f in columnOf ? columnOf[f as keyof typeof columnOf] : f) as keyof TicketRow;
const closed = (s: string) => s === 'resolved' || s === 'closed';

export async function updateTicket(
  db: Kysely<Database>,
  jobs: Jobs,
  user: SessionUser,
  input: UpdateTicketInput,
  opts: { resolving?: boolean } = {},
): Promise<TicketOutput> {
  const fields = patchable.filter((f) => input[f] !== undefined);
  if (fields.length === 0) throw new AppError('BAD_REQUEST', 'nothing to update: give at least one field');
  return atomically(db, async (trx) => {
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
    const actor = { type: 'user' as const, id: user.id };
    const events: NewEvent[] = [
      {
        type: 'ticket.updated',
        ticketId: ticket.id,
        actor,
        data: { changes: changes as EventDataMap['ticket.updated']['changes'], version: updated.version },
      },
    ];
    if (changes.assigneeId) {
      events.push({ type: 'ticket.assigned', ticketId: ticket.id, actor, data: { from: ticket.assignee_id, to: updated.assignee_id, reason: 'manual' } });
    }
    if (changes.status && input.status === 'resolved') {
      events.push({ type: 'ticket.resolved', ticketId: ticket.id, actor, data: { resolution: updated.resolution } });
    }
    await appendEvents(trx, events);
    await afterHoldingChange(jobs, trx, ticket.id, ticket, updated);
    return ticketDto(updated);
  });
}

/** tickets.resolve: an update to `resolved` that refuses a ticket already resolved or closed. */
export function resolveTicket(
  db: Kysely<Database>,
  jobs: Jobs,
  user: SessionUser,
  input: { id: string; expectedVersion?: number | undefined; resolution?: string | undefined },
): Promise<TicketOutput> {
  return updateTicket(db, jobs, user, { ...input, status: 'resolved' }, { resolving: true });
}
