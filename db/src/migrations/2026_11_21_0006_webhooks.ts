// Webhooks: endpoints, one delivery per (endpoint, event), each attempt.
//
// A dispatcher turns positioned events into deliveries and their jobs in one
// transaction that also moves its cursor (`webhook_dispatch`), so an event is
// never skipped and never delivered twice to an endpoint: the unique key
// (endpoint_id, event_position) and the cursor commit together.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table webhook_endpoints (
      id uuid primary key,
      url text not null check (length(url) <= 2048 and url ~ '^https?://'),
      description text not null default '' check (length(description) <= 500),
      -- Exact types or prefixes ('ticket.*'), as the admin wrote them.
      event_types text[] not null check (cardinality(event_types) between 1 and 20),
      include_internal boolean not null default false,
      active boolean not null default true,
      -- Signing keys ('whsec_…'). The previous one still signs until it expires.
      secret text not null,
      previous_secret text,
      previous_secret_expires_at timestamptz,
      -- Only events after this log position are delivered: those after it was
      -- created (or switched back on).
      from_position bigint not null,
      -- The current run of failed attempts: since when, and how many.
      failing_since timestamptz,
      consecutive_failures int not null default 0,
      disabled_at timestamptz,
      disabled_reason text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((previous_secret is null) = (previous_secret_expires_at is null))
    )`.execute(db);

  await sql`
    create table webhook_deliveries (
      id uuid primary key,
      endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
      event_position bigint not null,
      event_type text not null,
      status text not null default 'pending' check (status in ('pending', 'delivered', 'dead')),
      -- Bumped by a manual redelivery: a job of an earlier round then stands down.
      generation int not null default 1,
      attempts int not null default 0,
      last_error text,
      created_at timestamptz not null default now(),
      last_attempt_at timestamptz,
      completed_at timestamptz,
      unique (endpoint_id, event_position)
    )`.execute(db);
  await sql`create index webhook_deliveries_endpoint_idx on webhook_deliveries (endpoint_id, id desc)`.execute(db);
  await sql`create index webhook_deliveries_dead_idx on webhook_deliveries (endpoint_id, id) where status = 'dead'`.execute(db);
  // webhooks.deliveries by event: one event's deliveries to every endpoint.
  await sql`create index webhook_deliveries_event_idx on webhook_deliveries (event_position)`.execute(db);

  await sql`
    create table webhook_attempts (
      delivery_id uuid not null references webhook_deliveries (id) on delete cascade,
      number int not null,
      manual boolean not null default false,
      started_at timestamptz not null,
      duration_ms int not null,
      status_code int,
      error text,
      response_excerpt text,
      primary key (delivery_id, number)
    )`.execute(db);

  await sql`
    create table webhook_dispatch (
      id int primary key check (id = 1),
      position bigint not null
    )`.execute(db);
  // Events already in the log predate every endpoint.
  await sql`insert into webhook_dispatch (id, position) select 1, coalesce(max(position), 0) from events`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['webhook_dispatch', 'webhook_attempts', 'webhook_deliveries', 'webhook_endpoints']) {
    await sql`drop table ${sql.table(t)}`.execute(db);
  }
}
