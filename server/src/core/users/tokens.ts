// API tokens of a user: issued (shown once), listed, revoked (admins only).
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { assertRole } from '../access.ts';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import { iso } from '../schemas.ts';
import { atomically } from '../transaction.ts';
import { announceAuthChange, issueToken } from './auth.ts';
import { getUser, listTokens } from './queries.ts';
import { tokenDto, type TokenOutput } from './schemas.ts';

const assertAdmin = (user: SessionUser) => assertRole(user, 'admin');

export async function createApiToken(db: Kysely<Database>, user: SessionUser, input: { userId: string; name: string }) {
  assertAdmin(user);
  const owner = await getUser(db, input.userId);
  if (!owner) throw new AppError('NOT_FOUND', 'user not found', { field: 'userId' });
  const t = await issueToken(db, owner.id, input.name);
  return { id: t.id, name: t.name, token: t.token, createdAt: iso(t.createdAt) };
}

/** Revokes a token at once: its open event streams are told to recheck now. */
export async function revokeApiToken(db: Kysely<Database>, user: SessionUser, tokenId: string) {
  assertAdmin(user);
  const row = await atomically(db, async (trx) => {
    const revoked = await trx
      .updateTable('api_tokens')
      .set({ revoked_at: sql<Date>`coalesce(revoked_at, now())` as unknown as Date })
      .where('id', '=', tokenId)
      .returning(['id', 'user_id', 'revoked_at'])
      .executeTakeFirst();
    if (revoked) await announceAuthChange(trx, revoked.user_id);
    return revoked;
  });
  if (!row) throw new AppError('NOT_FOUND', 'token not found');
  return { id: row.id, revokedAt: iso(row.revoked_at!) };
}

export async function apiTokensOf(db: Kysely<Database>, user: SessionUser, userId: string): Promise<TokenOutput[]> {
  assertAdmin(user);
  return (await listTokens(db, userId)).map(tokenDto);
}
