// The database as kysely sees it: one interface per table, row types derived
// with Selectable / Insertable / Updateable.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export const ROLES = ['admin', 'agent', 'customer'] as const;
export type Role = (typeof ROLES)[number];
export const STATUSES = ['open', 'in_progress', 'waiting', 'resolved', 'closed'] as const;
export type Status = (typeof STATUSES)[number];
export const PRIORITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];
export const CATEGORIES = ['billing', 'technical', 'account', 'general'] as const;
export type Category = (typeof CATEGORIES)[number];

export interface Classification {
  source: 'llm' | 'builtin' | 'manual';
  confidence: number;
  model?: string;
}

export interface ContactsTable {
  id: string;
  email: string;
  name: string;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface UsersTable {
  id: string;
  name: string;
  email: string;
  role: Role;
  password_hash: string | null;
  active: Generated<boolean>;
  capacity: Generated<number>;
  contact_id: string | null;
  /** Open (not resolved/closed) tickets assigned to this user; kept by a trigger. */
  open_tickets: ColumnType<number, never, never>;
  last_assigned_at: ColumnType<Date | null, never, never>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  token_hash: Buffer;
  name: string;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  /** Set on login tokens; null on API tokens, which live until revoked. */
  expires_at: Timestamp | null;
}

export interface TicketsTable {
  id: string;
  // bigint identity; pg returns int8 as a string, parsed to number in pool.ts
  number: ColumnType<number, never, never>;
  title: string;
  description: string;
  status: Generated<Status>;
  priority: Priority | null;
  category: Category | null;
  tags: Generated<string[]>;
  contact_id: string;
  assignee_id: string | null;
  classification: ColumnType<Classification | null, Classification | null | undefined, Classification | null>;
  resolution: string | null;
  version: Generated<number>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  first_response_at: Timestamp | null;
  resolved_at: Timestamp | null;
  search: ColumnType<string, never, never>;
}

export interface MessagesTable {
  id: string;
  ticket_id: string;
  author_type: 'user' | 'ai' | 'system';
  author_id: string | null;
  body: string;
  internal: Generated<boolean>;
  created_at: CreatedAt;
  /** Set on an AI draft: the draft request that wrote it. */
  ai_draft_id: ColumnType<string | null, string | null | undefined, never>;
}

export interface EventsTable {
  id: ColumnType<string, never, never>; // bigint: kept as a string cursor
  xid: ColumnType<string, never, never>;
  type: string;
  ticket_id: string | null;
  actor_type: 'user' | 'system' | 'worker' | null;
  actor_id: string | null;
  data: ColumnType<unknown, Record<string, unknown> | undefined, never>;
  occurred_at: CreatedAt;
  /** Place in the commit-ordered log; null until the sequencer reaches it. */
  position: ColumnType<number | null, never, number>;
  contact_id: ColumnType<string | null, string | null | undefined, never>;
  internal: ColumnType<boolean, boolean | undefined, never>;
}

export interface EventCommitsTable {
  xid: string;
  seq: string;
}

export interface WebhookEndpointsTable {
  id: string;
  url: string;
  description: Generated<string>;
  event_types: string[];
  include_internal: Generated<boolean>;
  active: Generated<boolean>;
  /** The signing key: read only by the delivery job, never returned. */
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Timestamp | null;
  from_position: ColumnType<number, number, number>;
  failing_since: Timestamp | null;
  consecutive_failures: Generated<number>;
  disabled_at: Timestamp | null;
  disabled_reason: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  event_position: ColumnType<number, number, never>;
  event_type: string;
  status: Generated<DeliveryStatus>;
  generation: Generated<number>;
  attempts: Generated<number>;
  last_error: string | null;
  created_at: CreatedAt;
  last_attempt_at: Timestamp | null;
  completed_at: Timestamp | null;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  number: number;
  manual: Generated<boolean>;
  started_at: Timestamp;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response_excerpt: string | null;
}

export interface WebhookDispatchTable {
  id: number;
  position: ColumnType<number, number, number>;
}

/** Precomputed ticket counts (see the ticket-counts migration); '' is "none". */
export interface TicketCountsTable {
  dimension: 'status' | 'priority' | 'category' | 'assignee';
  key: string;
  total: ColumnType<number, number, number>;
  open: ColumnType<number, number, number>;
}

/** Rate-limit counters (rate-limiter-flexible's Postgres layout): `expire` is epoch ms. */
export interface RateLimitsTable {
  key: string;
  points: number;
  expire: number | null;
}

export interface Database {
  contacts: ContactsTable;
  users: UsersTable;
  api_tokens: ApiTokensTable;
  tickets: TicketsTable;
  messages: MessagesTable;
  events: EventsTable;
  event_commits: EventCommitsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  webhook_dispatch: WebhookDispatchTable;
  ticket_counts: TicketCountsTable;
  rate_limits: RateLimitsTable;
}

export type Contact = Selectable<ContactsTable>;
export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type ApiToken = Selectable<ApiTokensTable>;
export type Ticket = Selectable<TicketsTable>;
export type NewTicket = Insertable<TicketsTable>;
export type TicketUpdate = Updateable<TicketsTable>;
export type Message = Selectable<MessagesTable>;
export type Event = Selectable<EventsTable>;
