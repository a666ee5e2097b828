import { z } from 'zod';
import { ROLES, type Database, type User } from '@relaydesk/db';
import { sql, type Kysely, type Transaction } from 'kysely';
import { uuidv7 } from 'uuidv7';
import { hashPassword, issueToken } from '../auth.ts';
import { AppError } from '../errors.ts';
import { sendAssignDrain, type Jobs } from '../jobs.ts';
import { upsertContact } from '../queries/contacts.ts';
import { AUTH_CHANNEL } from '../events/hub.ts';
import { appendEvents, type Actor } from '../queries/events.ts';
import { getUser, listTokens, listUsers, lockActiveAdmins, lockOpenTicketsOf, userColumns } from '../queries/users.ts';
import { adminProcedure, router } from '../trpc.ts';
import { email, id, iso, isoDate, isoOrNull, limit, name, page, pageOf, text } from './shared.ts';

const role = z.enum(ROLES);
const password = z.string().min(10, 'must be at least 10 characters').max(256);
const capacity = z.number().int().min(0).max(1000);

export const userOutput = z.object({
  id: z.uuid(),
  name: z.string(),
  email: z.string(),
  role,
  active: z.boolean(),
  capacity: z.number().int(),
  contactId: z.uuid().nullable(),
  createdAt: isoDate,
  updatedAt: isoDate,
});
export type UserOutput = z.infer<typeof userOutput>;

export function userDto(u: Pick<User, (typeof userColumns)[number]>): UserOutput {
  return {
    id: u.id,
    name: u.name,
    email: u.email,
    role: u.role,
    active: u.active,
    capacity: u.capacity,
    contactId: u.contact_id,
    createdAt: iso(u.created_at),
    updatedAt: iso(u.updated_at),
  };
}

const createInput = z.object({ name, email, role, password: password.optional(), capacity: capacity.optional() });

/** Creates a user; a customer also gets (or is linked to) the contact of their email. */
export async function createUser(db: Kysely<Database>, jobs: Jobs | null, input: z.infer<typeof createInput>) {
  const passwordHash = input.password ? await hashPassword(input.password) : null;
  return db.transaction().execute(async (trx) => {
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

/**
 * Tells every server that a user's tokens or permissions changed, so their
 * open event streams recheck now rather than at the next periodic check.
 * Rare (an admin action), so a NOTIFY per change costs nothing that matters.
 */
async function announceAuthChange(trx: Transaction<Database>, userId: string): Promise<void> {
  await sql`select pg_notify(${AUTH_CHANNEL}, ${userId})`.execute(trx);
}

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

const tokenOutput = z.object({
  id: z.uuid(),
  name: z.string(),
  createdAt: isoDate,
  expiresAt: isoDate.nullable(),
  lastUsedAt: isoDate.nullable(),
  revokedAt: isoDate.nullable(),
});

export const usersRouter = router({
  create: adminProcedure
    .input(createInput)
    .output(userOutput)
    .mutation(({ ctx, input }) => createUser(ctx.db, ctx.jobs, input)),

  list: adminProcedure
    .input(z.object({ role: role.optional(), active: z.boolean().optional(), cursor: id.optional(), limit }).default({ limit: 25 }))
    .output(pageOf(userOutput))
    .query(async ({ ctx, input }) => page(await listUsers(ctx.db, input), input.limit, userDto)),

  update: adminProcedure
    .input(
      z.object({
        id,
        name: name.optional(),
        role: role.optional(),
        active: z.boolean().optional(),
        capacity: capacity.optional(),
        password: password.optional(),
      }),
    )
    .output(userOutput)
    .mutation(async ({ ctx, input }) => {
      const { id: userId, password: newPassword, ...patch } = input;
      if (Object.keys(patch).length === 0 && !newPassword) throw new AppError('BAD_REQUEST', 'nothing to update: give at least one field');
      const passwordHash = newPassword ? await hashPassword(newPassword) : undefined;
      return ctx.db.transaction().execute(async (trx) => {
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
        const released = leftStaff ? await releaseOpenTickets(trx, userId, { type: 'user', id: ctx.user.id }) : 0;
        // More capacity, a reactivated or new agent, released tickets: waiting tickets may now fit.
        if (released > 0 || (row.role === 'agent' && row.active && (patch.capacity !== undefined || patch.active || patch.role))) {
          await sendAssignDrain(ctx.jobs, trx);
        }
        if (patch.role !== undefined || patch.active !== undefined || passwordHash) await announceAuthChange(trx, userId);
        return userDto(row);
      });
    }),

  createToken: adminProcedure
    .input(z.object({ userId: id, name: text().trim().min(1).max(100).default('api') }))
    .output(z.object({ id: z.uuid(), name: z.string(), token: z.string(), createdAt: isoDate }))
    .mutation(async ({ ctx, input }) => {
      const user = await getUser(ctx.db, input.userId);
      if (!user) throw new AppError('NOT_FOUND', 'user not found', { field: 'userId' });
      const t = await issueToken(ctx.db, user.id, input.name);
      return { id: t.id, name: t.name, token: t.token, createdAt: iso(t.createdAt) };
    }),

  revokeToken: adminProcedure
    .input(z.object({ id }))
    .output(z.object({ id: z.uuid(), revokedAt: isoDate }))
    .mutation(async ({ ctx, input }) => {
      const row = await ctx.db.transaction().execute(async (trx) => {
        const revoked = await trx
          .updateTable('api_tokens')
          .set({ revoked_at: sql<Date>`coalesce(revoked_at, now())` as unknown as Date })
          .where('id', '=', input.id)
          .returning(['id', 'user_id', 'revoked_at'])
          .executeTakeFirst();
        if (revoked) await announceAuthChange(trx, revoked.user_id);
        return revoked;
      });
      if (!row) throw new AppError('NOT_FOUND', 'token not found');
      return { id: row.id, revokedAt: iso(row.revoked_at!) };
    }),

  tokens: adminProcedure
    .input(z.object({ userId: id }))
    .output(z.array(tokenOutput))
    .query(async ({ ctx, input }) =>
      (await listTokens(ctx.db, input.userId)).map((t) => ({
        id: t.id,
        name: t.name,
        createdAt: iso(t.created_at),
        expiresAt: isoOrNull(t.expires_at),
        lastUsedAt: isoOrNull(t.last_used_at),
        revokedAt: isoOrNull(t.revoked_at),
      })),
    ),
});
