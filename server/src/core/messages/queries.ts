import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';

export async function listMessages(db: Kysely<Database>, ticketId: string, includeInternal: boolean) {
  let q = db
    .selectFrom('messages as m')
    .leftJoin('users as u', 'u.id', 'm.author_id')
    .select(['m.id', 'm.ticket_id', 'm.author_type', 'm.author_id', 'u.name as author_name', 'u.role as author_role', 'm.body', 'm.internal', 'm.created_at'])
    .where('m.ticket_id', '=', ticketId)
    .orderBy('m.id');
  if (!includeInternal) q = q.where('m.internal', '=', false);
  return q.execute();
}
