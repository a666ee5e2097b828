// The event log in commit order, for live subscribers.
//
// Event ids come from a sequence and are not commit-ordered, so they can't be
// a resume cursor. Instead each event gets a `position`, assigned after its
// transaction has committed by a single sequencer at a time (server/src/events/
// sequencer.ts): positions only ever grow, have no gaps, and a reader that has
// seen position N has seen everything before it.
//
// The sequencer needs the commit order of the transactions it positions in
// one pass. A deferred constraint trigger records it: at the writer's
// pre-commit it draws one number per transaction into `event_commits`. That
// row commits with the events (or vanishes with them), so the sequencer's
// queue is exactly the committed, not yet positioned transactions, and the
// order of those numbers respects real time: a transaction whose COMMIT began
// after another's returned draws a larger one. Writers never NOTIFY (it takes
// a database-wide lock at commit); the sequencer sends one coalesced NOTIFY
// per pass.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table events
      add column position bigint,
      -- Who outside the staff may see the event: the ticket's requester.
      add column contact_id uuid,
      -- Staff only (internal notes, AI drafts), whoever the requester is.
      add column internal boolean not null default false`.execute(db);

  await sql`create sequence event_commit_seq as bigint`.execute(db);
  await sql`
    create table event_commits (
      xid xid8 primary key,
      seq bigint not null unique
    ) with (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000)`.execute(db);

  await sql`
    create function relaydesk_event_commit() returns trigger language plpgsql as $$
    begin
      -- Once per transaction however many events it wrote.
      if current_setting('relaydesk.event_commit', true) is distinct from '1' then
        insert into event_commits (xid, seq) values (pg_current_xact_id(), nextval('event_commit_seq'))
          on conflict (xid) do nothing;
        perform set_config('relaydesk.event_commit', '1', true);
      end if;
      return null;
    end $$`.execute(db);
  // Creating the trigger locks the table, so no insert is in flight while
  // existing rows are backfilled below.
  await sql`
    create constraint trigger events_commit_order after insert on events
      deferrable initially deferred for each row execute function relaydesk_event_commit()`.execute(db);

  await sql`update events e set contact_id = t.contact_id from tickets t where t.id = e.ticket_id`.execute(db);
  await sql`
    update events e set internal = true from messages m
     where e.type = 'message.created' and m.id = (e.data->'message'->>'id')::uuid and m.internal`.execute(db);
  await sql`
    update events e set position = n.pos
      from (select id, row_number() over (order by xid, id) as pos from events) n
     where e.id = n.id`.execute(db);

  await sql`create unique index events_position_idx on events (position)`.execute(db);
  await sql`create index events_unpositioned_idx on events (xid) where position is null`.execute(db);
  await sql`create index events_ticket_position_idx on events (ticket_id, position)`.execute(db);
  await sql`drop index events_ticket_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index events_ticket_idx on events (ticket_id, id)`.execute(db);
  await sql`drop index events_ticket_position_idx`.execute(db);
  await sql`drop index events_unpositioned_idx`.execute(db);
  await sql`drop index events_position_idx`.execute(db);
  await sql`drop trigger events_commit_order on events`.execute(db);
  await sql`drop function relaydesk_event_commit()`.execute(db);
  await sql`drop table event_commits`.execute(db);
  await sql`drop sequence event_commit_seq`.execute(db);
  await sql`alter table events drop column position, drop column contact_id, drop column internal`.execute(db);
}
