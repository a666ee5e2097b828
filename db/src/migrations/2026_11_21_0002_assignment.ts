// Agent load for assignment: each user's count of open assigned tickets,
// kept by a trigger so every path that assigns, resolves, reopens, reassigns
// or deletes a ticket keeps it exact, and so the database itself refuses an
// assignment that would take an agent over capacity, at any concurrency (the
// counter row is the lock).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table users
      add column open_tickets integer not null default 0 check (open_tickets >= 0),
      add column last_assigned_at timestamptz`.execute(db);
  await sql`
    update users u set open_tickets = (
      select count(*) from tickets t where t.assignee_id = u.id and t.status not in ('resolved', 'closed'))`.execute(db);

  await sql`
    create function relaydesk_track_open_tickets() returns trigger language plpgsql as $$
    declare
      old_holder uuid;
      new_holder uuid;
    begin
      if tg_op in ('UPDATE', 'DELETE') and old.status not in ('resolved', 'closed') then
        old_holder := old.assignee_id;
      end if;
      if tg_op in ('INSERT', 'UPDATE') and new.status not in ('resolved', 'closed') then
        new_holder := new.assignee_id;
      end if;
      if old_holder is not distinct from new_holder then
        return null;
      end if;
      -- One lock order for every path (by id), so two reassignments that swap
      -- agents cannot deadlock each other.
      -- (NO KEY UPDATE: the foreign-key check already holds KEY SHARE on the new
      -- holder, and FOR UPDATE would have to upgrade it, deadlocking with a twin.)
      perform 1 from users where id in (old_holder, new_holder) order by id for no key update;
      if old_holder is not null then
        update users set open_tickets = open_tickets - 1 where id = old_holder;
      end if;
      if new_holder is not null then
        if tg_op = 'UPDATE' and new.assignee_id is not distinct from old.assignee_id then
          -- Reopened (e.g. the customer replied): the holder keeps it even when full.
          update users set open_tickets = open_tickets + 1 where id = new_holder;
        else
          -- Checked on the locked, latest row: no race with a deactivation or
          -- another assignment can get past it.
          update users set open_tickets = open_tickets + 1, last_assigned_at = now()
           where id = new_holder and open_tickets < capacity and active and role <> 'customer';
          if not found then
            if exists (select 1 from users where id = new_holder and active and role <> 'customer') then
              raise exception 'assignee % is at capacity', new_holder using errcode = 'RD409', column = 'assignee_id';
            end if;
            raise exception 'assignee % is not an active agent or admin', new_holder using errcode = 'RD422', column = 'assignee_id';
          end if;
        end if;
      end if;
      return null;
    end $$`.execute(db);

  // A ticket reopened while its holder can no longer work it (deactivated,
  // or now a customer) goes back to the queue instead of to nobody.
  await sql`
    create function relaydesk_unassign_on_reopen() returns trigger language plpgsql as $$
    begin
      if old.status in ('resolved', 'closed') and new.status not in ('resolved', 'closed')
         and new.assignee_id is not null and new.assignee_id is not distinct from old.assignee_id
         and not exists (select 1 from users where id = new.assignee_id and active and role <> 'customer') then
        new.assignee_id := null;
      end if;
      return new;
    end $$`.execute(db);
  await sql`
    create trigger tickets_unassign_on_reopen before update of status on tickets
      for each row execute function relaydesk_unassign_on_reopen()`.execute(db);
  await sql`
    create trigger tickets_track_open_tickets
      after insert or update of assignee_id, status or delete on tickets
      for each row execute function relaydesk_track_open_tickets()`.execute(db);

  // The queue that auto-assignment and claims take from, oldest first.
  await sql`create index tickets_unassigned_idx on tickets (id) where assignee_id is null and status = 'open'`.execute(db);
  // Choosing the least-loaded agent without scanning every user.
  await sql`create index users_agent_load_idx on users (open_tickets, last_assigned_at) where role = 'agent' and active`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger tickets_unassign_on_reopen on tickets`.execute(db);
  await sql`drop function relaydesk_unassign_on_reopen()`.execute(db);
  await sql`drop trigger tickets_track_open_tickets on tickets`.execute(db);
  await sql`drop function relaydesk_track_open_tickets()`.execute(db);
  await sql`drop index tickets_unassigned_idx`.execute(db);
  await sql`drop index users_agent_load_idx`.execute(db);
  await sql`alter table users drop column open_tickets, drop column last_assigned_at`.execute(db);
}
