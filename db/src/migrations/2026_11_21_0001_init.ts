// Users, API tokens, contacts, tickets, messages and the event log.
// Never edit a landed migration: add a new one.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function relaydesk_valid_tags(tags text[]) returns boolean
    language sql immutable parallel safe as $$
      select coalesce(bool_and(t is not null and char_length(t) between 1 and 50 and t = lower(btrim(t))), true)
        and cardinality(tags) <= 20
      from unnest(tags) as t
    $$`.execute(db);

  await db.schema
    .createTable('contacts')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) =>
      c.notNull().check(sql`email = lower(btrim(email)) and char_length(email) between 3 and 254 and email like '%_@_%'`),
    )
    .addColumn('name', 'text', (c) => c.notNull().check(sql`char_length(name) between 1 and 200`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('contacts_email_key', ['email'])
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().check(sql`char_length(name) between 1 and 200`))
    .addColumn('email', 'text', (c) =>
      c.notNull().check(sql`email = lower(btrim(email)) and char_length(email) between 3 and 254 and email like '%_@_%'`),
    )
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('admin', 'agent', 'customer')`))
    .addColumn('password_hash', 'text')
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('capacity', 'integer', (c) => c.notNull().defaultTo(15).check(sql`capacity between 0 and 1000`))
    // A customer's requester identity: the contact their tickets belong to.
    .addColumn('contact_id', 'uuid', (c) => c.references('contacts.id').onDelete('restrict'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('users_email_key', ['email'])
    .addCheckConstraint('users_customer_has_contact', sql`role <> 'customer' or contact_id is not null`)
    .execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // SHA-256 of the token: tokens are 256-bit random, so a fast hash is enough
    // and lets every request find its token with one index lookup.
    .addColumn('token_hash', 'bytea', (c) => c.notNull().unique().check(sql`octet_length(token_hash) = 32`))
    .addColumn('name', 'text', (c) => c.notNull().check(sql`char_length(name) between 1 and 100`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    // Login (session) tokens expire; API tokens an admin creates don't (null).
    .addColumn('expires_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('api_tokens_user_idx').on('api_tokens').column('user_id').execute();

  await db.schema
    .createTable('tickets')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('number', 'bigint', (c) => c.notNull().unique().generatedAlwaysAsIdentity())
    .addColumn('title', 'text', (c) => c.notNull().check(sql`char_length(btrim(title)) between 1 and 200 and char_length(title) <= 200`))
    .addColumn('description', 'text', (c) =>
      c.notNull().check(sql`char_length(btrim(description)) >= 1 and char_length(description) <= 20000`),
    )
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('open').check(sql`status in ('open', 'in_progress', 'waiting', 'resolved', 'closed')`),
    )
    // Null until a person sets it or the classifier fills it in.
    .addColumn('priority', 'text', (c) => c.check(sql`priority in ('low', 'medium', 'high', 'critical')`))
    .addColumn('category', 'text', (c) => c.check(sql`category in ('billing', 'technical', 'account', 'general')`))
    .addColumn('tags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`).check(sql`relaydesk_valid_tags(tags)`))
    .addColumn('contact_id', 'uuid', (c) => c.notNull().references('contacts.id').onDelete('restrict'))
    .addColumn('assignee_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('classification', 'jsonb', (c) =>
      c.check(sql`classification is null or (jsonb_typeof(classification) = 'object' and classification->>'source' in ('llm', 'builtin', 'manual'))`),
    )
    .addColumn('resolution', 'text', (c) => c.check(sql`char_length(resolution) <= 20000`))
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1).check(sql`version >= 1`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('first_response_at', 'timestamptz')
    .addColumn('resolved_at', 'timestamptz')
    .addColumn('search', sql`tsvector`, (c) =>
      c.generatedAlwaysAs(
        sql`setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', description), 'B')`,
      ).stored(),
    )
    .addCheckConstraint('tickets_resolved_at_matches_status', sql`(resolved_at is not null) = (status in ('resolved', 'closed'))`)
    .execute();

  // Keyset pagination orders by id (uuid v7, so creation order); every list
  // filter has an index that serves "filter + order by id" without a sort.
  await sql`create index tickets_status_idx on tickets (status, id)`.execute(db);
  await sql`create index tickets_priority_idx on tickets (priority, id)`.execute(db);
  await sql`create index tickets_category_idx on tickets (category, id)`.execute(db);
  await sql`create index tickets_assignee_idx on tickets (assignee_id, id)`.execute(db);
  await sql`create index tickets_contact_idx on tickets (contact_id, id)`.execute(db);
  await sql`create index tickets_tags_idx on tickets using gin (tags)`.execute(db);
  await sql`create index tickets_search_idx on tickets using gin (search)`.execute(db);

  await db.schema
    .createTable('messages')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('ticket_id', 'uuid', (c) => c.notNull().references('tickets.id').onDelete('cascade'))
    .addColumn('author_type', 'text', (c) => c.notNull().check(sql`author_type in ('user', 'ai', 'system')`))
    .addColumn('author_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('body', 'text', (c) => c.notNull().check(sql`char_length(btrim(body)) >= 1 and char_length(body) <= 20000`))
    .addColumn('internal', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index messages_ticket_idx on messages (ticket_id, id)`.execute(db);

  // The audit trail and (from the live-events work) the log that every
  // process tails. `xid` is the writing transaction, so a tailer can tell
  // which ids are safe to read past: ids are not commit-ordered.
  await db.schema
    .createTable('events')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('xid', sql`xid8`, (c) => c.notNull().defaultTo(sql`pg_current_xact_id()`))
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type ~ '^[a-z]+(\\.[a-z_-]+)+$'`))
    // No foreign key: a deleted ticket keeps its history.
    .addColumn('ticket_id', 'uuid')
    .addColumn('actor_type', 'text', (c) => c.check(sql`actor_type in ('user', 'system', 'worker')`))
    .addColumn('actor_id', 'uuid')
    .addColumn('data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index events_ticket_idx on events (ticket_id, id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['events', 'messages', 'tickets', 'api_tokens', 'users', 'contacts']) {
    await db.schema.dropTable(t).execute();
  }
  await sql`drop function relaydesk_valid_tags(text[])`.execute(db);
}
