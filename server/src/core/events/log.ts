// Reading the event log: rows to public events, filters, pages of the log.
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { cursorOf, EVENT_TYPES, type EventActor, type RelaydeskEvent } from './types.ts';
import { redactFor, visibleWhere, type Audience } from './visibility.ts';

/** A positioned event as read from the log, with what visibility needs. */
export interface LoggedEvent {
  position: number;
  type: string;
  ticketId: string | null;
  contactId: string | null;
  internal: boolean;
  actor: EventActor | null;
  data: unknown;
  occurredAt: Date;
}

export const eventColumns = [
  'position',
  'type',
  'ticket_id',
  'contact_id',
  'internal',
  'actor_type',
  'actor_id',
  'data',
  'occurred_at',
] as const;

interface EventRow {
  position: number | null;
  type: string;
  ticket_id: string | null;
  contact_id: string | null;
  internal: boolean;
  actor_type: EventActor['type'] | null;
  actor_id: string | null;
  data: unknown;
  occurred_at: Date;
}

export function loggedEvent(r: EventRow): LoggedEvent {
  return {
    position: Number(r.position),
    type: r.type,
    ticketId: r.ticket_id,
    contactId: r.contact_id,
    internal: r.internal,
    actor: r.actor_type ? { type: r.actor_type, id: r.actor_id } : null,
    data: r.data,
    occurredAt: r.occurred_at,
  };
}

// One event goes to many subscribers: build its public form once.
const dtos = new WeakMap<LoggedEvent, RelaydeskEvent>();

export function eventDto(e: LoggedEvent): RelaydeskEvent {
  let dto = dtos.get(e);
  if (!dto) dtos.set(e, (dto = toDto(e)));
  return dto;
}

const redacted = new WeakMap<LoggedEvent, RelaydeskEvent>();

/** The event as `audience` receives it (see redactFor); built once per event for all who get the same form. */
export function eventFor(audience: Audience, e: LoggedEvent): RelaydeskEvent {
  const full = eventDto(e);
  const shown = redactFor(audience, full);
  if (shown === full) return full;
  let cached = redacted.get(e);
  if (!cached) redacted.set(e, (cached = shown));
  return cached;
}

function toDto(e: LoggedEvent): RelaydeskEvent {
  return {
    id: cursorOf(e.position),
    type: e.type,
    ticketId: e.ticketId,
    occurredAt: e.occurredAt.toISOString(),
    actor: e.actor,
    data: e.data,
  } as RelaydeskEvent;
}

/**
 * Event type patterns (`ticket.updated`, `ticket.*`, `ai.draft.*`, `*`) expanded to
 * the exact types they name; the list of types is closed, so a filter is a set.
 */
export function expandTypes(patterns: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const p of patterns) {
    if (p === '*') {
      for (const t of EVENT_TYPES) out.add(t);
    } else if (p.endsWith('.*')) {
      const prefix = p.slice(0, -1);
      for (const t of EVENT_TYPES) if (t.startsWith(prefix)) out.add(t);
    } else if ((EVENT_TYPES as readonly string[]).includes(p)) {
      out.add(p);
    }
  }
  return out;
}

export function isTypePattern(p: string): boolean {
  return expandTypes([p]).size > 0;
}

export interface EventFilter {
  ticketId?: string;
  /** Exact types; undefined for all. */
  types?: Set<string>;
}

export function matches(f: EventFilter, e: Pick<LoggedEvent, 'ticketId' | 'type'>): boolean {
  return (f.ticketId === undefined || e.ticketId === f.ticketId) && (f.types === undefined || f.types.has(e.type));
}

/** The highest position in the log: everything up to it is committed and visible. */
export async function logHead(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ head: number | null }>`select max(position) as head from events`.execute(db);
  return Number(rows[0]?.head ?? 0);
}

/**
 * The events after `after`, up to `upTo`, that `audience` may see and `filter`
 * selects, oldest first. `scannedTo` is how far the log was read: the last
 * row's position when the page is full, else `upTo` (the rows filtered out in
 * between are passed over too).
 */
export async function readEvents(
  db: Kysely<Database>,
  opts: { after: number; upTo: number; limit: number; audience: Audience; filter: EventFilter },
): Promise<{ events: LoggedEvent[]; scannedTo: number }> {
  if (opts.upTo <= opts.after) return { events: [], scannedTo: opts.after };
  const { audience, filter } = opts;
  let q = db
    .selectFrom('events')
    .select(eventColumns)
    .where('position', '>', opts.after)
    .where('position', '<=', opts.upTo)
    .orderBy('position')
    .limit(opts.limit);
  q = q.where(visibleWhere(audience));
  if (filter.ticketId !== undefined) q = q.where('ticket_id', '=', filter.ticketId);
  if (filter.types !== undefined) {
    if (filter.types.size === 0) return { events: [], scannedTo: opts.upTo };
    q = q.where('type', 'in', [...filter.types]);
  }
  const rows = (await q.execute()).map(loggedEvent);
  const full = rows.length === opts.limit;
  return { events: rows, scannedTo: full ? rows[rows.length - 1]!.position : opts.upTo };
}
