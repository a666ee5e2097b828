// auth.login: email and password for a login token, with failures counted
// in Postgres so every server process shares one budget.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { AppError } from '../errors.ts';
import { RateLimiter } from '../rate-limit.ts';
import { issueToken, LOGIN_TOKEN_TTL_MS, verifyPassword } from './auth.ts';
import { findLoginUser, getUser } from './queries.ts';
import { userDto, type UserOutput } from './schemas.ts';

export interface LoginLimits {
  perEmail: RateLimiter;
  perAddress: RateLimiter;
}

/** Failed logins per 15 minutes: 10 per email, 100 per client address (an office behind one NAT shares an address). */
export function createLoginLimits(db: Kysely<Database>): LoginLimits {
  return {
    perEmail: new RateLimiter(db, { name: 'login-email', points: 10, windowSeconds: 15 * 60 }),
    perAddress: new RateLimiter(db, { name: 'login-address', points: 100, windowSeconds: 15 * 60 }),
  };
}

export async function login(
  db: Kysely<Database>,
  limits: LoginLimits,
  input: { email: string; password: string },
  clientAddress: string,
): Promise<{ token: string; user: UserOutput }> {
  // Counted before the (slow) verification, each in one atomic statement, so
  // parallel or batched guesses can't slip in under the limit; a success
  // takes it back.
  const byEmail = await limits.perEmail.take(input.email);
  const byAddress = byEmail > 0 ? 0 : await limits.perAddress.take(clientAddress);
  const wait = Math.max(byEmail, byAddress);
  if (wait > 0) throw new AppError('TOO_MANY_REQUESTS', `too many failed logins; try again in ${wait} s`);
  const found = await findLoginUser(db, input.email);
  const ok = await verifyPassword(found?.password_hash ?? null, input.password);
  if (!found || !ok || !found.active) throw new AppError('UNAUTHORIZED', 'wrong email or password');
  await Promise.all([limits.perEmail.reset(input.email), limits.perAddress.undo(clientAddress)]);
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
