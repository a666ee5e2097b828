// Operator commands (`npm run admin`): the core commands admins run through
// the API, for whoever holds DATABASE_URL on a machine of the deployment
// rather than a signed-in admin — the way back in when no admin can sign in.
// Users are named by email; a password that is not given is generated and
// returned, for the caller to show once.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import type { Jobs } from '../jobs/send.ts';
import { generatePassword } from './bootstrap.ts';
import { createUser } from './create.ts';
import type { CreateUserInput, UserOutput } from './schemas.ts';
import { createApiToken } from './tokens.ts';
import { updateUser } from './update.ts';

/**
 * The operator as a caller: an admin that is no user. The commands below
 * record no actor (only a role or activation change that releases tickets
 * does, which no operator command makes), so its id never reaches a row.
 */
const OPERATOR: SessionUser = {
  id: '00000000-0000-0000-0000-000000000000',
  name: 'operator',
  email: 'operator@localhost',
  role: 'admin',
  contactId: null,
  tokenId: '00000000-0000-0000-0000-000000000000',
};

export interface WithPassword {
  user: UserOutput;
  /** Set when it was generated: to be shown once, never stored in clear. */
  generatedPassword?: string;
}

async function userIdByEmail(db: Kysely<Database>, email: string): Promise<string> {
  const row = await db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND', `no user has the email ${email}`, { field: 'email' });
  return row.id;
}

/** `admin create`: a user of any role, with the given password or a generated one. */
export async function operatorCreateUser(db: Kysely<Database>, jobs: Jobs, input: CreateUserInput): Promise<WithPassword> {
  const generatedPassword = input.password ? undefined : generatePassword();
  const user = await createUser(db, jobs, { ...input, password: input.password ?? generatedPassword! });
  return { user, ...(generatedPassword ? { generatedPassword } : {}) };
}

/**
 * `admin reset-password`: a new password (given or generated). As with
 * users.update, it ends every login session of the user; their API tokens
 * stay until revoked.
 */
export async function operatorResetPassword(db: Kysely<Database>, jobs: Jobs, input: { email: string; password?: string | undefined }): Promise<WithPassword> {
  const id = await userIdByEmail(db, input.email);
  const generatedPassword = input.password ? undefined : generatePassword();
  const user = await updateUser(db, jobs, OPERATOR, { id, password: input.password ?? generatedPassword! });
  return { user, ...(generatedPassword ? { generatedPassword } : {}) };
}

/** `admin token`: a new API token for the user, returned once. */
export async function operatorIssueToken(db: Kysely<Database>, input: { email: string; name: string }) {
  const userId = await userIdByEmail(db, input.email);
  return createApiToken(db, OPERATOR, { userId, name: input.name });
}
