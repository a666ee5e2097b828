// Who may see which event: the one rule behind live streams, their replay,
// `tickets.history` and webhook deliveries. It has two forms that must agree,
// a predicate for events in memory and a WHERE clause for reading the log,
// and both are written here, side by side.
//
// Each event records its audience when it is appended (see append.ts): the
// requester it concerns (`contact_id`) and whether it is internal.
import type { ExpressionBuilder, Expression, SqlBool } from 'kysely';
import type { Database, Role } from '@relaydesk/db';
import type { SessionUser } from '../caller.ts';
import { ADMIN_ONLY_TYPES, STAFF_ONLY_TYPES, type EventDataMap, type RelaydeskEvent } from './types.ts';

/**
 * A reader of events: a user (admins see everything, agents all but
 * admin-only events, a customer their own tickets' public events), or a
 * webhook endpoint (public events of every ticket; internal ones too when it
 * asked for them).
 */
export type Audience = { role: Role; contactId: string | null } | { role: 'webhook'; includeInternal: boolean };

export const audienceOf = (user: Pick<SessionUser, 'role' | 'contactId'>): Audience => ({ role: user.role, contactId: user.contactId });

/** What an event row records of its audience. */
export interface EventAudience {
  type: string;
  contactId: string | null;
  internal: boolean;
}

/** Only staff may see it, whoever the requester: a staff-only type, or an internal note. */
const isInternal = (e: EventAudience) => e.internal || STAFF_ONLY_TYPES.has(e.type);

export function visibleTo(a: Audience, e: EventAudience): boolean {
  switch (a.role) {
    case 'admin':
      return true;
    case 'agent':
      return !ADMIN_ONLY_TYPES.has(e.type);
    case 'webhook':
      return a.includeInternal || !isInternal(e);
    case 'customer':
      return e.contactId !== null && e.contactId === a.contactId && !isInternal(e);
  }
}

const NO_CONTACT = '00000000-0000-0000-0000-000000000000';

/** `visibleTo` as a condition on the `events` table, for reading the log in SQL. */
export function visibleWhere(a: Audience) {
  return (eb: ExpressionBuilder<Database, 'events'>): Expression<SqlBool> => {
    const publicOnly = () => eb.and([eb('internal', '=', false), eb('type', 'not in', [...STAFF_ONLY_TYPES])]);
    switch (a.role) {
      case 'admin':
        return eb.lit(true);
      case 'agent':
        return eb('type', 'not in', [...ADMIN_ONLY_TYPES]);
      case 'webhook':
        return a.includeInternal ? eb.lit(true) : publicOnly();
      case 'customer':
        return eb.and([eb('contact_id', '=', a.contactId ?? NO_CONTACT), publicOnly()]);
    }
  };
}

/**
 * Whether a new event is internal, decided from its type and payload the same
 * way whatever path writes it: staff-only types, and internal notes.
 */
export function recordsInternal<K extends keyof EventDataMap>(type: K, data: EventDataMap[K]): boolean {
  if (STAFF_ONLY_TYPES.has(type)) return true;
  return type === 'message.created' && (data as EventDataMap['message.created']).message.internal;
}

/** Staff, and integrations that asked for internal events, see every detail of what they may see. */
const seesDetails = (a: Audience) => a.role === 'admin' || a.role === 'agent' || (a.role === 'webhook' && a.includeInternal);

/**
 * The event as `a` receives it: details only staff may read are removed. A
 * classification's `reason` can name the configuration ("no GROQ_API_KEY",
 * a model's failure), so customers and public webhooks get it without.
 * Returns the same object when nothing is removed.
 */
export function redactFor(a: Audience, e: RelaydeskEvent): RelaydeskEvent {
  if (seesDetails(a) || e.type !== 'ticket.classified' || e.data.reason === undefined) return e;
  const { reason: _, ...data } = e.data;
  return { ...e, data };
}
