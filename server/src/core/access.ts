// Who may see and change a ticket: the role rules of the README's procedure table, in one place.
import { AppError } from './errors.ts';
import type { SessionUser } from './caller.ts';

interface TicketRef {
  contact_id: string;
  assignee_id: string | null;
}

/**
 * Throws NOT_FOUND unless `user` may read `ticket`. A customer asking for
 * someone else's ticket gets NOT_FOUND too, so ids can't be probed.
 */
export function assertCanRead<T extends TicketRef>(user: SessionUser, ticket: T | undefined): asserts ticket is T {
  if (!ticket || (user.role === 'customer' && ticket.contact_id !== user.contactId)) {
    throw new AppError('NOT_FOUND', 'ticket not found');
  }
}

/** Admins change any ticket; agents those assigned to them; customers none. */
export function assertCanModify<T extends TicketRef>(user: SessionUser, ticket: T | undefined): asserts ticket is T {
  assertCanRead(user, ticket);
  if (user.role === 'admin') return;
  if (user.role === 'agent' && ticket.assignee_id === user.id) return;
  throw new AppError(
    'FORBIDDEN',
    user.role === 'agent' ? 'the ticket is not assigned to you' : 'customers cannot change tickets',
  );
}

/** Throws FORBIDDEN unless the caller has one of `roles`: the doors check it too, the core holds the rule for every door. */
export function assertRole(user: SessionUser, ...roles: SessionUser['role'][]): void {
  if (!roles.includes(user.role)) throw new AppError('FORBIDDEN', `requires role ${roles.join(' or ')}`);
}
