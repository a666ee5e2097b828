// First boot of an empty database: an admin and its API token.
import fs from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import { generateToken, hashToken } from './auth.ts';

export const FIRST_ADMIN_EMAIL = 'admin@relaydesk.local';

/**
 * Creates the first admin when there is no user at all, and writes its token
 * to `<dataDir>/admin-token` (mode 0600). Returns the file's path when it
 * created one. Safe against two processes booting at once.
 */
export async function ensureFirstAdmin(db: Kysely<Database>, dataDir: string): Promise<string | undefined> {
  const token = generateToken();
  const created = await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(7390124)`.execute(trx);
    const any = await trx.selectFrom('users').select('id').limit(1).executeTakeFirst();
    if (any) return false;
    const id = uuidv7();
    await trx.insertInto('users').values({ id, name: 'Admin', email: FIRST_ADMIN_EMAIL, role: 'admin', password_hash: null }).execute();
    await trx.insertInto('api_tokens').values({ id: uuidv7(), user_id: id, token_hash: hashToken(token), name: 'first-boot' }).execute();
    // Written before commit: if the write fails, no admin exists whose token is lost.
    fs.mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, 'admin-token');
    fs.rmSync(file, { force: true });
    fs.writeFileSync(file, token + '\n', { mode: 0o600 });
    return true;
  });
  return created ? path.join(dataDir, 'admin-token') : undefined;
}
