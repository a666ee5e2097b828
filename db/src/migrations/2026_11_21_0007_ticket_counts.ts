// Precomputed ticket counts for `tickets.stats`, so the dashboard reads a
// few hundred rows instead of scanning a million tickets.
//
// Writers never update a shared counter row: that row would be a lock every
// ticket insert and status change queues on, and a source of deadlocks
// between multi-row updates. Instead triggers append signed deltas to
// `ticket_count_deltas` (an insert takes no lock anyone waits for), and a
// roll-up folds them into `ticket_counts` every few seconds (the worker runs
// it; any process may). A reader sums both tables in one snapshot, so its
// counts are exact at that snapshot whether or not a roll-up has run.
//
// One row per (dimension, key): status, priority, category and assignee,
// with '' for "none". `total` counts the tickets; `open` those not resolved
// or closed (what an assignee's load is).
//
// The medians (first response, resolution) are exact too, without sorting a
// million durations: the counts also keep a histogram of each duration in
// logarithmic buckets (16 per e-fold, about 6 % wide), and an index orders
// the tickets by (bucket, duration). The histogram says which bucket holds
// the middle rank and how many rows come before it; the index skips straight
// to that bucket and steps over the few thousand rows inside it.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table ticket_counts (
      dimension text not null check (dimension in ('status', 'priority', 'category', 'assignee', 'first_response', 'resolution')),
      key text not null,
      total bigint not null,
      open bigint not null,
      primary key (dimension, key)
    )`.execute(db);
  // Append-only, emptied by each roll-up: vacuum it by row count, not size.
  await sql`
    create table ticket_count_deltas (
      dimension text not null,
      key text not null,
      total integer not null,
      open integer not null
    ) with (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
            autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000)`.execute(db);

  await sql`
    create function relaydesk_duration_bucket(d interval) returns integer
    language sql immutable parallel safe as $$
      -- Monotonic in d (so bucket order is duration order), 0 for anything
      -- negative, null for null.
      select floor(ln(1 + case when d < interval '0' then 0 else extract(epoch from d)::float8 end) * 16)::integer
    $$`.execute(db);
  // The index only holds what the median reads, so it is scanned without
  // visiting the table (the columns are included for the expressions).
  for (const [name, column] of [['first_response', 'first_response_at'], ['resolution', 'resolved_at']] as const) {
    await sql`
      create index ${sql.id(`tickets_${name}_time_idx`)} on tickets
        (relaydesk_duration_bucket(${sql.ref(column)} - created_at), (${sql.ref(column)} - created_at))
        include (${sql.ref(column)}, created_at) where ${sql.ref(column)} is not null`.execute(db);
  }

  // The (dimension, key, total, open) contributions of one ticket's values.
  await sql`
    create function relaydesk_ticket_contributions(t tickets, sign integer)
    returns table (dimension text, key text, total integer, open integer)
    language sql stable parallel safe as $$
      select d.dimension, d.key, sign, case when d.histogram or t.status in ('resolved', 'closed') then 0 else sign end
        from (values ('status', t.status, false), ('priority', coalesce(t.priority, ''), false),
                     ('category', coalesce(t.category, ''), false), ('assignee', coalesce(t.assignee_id::text, ''), false),
                     ('first_response', relaydesk_duration_bucket(t.first_response_at - t.created_at)::text, true),
                     ('resolution', relaydesk_duration_bucket(t.resolved_at - t.created_at)::text, true)) d(dimension, key, histogram)
       where d.key is not null
    $$`.execute(db);

  // Inserts and deletes: once per statement, so a bulk insert adds a handful
  // of delta rows, not four per ticket.
  await sql`
    create function relaydesk_count_ticket_rows() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT' then
        insert into ticket_count_deltas (dimension, key, total, open)
        select c.dimension, c.key, sum(c.total), sum(c.open)
          from new_rows t, relaydesk_ticket_contributions(t, 1) c
         group by c.dimension, c.key;
      else
        insert into ticket_count_deltas (dimension, key, total, open)
        select c.dimension, c.key, sum(c.total), sum(c.open)
          from old_rows t, relaydesk_ticket_contributions(t, -1) c
         group by c.dimension, c.key;
      end if;
      return null;
    end $$`.execute(db);
  // Updates: per row, and only when a counted column changed (the WHEN
  // clause runs in the executor, so a title edit or a version bump calls
  // nothing). No column list: it would miss a change made by a BEFORE trigger
  // to a column the UPDATE does not name.
  await sql`
    create function relaydesk_count_ticket_update() returns trigger language plpgsql as $$
    begin
      insert into ticket_count_deltas (dimension, key, total, open)
      select c.dimension, c.key, sum(c.total), sum(c.open)
        from (select * from relaydesk_ticket_contributions(old, -1)
              union all
              select * from relaydesk_ticket_contributions(new, 1)) c
       group by c.dimension, c.key
      having sum(c.total) <> 0 or sum(c.open) <> 0;
      return null;
    end $$`.execute(db);

  // Locks out writers from here to commit, so the backfill below counts
  // exactly the tickets the triggers will not.
  await sql`lock table tickets in share row exclusive mode`.execute(db);
  await sql`
    create trigger tickets_count_insert after insert on tickets
      referencing new table as new_rows for each statement execute function relaydesk_count_ticket_rows()`.execute(db);
  await sql`
    create trigger tickets_count_delete after delete on tickets
      referencing old table as old_rows for each statement execute function relaydesk_count_ticket_rows()`.execute(db);
  await sql`
    create trigger tickets_count_update after update on tickets for each row
      when (old.status is distinct from new.status or old.priority is distinct from new.priority
            or old.category is distinct from new.category or old.assignee_id is distinct from new.assignee_id
            or old.created_at is distinct from new.created_at or old.first_response_at is distinct from new.first_response_at
            or old.resolved_at is distinct from new.resolved_at)
      execute function relaydesk_count_ticket_update()`.execute(db);
  await sql`
    insert into ticket_counts (dimension, key, total, open)
    select c.dimension, c.key, sum(c.total), sum(c.open)
      from tickets t, relaydesk_ticket_contributions(t, 1) c
     group by c.dimension, c.key`.execute(db);

  // Folds the deltas into the counts; returns how many delta rows it moved.
  // One roll-up at a time (another caller returns 0 at once). Rows inserted
  // by transactions still in flight are not visible to the DELETE and wait
  // for the next roll-up, so nothing is counted twice or lost.
  await sql`
    create function relaydesk_roll_up_ticket_counts() returns bigint language plpgsql as $$
    declare
      moved bigint;
    begin
      if not pg_try_advisory_xact_lock(7390128) then
        return 0;
      end if;
      with gone as (
        delete from ticket_count_deltas returning dimension, key, total, open
      ), summed as (
        select dimension, key, sum(total) as total, sum(open) as open, count(*) as n from gone group by dimension, key
      ), upserted as (
        insert into ticket_counts as c (dimension, key, total, open)
        select dimension, key, total, open from summed
        on conflict (dimension, key) do update set total = c.total + excluded.total, open = c.open + excluded.open
      )
      select coalesce(sum(n), 0) into moved from summed;
      -- Keys nothing holds any more (a deleted agent, a category emptied).
      delete from ticket_counts where total = 0 and open = 0;
      return moved;
    end $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function relaydesk_roll_up_ticket_counts()`.execute(db);
  await sql`drop trigger tickets_count_update on tickets`.execute(db);
  await sql`drop trigger tickets_count_delete on tickets`.execute(db);
  await sql`drop trigger tickets_count_insert on tickets`.execute(db);
  await sql`drop function relaydesk_count_ticket_update()`.execute(db);
  await sql`drop function relaydesk_count_ticket_rows()`.execute(db);
  await sql`drop function relaydesk_ticket_contributions(tickets, integer)`.execute(db);
  await sql`drop index tickets_resolution_time_idx`.execute(db);
  await sql`drop index tickets_first_response_time_idx`.execute(db);
  await sql`drop function relaydesk_duration_bucket(interval)`.execute(db);
  await sql`drop table ticket_count_deltas`.execute(db);
  await sql`drop table ticket_counts`.execute(db);
}
