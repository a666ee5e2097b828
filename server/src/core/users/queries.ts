import type { Kysely, Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';

/** Every column a caller may see: never password_hash. */
export const userColumns = ['id', 'name', 'email', 'role', 'active', 'capacity', 'contact_id', 'created_at', 'updated_at'] as const;

export async function getUser(db: Kysely<Database>, id: string) {
  return db.selectFrom('users').select(userColumns).where('id', '=', id).executeTakeFirst();
}

export async function listUsers(
  db: Kysely<Database>,
  opts: { role?: 'admin' | 'agent' | 'customer'; active?: boolean; cursor?: string; limit: number },
) {
  let q = db.selectFrom('users').select(userColumns).orderBy('id', 'asc').limit(opts.limit + 1);
  if (opts.role) q = q.where('role', '=', opts.role);
  if (opts.active !== undefined) q = q.where('active', '=', opts.active);
  if (opts.cursor) q = q.where('id', '>', opts.cursor);
  return q.execute();
}

export async function findLoginUser(db: Kysely<Database>, email: string) {
  return db
    .selectFrom('users')
    .select(['id', 'password_hash', 'active'])
    .where('email', '=', email)
    .executeTakeFirst();
}

/**
 * Locks every active admin's row (in id order, like every other path that
 * locks users) and returns their ids: two admins demoting each other at once
 * then queue behind one another instead of both seeing the other still active.
 * User rows are always locked FOR NO KEY UPDATE: strong enough against each
 * other, and no conflict with the KEY SHARE a ticket's foreign-key check takes.
 */
export async function lockActiveAdmins(trx: Transaction<Database>): Promise<string[]> {
  const rows = await trx.selectFrom('users').select('id').where('role', '=', 'admin').where('active', '=', true).orderBy('id').forNoKeyUpdate().execute();
  return rows.map((r) => r.id);
}

/** Locks a user's open tickets: taken before the user's own row, the order every path uses (tickets, then users). */
export async function lockOpenTicketsOf(trx: Transaction<Database>, userId: string): Promise<void> {
  await trx
    .selectFrom('tickets')
    .select('id')
    .where('assignee_id', '=', userId)
    .where('status', 'not in', ['resolved', 'closed'])
    .orderBy('id')
    .forUpdate()
    .execute();
}

export async function listTokens(db: Kysely<Database>, userId: string) {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'created_at', 'expires_at', 'last_used_at', 'revoked_at'])
    .where('user_id', '=', userId)
    .orderBy('id')
    .execute();
}
