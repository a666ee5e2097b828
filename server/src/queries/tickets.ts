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

export interface TicketStats {
  total: number;
  byStatus: Record<string, number>;
  byPriority: Record<string, number>;
  byCategory: Record<string, number>;
  byAssignee: { assigneeId: string | null; name: string | null; open: number; total: number }[];
  medianFirstResponseSeconds: number | null;
  medianResolutionSeconds: number | null;
}

/** All of the dashboard's figures in one round trip, aggregated by Postgres. */
export async function ticketStats(db: Kysely<Database>): Promise<TicketStats> {
  const { rows } = await sql<{ stats: TicketStats }>`
    with t as (select status, priority, category, assignee_id, created_at, first_response_at, resolved_at from tickets)
    select json_build_object(
      'total', (select count(*) from t),
      'byStatus', coalesce((select json_object_agg(status, n) from (select status, count(*) n from t group by status) s), '{}'),
      'byPriority', coalesce((select json_object_agg(coalesce(priority, 'unset'), n) from (select priority, count(*) n from t group by priority) s), '{}'),
      'byCategory', coalesce((select json_object_agg(coalesce(category, 'unset'), n) from (select category, count(*) n from t group by category) s), '{}'),
      'byAssignee', coalesce((
        select json_agg(json_build_object('assigneeId', a.assignee_id, 'name', u.name, 'open', a.open, 'total', a.total) order by a.total desc)
        from (
          select assignee_id, count(*) total, count(*) filter (where status not in ('resolved', 'closed')) open
          from t group by assignee_id
        ) a left join users u on u.id = a.assignee_id
      ), '[]'),
      'medianFirstResponseSeconds', (
        select percentile_cont(0.5) within group (order by extract(epoch from first_response_at - created_at))
        from t where first_response_at is not null),
      'medianResolutionSeconds', (
        select percentile_cont(0.5) within group (order by extract(epoch from resolved_at - created_at))
        from t where resolved_at is not null)
    ) as stats`.execute(db);
  return rows[0]!.stats;
}
