// Users' schemas: inputs shared by every door, outputs that never carry a
// password hash, and the row-to-output mapping.
import { z } from 'zod';
import { ROLES, type User } from '@relaydesk/db';
import { email, id, iso, isoDate, isoOrNull, limit, name, text } from '../schemas.ts';
import type { userColumns } from './queries.ts';

export const role = z.enum(ROLES);
export const password = z.string().min(10, 'must be at least 10 characters').max(256);
export const capacity = z.number().int().min(0).max(1000);

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

export const createUserInput = z.strictObject({ name, email, role, password: password.optional(), capacity: capacity.optional() });
export type CreateUserInput = z.infer<typeof createUserInput>;

export const listUsersInput = z.strictObject({ role: role.optional(), active: z.boolean().optional(), cursor: id.optional(), limit }).default({ limit: 25 });

export const updateUserInput = z.strictObject({
  id,
  name: name.optional(),
  role: role.optional(),
  active: z.boolean().optional(),
  capacity: capacity.optional(),
  password: password.optional(),
});
export type UpdateUserInput = z.infer<typeof updateUserInput>;

export const createTokenInput = z.strictObject({ userId: id, name: text().trim().min(1).max(100).default('api') });
export const createTokenOutput = z.object({ id: z.uuid(), name: z.string(), token: z.string(), createdAt: isoDate });
export const revokeTokenOutput = z.object({ id: z.uuid(), revokedAt: isoDate });

export const tokenOutput = z.object({
  id: z.uuid(),
  name: z.string(),
  createdAt: isoDate,
  expiresAt: isoDate.nullable(),
  lastUsedAt: isoDate.nullable(),
  revokedAt: isoDate.nullable(),
});


export const tokensOutput = z.array(tokenOutput);
export type TokenOutput = z.infer<typeof tokenOutput>;

export function tokenDto(t: { id: string; name: string; created_at: Date; expires_at: Date | null; last_used_at: Date | null; revoked_at: Date | null }): TokenOutput {
  return {
    id: t.id,
    name: t.name,
    createdAt: iso(t.created_at),
    expiresAt: isoOrNull(t.expires_at),
    lastUsedAt: isoOrNull(t.last_used_at),
    revokedAt: isoOrNull(t.revoked_at),
  };
}
