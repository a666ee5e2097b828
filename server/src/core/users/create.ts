// users.create: a user; a customer also gets (or is linked to) their contact.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';
import { upsertContact } from '../contacts/queries.ts';
import { sendAssignDrain, type Jobs } from '../jobs/send.ts';
import { atomically } from '../transaction.ts';
import { hashPassword } from './auth.ts';
import { userColumns } from './queries.ts';
import { userDto, type CreateUserInput, type UserOutput } from './schemas.ts';

/** Creates a user; a customer also gets (or is linked to) the contact of their email. */
export async function createUser(db: Kysely<Database>, jobs: Jobs | null, input: CreateUserInput): Promise<UserOutput> {
  const passwordHash = input.password ? await hashPassword(input.password) : null;
  return atomically(db, async (trx) => {
    const contactId = input.role === 'customer' ? await upsertContact(trx, input.email, input.name) : null;
    const row = await trx
      .insertInto('users')
      .values({
        id: uuidv7(),
        name: input.name,
        email: input.email,
        role: input.role,
        password_hash: passwordHash,
        capacity: input.capacity ?? 15,
        contact_id: contactId,
      })
      .returning(userColumns)
      .executeTakeFirstOrThrow();
    // A new agent is new capacity for tickets that wait.
    if (jobs && row.role === 'agent') await sendAssignDrain(jobs, trx);
    return userDto(row);
  });
}
