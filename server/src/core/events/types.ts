// The public shape of events: what subscribers, `tickets.history` and (later)
// webhooks receive. One union, discriminated by `type`, so a client that
// switches on `event.type` gets each payload's exact type.
//
// This module imports nothing: the SDK ships its declarations as they are.
// The ticket and message shapes are spelled out here, and checked against
// the core's output schemas (see tickets/schemas.ts), so they cannot drift.

export interface EventTicket {
  id: string;
  number: number;
  title: string;
  description: string;
  status: 'open' | 'in_progress' | 'waiting' | 'resolved' | 'closed';
  priority: 'low' | 'medium' | 'high' | 'critical' | null;
  category: 'billing' | 'technical' | 'account' | 'general' | null;
  tags: string[];
  contactId: string;
  assigneeId: string | null;
  classification: { source: 'llm' | 'builtin' | 'manual'; confidence: number; model?: string | undefined } | null;
  resolution: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  firstResponseAt: string | null;
  resolvedAt: string | null;
}

export interface EventMessage {
  id: string;
  ticketId: string;
  authorType: 'user' | 'ai' | 'system';
  author: { id: string; name: string; role: 'admin' | 'agent' | 'customer' } | null;
  body: string;
  internal: boolean;
  createdAt: string;
}

export const EVENT_TYPES = [
  'ticket.created',
  'ticket.updated',
  'ticket.assigned',
  'ticket.classified',
  'ticket.resolved',
  'ticket.deleted',
  'message.created',
  'ai.draft.delta',
  'ai.draft.completed',
  'ai.draft.failed',
  'webhook.disabled',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Events only staff ever see, whoever the ticket's requester is. */
export const STAFF_ONLY_TYPES: ReadonlySet<string> = new Set(['ai.draft.delta', 'ai.draft.completed', 'ai.draft.failed', 'webhook.disabled']);

/** Events only admins see: about the system's configuration rather than a ticket. */
export const ADMIN_ONLY_TYPES: ReadonlySet<string> = new Set(['webhook.disabled']);

interface Change<T> {
  from: T;
  to: T;
}

export interface EventDataMap {
  'ticket.created': { ticket: EventTicket };
  'ticket.updated': {
    changes: Partial<{
      title: Change<string>;
      description: Change<string>;
      status: Change<EventTicket['status']>;
      priority: Change<EventTicket['priority']>;
      category: Change<EventTicket['category']>;
      tags: Change<string[]>;
      assigneeId: Change<string | null>;
      resolution: Change<string | null>;
    }>;
    version: number;
    reason?: string;
  };
  'ticket.assigned': { from: string | null; to: string | null; reason: 'manual' | 'auto' | 'claim' | 'released'; version?: number };
  'ticket.classified': {
    category: EventTicket['category'];
    priority: EventTicket['priority'];
    classification: NonNullable<EventTicket['classification']>;
    /** The model's one-line reason, or why the built-in classifier answered. */
    reason?: string;
    /** The fields that were empty and are now filled (a value a person set is never changed). */
    filled: ('category' | 'priority')[];
    version: number;
  };
  'ticket.resolved': { resolution: string | null };
  'ticket.deleted': { number: number; title: string };
  'message.created': { message: EventMessage };
  'ai.draft.delta': { draftId: string; index: number; delta: string };
  'ai.draft.completed': {
    draftId: string;
    /** The stored internal message holding the whole draft. */
    messageId: string;
    source: 'llm' | 'builtin';
    model?: string;
    /** Offline drafts: why the LLM did not write it. */
    fallbackReason?: string;
    /** Numbers of the similar resolved tickets used. */
    basedOn: number[];
  };
  'ai.draft.failed': { draftId: string; reason: string };
  /** A webhook endpoint that kept failing was switched off; `webhooks.update` with `active: true` turns it back on. */
  'webhook.disabled': {
    endpointId: string;
    /** The endpoint's scheme, host and port (its path may hold a receiver's token). */
    origin: string;
    reason: string;
    /** When the run of failed attempts began, and how many it counted. */
    failingSince: string;
    failures: number;
  };
}

export interface EventActor {
  type: 'user' | 'system' | 'worker';
  id: string | null;
}

/** One event as clients see it. `id` is an opaque cursor that sorts in log order. */
export type RelaydeskEvent = {
  [K in EventType]: {
    id: string;
    type: K;
    ticketId: string | null;
    occurredAt: string;
    actor: EventActor | null;
    data: EventDataMap[K];
  };
}[EventType];

// A cursor is the log position, zero-padded so that ids also sort as strings.
const CURSOR_DIGITS = 16;
export const cursorOf = (position: number): string => String(position).padStart(CURSOR_DIGITS, '0');
export const CURSOR_PATTERN: RegExp = /^\d{1,16}$/;
export const positionOf = (cursor: string): number => Number(cursor);
