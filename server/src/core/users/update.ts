// users.update: name, role, activation, capacity, password — with the
// guard that keeps one active admin, and the tickets of someone who can no
// longer work them given back to the queue.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';
import { assertRole } from '../access.ts';
import type { SessionUser } from '../caller.ts';
import { upsertContact } from '../contacts/queries.ts';
import { AppError } from '../errors.ts';
import { appendEvents, type Actor } from '../events/append.ts';
import { sendAssignDrain, type Jobs } from '../jobs/send.ts';
import { atomically } from '../transaction.ts';
import { announceAuthChange, hashPassword } from './auth.ts';
import { lockActiveAdmins, lockOpenTicketsOf, userColumns } from './queries.ts';
import { userDto, type UpdateUserInput, type UserOutput } from './schemas.ts';

/** Unassigns every open ticket of `userId`, recording why; returns how many. */
async function releaseOpenTickets(trx: Transaction<Database>, userId: string, actor: Actor): Promise<number> {
  const released = await trx
    .updateTable('tickets')
    .set({ assignee_id: null, version: sql`version + 1`, updated_at: sql`now()` })
    .where('assignee_id', '=', userId)
    .where('status', 'not in', ['resolved', 'closed'])
    .returning(['id', 'version'])
    .execute();
  await appendEvents(
    trx,
    released.map((t) => ({ type: 'ticket.assigned', ticketId: t.id, actor, data: { from: userId, to: null, reason: 'released', version: t.version } })),
  );
  return released.length;
}

export async function updateUser(db: Kysely<Database>, jobs: Jobs, user: SessionUser, input: UpdateUserInput): Promise<UserOutput> {
  assertRole(user, 'admin');
  const { id: userId, password: newPassword, ...patch } = input;
  if (Object.keys(patch).length === 0 && !newPassword) throw new AppError('BAD_REQUEST', 'nothing to update: give at least one field');
  const passwordHash = newPassword ? await hashPassword(newPassword) : undefined;
  return atomically(db, async (trx) => {
    // Locks in the one order every path uses: tickets, then users by id.
    const mayLeaveStaff = patch.active === false || patch.role === 'customer';
    if (mayLeaveStaff) await lockOpenTicketsOf(trx, userId);
    const mayLoseAdmin = patch.active === false || (patch.role !== undefined && patch.role !== 'admin');
    const admins = mayLoseAdmin ? await lockActiveAdmins(trx) : [];
    const current = await trx.selectFrom('users').select(['id', 'role', 'email', 'name', 'contact_id']).where('id', '=', userId).forNoKeyUpdate().executeTakeFirst();
    if (!current) throw new AppError('NOT_FOUND', 'user not found');
    // Guard against locking everyone out: the last active admin stays one.
    if (mayLoseAdmin && admins.includes(userId) && admins.length === 1) {
      throw new AppError('CONFLICT', 'this is the last active admin: it cannot be demoted or deactivated', { field: patch.role ? 'role' : 'active' });
    }
    const contactId =
      patch.role === 'customer' && !current.contact_id ? await upsertContact(trx, current.email, patch.name ?? current.name) : undefined;
    const row = await trx
      .updateTable('users')
      .set({
        ...patch,
        ...(passwordHash ? { password_hash: passwordHash } : {}),
        ...(contactId ? { contact_id: contactId } : {}),
        updated_at: sql<Date>`now()` as unknown as Date,
      })
      .where('id', '=', userId)
      .returning(userColumns)
      .executeTakeFirstOrThrow();
    // A new password ends every session opened with the old one (login
    // tokens); API tokens an admin issued stay until revoked.
    if (passwordHash) {
      await trx
        .updateTable('api_tokens')
        .set({ revoked_at: sql<Date>`now()` as unknown as Date })
        .where('user_id', '=', userId)
        .where('expires_at', 'is not', null)
        .where('revoked_at', 'is', null)
        .execute();
    }
    // Someone who can no longer work tickets gives their open ones back to the queue.
    const leftStaff = mayLeaveStaff && current.role !== 'customer';
    const released = leftStaff ? await releaseOpenTickets(trx, userId, { type: 'user', id: user.id }) : 0;
    // More capacity, a reactivated or new agent, released tickets: waiting tickets may now fit.
    if (released > 0 || (row.role === 'agent' && row.active && (patch.capacity !== undefined || patch.active || patch.role))) {
      await sendAssignDrain(jobs, trx);
    }
    // Who the user is to a request (role, name, being active) or which tokens still work changed.
    if (patch.role !== undefined || patch.active !== undefined || patch.name !== undefined || passwordHash) {
      await announceAuthChange(trx, userId);
    }
    return userDto(row);
  });
}
