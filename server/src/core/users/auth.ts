// Opaque bearer tokens (stored as SHA-256) and argon2id password hashes.
import { createHash, randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import type { SessionUser } from '../caller.ts';
import type { TokenCache } from './token-cache.ts';

const TOKEN_PREFIX = 'rd_';
const LAST_USED_EVERY_MS = 5 * 60_000;

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashPassword(password: string): Promise<string> {
  return hash(password); // argon2id, the library's OWASP-recommended defaults
}

// Verified when the email is unknown, so both paths take the same time and
// login does not reveal which emails exist.
const dummyHash = hash('relaydesk-timing-equaliser');

export async function verifyPassword(passwordHash: string | null, password: string): Promise<boolean> {
  if (!passwordHash) {
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return verify(passwordHash, password).catch(() => false);
}

/** How long a token from auth.login lasts. */
export const LOGIN_TOKEN_TTL_MS = 30 * 24 * 3600_000;

/**
 * Issues a token for `userId`; returns the plaintext, which is never stored.
 * `ttlMs` makes it a session token that expires (login); without it, an API
 * token that lives until revoked.
 */
export async function issueToken(db: Kysely<Database>, userId: string, name: string, ttlMs?: number) {
  const token = generateToken();
  const row = await db
    .insertInto('api_tokens')
    .values({
      id: uuidv7(),
      user_id: userId,
      token_hash: hashToken(token),
      name,
      expires_at: ttlMs ? new Date(Date.now() + ttlMs) : null,
    })
    .returning(['id', 'name', 'created_at'])
    .executeTakeFirstOrThrow();
  return { token, id: row.id, name: row.name, createdAt: row.created_at };
}

/** The active user behind a bearer token, or null. One indexed lookup. */
function activeTokens(db: Kysely<Database>) {
  return db
    .selectFrom('api_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select(['u.id', 'u.name', 'u.email', 'u.role', 'u.contact_id', 't.id as token_id', 't.last_used_at', 't.expires_at'])
    .where('t.revoked_at', 'is', null)
    .where((eb) => eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', sql<Date>`now()`)]))
    .where('u.active', '=', true);
}

type TokenRow = { id: string; name: string; email: string; role: SessionUser['role']; contact_id: string | null; token_id: string };
const sessionUser = (row: TokenRow): SessionUser => ({
  id: row.id,
  name: row.name,
  email: row.email,
  role: row.role,
  contactId: row.contact_id,
  tokenId: row.token_id,
});

/**
 * The active user behind a bearer token, or null. From `cache` when it holds
 * the token (no database round trip), else one indexed lookup.
 */
export async function userForToken(db: Kysely<Database>, token: string, cache?: TokenCache): Promise<SessionUser | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 100) return null;
  const hash = hashToken(token);
  const key = cache ? hash.toString('hex') : '';
  const cached = cache?.get(key);
  if (cached) {
    cached.lastUsedAt = recordUse(db, cached.user.tokenId, cached.lastUsedAt);
    return cached.user;
  }
  const generation = cache?.generation ?? 0;
  const row = await activeTokens(db).where('t.token_hash', '=', hash).executeTakeFirst();
  if (!row) return null;
  const user = sessionUser(row);
  const lastUsedAt = recordUse(db, row.token_id, row.last_used_at?.getTime() ?? null);
  cache?.set(key, generation, { user, tokenExpiresAt: row.expires_at, lastUsedAt });
  return user;
}

/**
 * Records a token's use at most every few minutes, in the background: a
 * write per request would cost more than the request, and bookkeeping never
 * fails or delays one. Returns when its use was last recorded, now included.
 */
function recordUse(db: Kysely<Database>, tokenId: string, lastUsedAt: number | null): number | null {
  const now = Date.now();
  if (lastUsedAt !== null && now - lastUsedAt <= LAST_USED_EVERY_MS) return lastUsedAt;
  db.updateTable('api_tokens')
    .set({ last_used_at: new Date(now) })
    .where('id', '=', tokenId)
    .execute()
    .catch(() => {});
  return now;
}

/**
 * The caller behind a token already checked once, as it is now: null when the
 * token was revoked or expired since, or its user deactivated. Long-lived
 * streams recheck with it.
 */
export async function userForTokenId(db: Kysely<Database>, tokenId: string): Promise<SessionUser | null> {
  const row = await activeTokens(db).where('t.id', '=', tokenId).executeTakeFirst();
  return row ? sessionUser(row) : null;
}

export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** Sent (by any process) when a token or user changes, so open streams recheck their caller. */
export const AUTH_CHANNEL = 'relaydesk_auth';

/**
 * Tells every server that a user's tokens or permissions changed, so their
 * open event streams recheck now rather than at the next periodic check.
 * Rare (an admin action), so a NOTIFY per change costs nothing that matters.
 */
export async function announceAuthChange(trx: Transaction<Database>, userId: string): Promise<void> {
  await sql`select pg_notify(${AUTH_CHANNEL}, ${userId})`.execute(trx);
}
