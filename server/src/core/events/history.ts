// tickets.history: a ticket's audit trail, from the same log subscribers read.
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { AppError } from '../errors.ts';
import { getTicket } from '../tickets/queries.ts';
import { assertCanRead } from '../access.ts';
import type { SessionUser } from '../caller.ts';
import { eventColumns, eventFor, loggedEvent } from './log.ts';
import { sequencePass } from './sequencer.ts';
import { cursorOf, positionOf, type RelaydeskEvent } from './types.ts';
import { audienceOf, visibleWhere } from './visibility.ts';

export async function ticketHistory(
  db: Kysely<Database>,
  user: SessionUser,
  input: { id: string; cursor?: string | undefined; limit: number },
): Promise<{ items: RelaydeskEvent[]; nextCursor: string | null }> {
  const audience = audienceOf(user);
  const ticket = await getTicket(db, input.id);
  // A deleted ticket keeps its history, for staff.
  if (ticket || user.role === 'customer') assertCanRead(user, ticket);

  // Read your writes: events committed a moment ago may not be positioned
  // yet; position them now rather than leave them out.
  for (let pass = 0; pass < 20 && (await hasUnpositioned(db, input.id)); pass++) await sequencePass(db);

  let q = db
    .selectFrom('events')
    .select(eventColumns)
    .where('ticket_id', '=', input.id)
    .where('position', 'is not', null)
    .where(visibleWhere(audience))
    .orderBy('position')
    .limit(input.limit + 1);
  if (input.cursor) q = q.where('position', '>', positionOf(input.cursor));
  const rows = (await q.execute()).map(loggedEvent);
  if (!ticket && rows.length === 0 && !input.cursor) throw new AppError('NOT_FOUND', 'ticket not found');
  const more = rows.length > input.limit;
  const items = (more ? rows.slice(0, input.limit) : rows).map((e) => eventFor(audience, e));
  return { items, nextCursor: more ? cursorOf(rows[input.limit - 1]!.position) : null };
}

async function hasUnpositioned(db: Kysely<Database>, ticketId: string): Promise<boolean> {
  const { rows } = await sql<{ any: boolean }>`
    select exists (select 1 from events where position is null and ticket_id = ${ticketId}) as any`.execute(db);
  return rows[0]!.any;
}
