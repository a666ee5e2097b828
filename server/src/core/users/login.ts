// auth.login: email and password for a login token, with failures counted
// in Postgres so every server process shares one budget.
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { AppError } from '../errors.ts';
import { RateLimiter } from '../rate-limit.ts';
import { issueToken, LOGIN_TOKEN_TTL_MS, verifyPassword } from './auth.ts';
import { findLoginUser, getUser } from './queries.ts';
import { userDto, type UserOutput } from './schemas.ts';

export interface LoginLimits {
  perAccountAndAddress: RateLimiter;
  perAddress: RateLimiter;
}

/**
 * Failed logins per 15 minutes: 10 per account from one client address, and
 * a ceiling of 100 per address (an office behind one NAT shares one). Counted
 * per account *and* address, so guessing from elsewhere never locks the
 * owner out of their own account.
 */
export function createLoginLimits(db: Kysely<Database>): LoginLimits {
  return {
    perAccountAndAddress: new RateLimiter(db, { name: 'login', points: 10, windowSeconds: 15 * 60 }),
    perAddress: new RateLimiter(db, { name: 'login-address', points: 100, windowSeconds: 15 * 60 }),
  };
}

// Keys fit the table's 255 characters whatever the email's length.
const accountKey = (email: string, address: string) => createHash('sha256').update(`${email}\n${address}`).digest('base64url');

export async function login(
  db: Kysely<Database>,
  limits: LoginLimits,
  input: { email: string; password: string },
  clientAddress: string,
): Promise<{ token: string; user: UserOutput }> {
  // Counted before the (slow) verification, each in one atomic statement, so
  // parallel or batched guesses can't slip in under the limit; a success
  // takes it back.
  const key = accountKey(input.email, clientAddress);
  const byAccount = await limits.perAccountAndAddress.take(key);
  const byAddress = byAccount > 0 ? 0 : await limits.perAddress.take(clientAddress);
  // Refused for the address's ceiling: this attempt does not count against the account.
  if (byAddress > 0) await limits.perAccountAndAddress.undo(key);
  const wait = Math.max(byAccount, byAddress);
  if (wait > 0) throw new AppError('TOO_MANY_REQUESTS', `too many failed logins; try again in ${wait} s`, { retryAfterSeconds: wait });
  const found = await findLoginUser(db, input.email);
  const ok = await verifyPassword(found?.password_hash ?? null, input.password);
  if (!found || !ok || !found.active) throw new AppError('UNAUTHORIZED', 'wrong email or password');
  await Promise.all([limits.perAccountAndAddress.reset(key), limits.perAddress.undo(clientAddress)]);
  const { token } = await issueToken(db, found.id, 'login', LOGIN_TOKEN_TTL_MS);
  const user = await getUser(db, found.id);
  return { token, user: userDto(user!) };
}

/** auth.me: the caller, as stored now. */
export async function me(db: Kysely<Database>, userId: string): Promise<UserOutput> {
  const user = await getUser(db, userId);
  if (!user) throw new AppError('UNAUTHORIZED', 'user no longer exists');
  return userDto(user);
}
