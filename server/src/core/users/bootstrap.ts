// First boot of an empty database: the first admin, with a password and an
// API token. Any process may be the first to boot (npm start, a server, the
// image): an advisory lock makes exactly one of them create it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import { generateToken, hashPassword, hashToken } from './auth.ts';

export const FIRST_ADMIN_EMAIL = 'admin@relaydesk.local';

export interface FirstAdmin {
  email: string;
  /** Set when it was generated: shown once, by the caller, and never stored in clear. */
  generatedPassword?: string;
  /** Where its API token was written (mode 0600). */
  tokenFile: string;
}

/**
 * Creates the first admin when there is no user at all: `email`, with
 * `password` or a generated one, and an API token written to
 * `<dataDir>/admin-token`. Returns what it created, or undefined when the
 * database already had users.
 */
export async function ensureFirstAdmin(
  db: Kysely<Database>,
  opts: { dataDir: string; email?: string; password?: string | undefined },
): Promise<FirstAdmin | undefined> {
  // Cheap check first: every boot but the first stops here.
  if (await db.selectFrom('users').select('id').limit(1).executeTakeFirst()) return undefined;
  const email = (opts.email ?? FIRST_ADMIN_EMAIL).trim().toLowerCase();
  const generatedPassword = opts.password ? undefined : randomBytes(15).toString('base64url');
  const passwordHash = await hashPassword(opts.password ?? generatedPassword!);
  const token = generateToken();
  const tokenFile = path.join(opts.dataDir, 'admin-token');
  const created = await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(7390124)`.execute(trx);
    const any = await trx.selectFrom('users').select('id').limit(1).executeTakeFirst();
    if (any) return false;
    const id = uuidv7();
    await trx.insertInto('users').values({ id, name: 'Admin', email, role: 'admin', password_hash: passwordHash }).execute();
    await trx.insertInto('api_tokens').values({ id: uuidv7(), user_id: id, token_hash: hashToken(token), name: 'first-boot' }).execute();
    // Written before commit: if the write fails, no admin exists whose token is lost.
    fs.mkdirSync(opts.dataDir, { recursive: true });
    fs.rmSync(tokenFile, { force: true });
    fs.writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
    return true;
  });
  if (!created) return undefined;
  return { email, tokenFile, ...(generatedPassword ? { generatedPassword } : {}) };
}
