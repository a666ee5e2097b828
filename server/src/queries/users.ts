import type { Kysely } from 'kysely';
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

export async function countActiveAdmins(db: Kysely<Database>, exceptId: string) {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role', '=', 'admin')
    .where('active', '=', true)
    .where('id', '<>', exceptId)
    .executeTakeFirstOrThrow();
  return row.n;
}

export async function listTokens(db: Kysely<Database>, userId: string) {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'created_at', 'last_used_at', 'revoked_at'])
    .where('user_id', '=', userId)
    .orderBy('id')
    .execute();
}
