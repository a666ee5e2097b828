import { sql, type Kysely, type Transaction } from 'kysely';
import type { Category, Database, Priority, Status, TicketUpdate } from '@relaydesk/db';

export const ticketColumns = [
  'id',
  'number',
  'title',
  'description',
  'status',
  'priority',
  'category',
  'tags',
  'contact_id',
  'assignee_id',
  'classification',
  'resolution',
  'version',
  'created_at',
  'updated_at',
  'first_response_at',
  'resolved_at',
] as const;

export interface TicketFilters {
  status?: Status[];
  priority?: Priority[];
  category?: Category[];
  /** null: unassigned */
  assigneeId?: string | null;
  contactId?: string;
  tag?: string;
  search?: string;
  cursor?: string;
  sort: 'newest' | 'oldest';
  limit: number;
}

export async function getTicket(db: Kysely<Database>, id: string) {
  return db.selectFrom('tickets').select(ticketColumns).where('id', '=', id).executeTakeFirst();
}

/** Locks the ticket row for the rest of the transaction. */
export async function lockTicket(trx: Transaction<Database>, id: string) {
  return trx.selectFrom('tickets').select(ticketColumns).where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function updateTicketRow(trx: Transaction<Database>, id: string, patch: TicketUpdate) {
  return trx
    .updateTable('tickets')
    .set({ ...patch, updated_at: sql<Date>`now()` as unknown as Date, version: sql<number>`version + 1` as unknown as number })
    .where('id', '=', id)
    .returning(ticketColumns)
    .executeTakeFirstOrThrow();
}

/**
 * One page of tickets, newest (or oldest) first by id — uuid v7, so creation
 * order — fetching one extra row to know whether another page follows.
 */
export async function listTickets(db: Kysely<Database>, f: TicketFilters) {
  let q = db.selectFrom('tickets').select(ticketColumns);
  if (f.status?.length) q = q.where('status', 'in', f.status);
  if (f.priority?.length) q = q.where('priority', 'in', f.priority);
  if (f.category?.length) q = q.where('category', 'in', f.category);
  if (f.assigneeId !== undefined) {
    q = f.assigneeId === null ? q.where('assignee_id', 'is', null) : q.where('assignee_id', '=', f.assigneeId);
  }
  if (f.contactId) q = q.where('contact_id', '=', f.contactId);
  if (f.tag) q = q.where('tags', '@>', sql<string[]>`array[${f.tag}]::text[]`);
  if (f.search) {
    // websearch syntax ("quoted phrase", -exclude, or) with the input bound
    // as a parameter; "#123" or "123" also finds ticket number 123.
    const num = /^#?(\d{1,15})$/.exec(f.search.trim());
    const fts = sql<boolean>`search @@ websearch_to_tsquery('english', ${f.search})`;
    q = q.where(num ? sql<boolean>`(${fts} or number = ${Number(num[1])})` : fts);
  }
  if (f.cursor) q = q.where('id', f.sort === 'newest' ? '<' : '>', f.cursor);
  return q
    .orderBy('id', f.sort === 'newest' ? 'desc' : 'asc')
    .limit(f.limit + 1)
    .execute();
}
