// `npm run seed -- --tickets 1000000`: fills a database with realistic data —
// agents, contacts, tickets spread over two years, their messages and their
// event history — fast enough to make a million tickets in a few minutes.
//
// The rows are generated inside Postgres (generate_series, one INSERT … SELECT
// per table per chunk of tickets), so nothing but a few parameters crosses the
// wire. Ticket texts come from the 520 hand-written tickets of the AI dataset,
// so full-text search meets a real vocabulary. Ids are uuid v7 stamped with
// each row's own time, so keyset pages and the event log run in the order the
// history happened.
//
// Target: DATABASE_URL (from the environment, or ./.env); else the embedded
// Postgres of `npm start` (running or not) under RELAYDESK_DATA_DIR. Seeding
// adds to what is there.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createDb, migrateToLatest } from '@relaydesk/db';
import { runningEmbeddedUrl, startEmbeddedPostgres } from '@relaydesk/db/embedded';
import { loadDotEnv } from '@relaydesk/server/core/env';
import { hashPassword } from '@relaydesk/server/core/users/auth';
import { installQueues } from '@relaydesk/server/core/jobs/boss';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface SeedOptions {
  tickets: number;
  /** Default: 1,000, or fewer for small seeds (one agent per 10 tickets). */
  agents?: number;
  /** Default: one per 8 tickets. */
  contacts?: number;
  /** How far back the history goes. Default 730 days. */
  days?: number;
  /** Tickets per transaction. */
  chunk?: number;
  /** Connections generating chunks side by side. Default 2. */
  workers?: number;
  log?: (line: string) => void;
}

export interface SeedResult {
  agents: { id: string; email: string }[];
  /** The seeded agents' password (random per run). */
  password: string;
  tickets: number;
  contacts: number;
  messages: number;
  events: number;
  seconds: number;
}

const FIRST = ['Maria', 'James', 'Aisha', 'Chen', 'Lucas', 'Sofia', 'Noah', 'Priya', 'Mateo', 'Emma', 'Omar', 'Yuki', 'Liam', 'Fatima', 'Ethan', 'Zoe', 'Ivan', 'Amara', 'Hugo', 'Leila', 'Tom', 'Nina', 'Kofi', 'Elena', 'Raj', 'Clara', 'Diego', 'Hana', 'Sam', 'Ingrid'];
const LAST = ['Garcia', 'Smith', 'Okafor', 'Wang', 'Silva', 'Rossi', 'Johnson', 'Patel', 'Lopez', 'Müller', 'Haddad', 'Tanaka', 'Brown', 'Khan', 'Nguyen', 'Dubois', 'Petrov', 'Mensah', 'Larsen', 'Cohen', 'Kowalski', 'Ahmed', 'Costa', 'Novak', 'Singh', 'Fischer', 'Moreno', 'Kim', 'Evans', 'Berg'];
const TAGS = ['vip', 'refund', 'bug', 'outage', 'mobile', 'api', 'sso', 'invoice', 'onboarding', 'churn-risk', 'feature-request', 'escalated'];
const REPLIES = [
  'Thanks for reaching out. I am looking into this now and will update you shortly.',
  'Sorry about the trouble. Could you send a screenshot and the time it happened? That will help us trace it.',
  'I have reproduced the problem on our side and passed it to the engineering team. I will keep you posted.',
  'Thanks for the details. I checked your account and can see what happened; working on a fix.',
  'Apologies for the wait. I have escalated this and will get back to you within the day.',
  'Got it. Can you confirm the email address on the account and the last four digits of the card?',
  'Thanks for your patience. We rolled out a change that should fix this; could you try again?',
  'I understand how frustrating this is. I am on it and will reply as soon as I know more.',
];
const NOTES = [
  'Checked the logs: matches the incident from last week.',
  'Customer is on the annual plan, handle with care.',
  'Asked engineering in #support-escalations.',
  'Possible duplicate of an older ticket from the same company.',
  'Refund approved by the billing lead.',
];

interface Template {
  title: string;
  description: string;
  category: string;
  priority: string;
  resolution: string;
}

function templates(): Template[] {
  const dir = path.join(root, 'server/src/core/ai/dataset');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) =>
      fs
        .readFileSync(path.join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Template),
    );
}

/** A uuid v7 for a given time, and synchronous_commit off: the session setup of every seeding connection. */
async function prepareSession(client: pg.PoolClient, now: Date) {
  await client.query(`set synchronous_commit = off`);
  // One "now" for every chunk, whichever connection writes it and when.
  await client.query(`create function pg_temp.seed_now() returns timestamptz language sql immutable as $$ select '${now.toISOString()}'::timestamptz $$`);
  await client.query(`
    create function pg_temp.uuid7(ts timestamptz) returns uuid language sql volatile as $$
      select encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
               placing substring(int8send((extract(epoch from ts) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid
    $$`);
}

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const iso = (col: string) => `to_char(${col} at time zone 'UTC', ${ISO})`;

export async function seed(url: string, opts: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const n = opts.tickets;
  const nAgents = opts.agents ?? Math.max(1, Math.min(1000, Math.ceil(n / 10)));
  const nContacts = opts.contacts ?? Math.max(1, Math.ceil(n / 8));
  const days = opts.days ?? 730;
  const chunk = opts.chunk ?? 25_000;
  const workers = Math.max(1, opts.workers ?? 2);
  const tag = randomBytes(3).toString('hex');
  const password = randomBytes(12).toString('base64url');
  const passwordHash = await hashPassword(password);
  const tpl = templates();
  const now = new Date();
  // About 0.5 % of old tickets and 60 % of the last two weeks' stay open and
  // assigned; an agent holds at most 1,000 (the schema's capacity limit).
  const openPerAgent = (n * (0.005 + Math.min(1, 14 / days) * 0.6)) / nAgents;
  if (openPerAgent > 900) {
    throw new Error(`${nAgents} agents cannot hold the ${Math.round(openPerAgent * nAgents).toLocaleString('en-US')} open tickets this makes: use --agents ${Math.ceil((openPerAgent * nAgents) / 900)} or more`);
  }

  // Working tables of this run (unlogged: nothing to keep), shared by the
  // chunk workers, dropped at the end.
  const T = { templates: `relaydesk_seed_${tag}_templates`, agents: `relaydesk_seed_${tag}_agents`, contacts: `relaydesk_seed_${tag}_contacts` };
  const pool = new pg.Pool({ connectionString: url, max: workers + 1, application_name: 'relaydesk-seed' });
  pool.on('error', () => {}); // an idle connection dropped: the next query reports it
  const client = await pool.connect();
  const q = (text: string, values: unknown[] = []) => client.query(text, values);
  try {
    const { rows: hooks } = await q(`select count(*)::int as n from webhook_endpoints where active`);
    if (hooks[0].n > 0) {
      throw new Error(`${hooks[0].n} webhook endpoint(s) are active: seeding writes millions of events they would all be sent. Disable them first.`);
    }
    await prepareSession(client, now);
    await q(`create unlogged table ${T.templates} (n int primary key, title text, description text, category text, priority text, resolution text)`);
    await q(
      `insert into ${T.templates} select * from unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
      [tpl.map((_, i) => i + 1), tpl.map((t) => t.title), tpl.map((t) => t.description), tpl.map((t) => t.category), tpl.map((t) => t.priority), tpl.map((t) => t.resolution)],
    );

    // Agents: capacity is set to fit their share of open tickets at the end.
    await q(`create unlogged table ${T.agents} (n int primary key, id uuid not null, name text not null, email text not null)`);
    await q(
      `insert into ${T.agents}
       select i, pg_temp.uuid7(now() - interval '1 day' * $5 - interval '1 hour' * i),
              ($1::text[])[1 + i % cardinality($1)] || ' ' || ($2::text[])[1 + (i / cardinality($1)) % cardinality($2)],
              'agent' || i || '.' || $4 || '@support.example.com'
         from generate_series(1, $3::int) i`,
      [FIRST, LAST, nAgents, tag, days],
    );
    await q(
      `insert into users (id, name, email, role, password_hash, capacity, created_at, updated_at)
       select id, name, email, 'agent', $1, 1000, now() - interval '1 day' * $2, now() - interval '1 day' * $2 from ${T.agents}`,
      [passwordHash, days],
    );
    log(`agents: ${nAgents}`);

    await q(`create unlogged table ${T.contacts} (n int primary key, id uuid not null)`);
    for (let lo = 1; lo <= nContacts; lo += 100_000) {
      const hi = Math.min(nContacts, lo + 99_999);
      await q(
        `with c0 as (
           select i, now() - interval '1 day' * $6 * random() as at,
                  ($1::text[])[1 + (i * 7) % cardinality($1)] as first, ($2::text[])[1 + (i * 13) % cardinality($2)] as last
             from generate_series($3::int, $4::int) i
         ), c as (
           select c0.*, pg_temp.uuid7(at) as id from c0
         ), ins as (
           insert into contacts (id, email, name, created_at, updated_at)
           select id, lower(first || '.' || last || '.' || i || '.' || $5) || '@customer-' || (i % 700) || '.example.com',
                  first || ' ' || last, at, at
             from c
           returning id
         )
         insert into ${T.contacts} select i, id from c`,
        [FIRST, LAST, lo, hi, tag, days],
      );
    }
    log(`contacts: ${nContacts}`);

    let messages = 0;
    let events = 0;
    let done = 0;
    let next = 1;
    // Ticket numbers follow creation order like ids, though chunks commit in
    // any order: reserve the run's block of numbers up front (writers wait a
    // moment for the lock, so no live ticket takes one of them).
    let numberBase: number;
    await q('begin');
    try {
      await q(`lock table tickets in share row exclusive mode`);
      const { rows: seqName } = await q(`select pg_get_serial_sequence('tickets', 'number') as name`);
      const { rows: seq } = await q(
        `select first - 1 as base, setval($2, first + $1 - 1) from (select last_value + is_called::int as first from ${seqName[0].name}) s`,
        [n, seqName[0].name],
      );
      numberBase = Number(seq[0].base);
      await q('commit');
    } catch (err) {
      await q('rollback').catch(() => {});
      throw err;
    }
    const span = days * 86_400;
    const work = async () => {
      const client = await pool.connect();
      const q = (text: string, values: unknown[] = []) => client.query(text, values);
      try {
        await prepareSession(client, now);
        await q(`
          create temp table seed_chunk (
            i int, id uuid, number bigint, created timestamptz, status text, priority text, category text, tags text[],
            contact_id uuid, assignee_id uuid, agent_name text, title text, description text, resolution text,
            classification jsonb, first_response_at timestamptz, resolved_at timestamptz, closed_at timestamptz, noted boolean)`);

        for (let lo = next; lo <= n; lo = next) {
          next += chunk;
          const hi = Math.min(n, lo + chunk - 1);
          try {
            await q('begin');
            await q(`truncate seed_chunk`);
            // Old tickets are nearly all closed; the last two weeks hold the backlog.
            await q(
              `with g as (
                 select i, pg_temp.seed_now() - interval '1 second' * ($3::float8 * (1 - (i - 1 + random() * 0.9) / $4)) as created,
                        random() as rs, random() as ra, random() as rf, random() as rr, random() as rt, random() as rc, random() as rn,
                        1 + floor(random() * $5)::int as tn, 1 + floor(random() * $6)::int as cn
                   from generate_series($1::int, $2::int) i
               ), s as (
                 select g.*,
                        case when pg_temp.seed_now() - created > interval '14 days' then
                               case when rs < 0.88 then 'closed' when rs < 0.995 then 'resolved' when rs < 0.998 then 'waiting' else 'in_progress' end
                             else case when rs < 0.25 then 'open' when rs < 0.5 then 'in_progress' when rs < 0.65 then 'waiting'
                                       when rs < 0.85 then 'resolved' else 'closed' end
                        end as status
                   from g
               ), t as (
                 select s.*, tp.title, tp.description, tp.resolution as tpl_resolution, tp.category as tpl_category, tp.priority as tpl_priority,
                        c.id as contact_id, a.id as agent_id, a.name as agent_name,
                        case when s.status = 'open' then null
                             else least(pg_temp.seed_now(), s.created + interval '2 minutes' + interval '2 days' * power(s.rf, 3)) end as fr
                   from s
                   join ${T.templates} tp on tp.n = s.tn
                   join ${T.contacts} c on c.n = s.cn
                   join ${T.agents} a on a.n = 1 + s.i % $7
               )
               insert into seed_chunk
               select i, pg_temp.uuid7(created), null, created, status,
                      case when status = 'open' and rc < 0.05 then null else tpl_priority end,
                      case when status = 'open' and rc < 0.05 then null else tpl_category end,
                      case when rt < 0.6 then '{}'::text[]
                           when rt < 0.9 then array[($8::text[])[1 + (i % cardinality($8))]]
                           else array[($8::text[])[1 + (i % cardinality($8))], ($8::text[])[1 + ((i / 3 + 1) % cardinality($8))]] end,
                      contact_id,
                      case when status = 'open' and ra < 0.5 then null else agent_id end,
                      agent_name, title,
                      description || case when rn < 0.3 then E'\n\nReference: ' || upper(substr(md5(i::text), 1, 8)) else '' end,
                      case when status in ('resolved', 'closed') then tpl_resolution end,
                      case when status = 'open' and rc < 0.05 then null
                           when rc < 0.85 then jsonb_build_object('source', 'llm', 'confidence', round((0.7 + rc * 0.29)::numeric, 2), 'model', 'llama-3.1-8b-instant')
                           else jsonb_build_object('source', 'builtin', 'confidence', round((0.5 + rc * 0.3)::numeric, 2)) end,
                      fr,
                      case when status in ('resolved', 'closed') then least(pg_temp.seed_now(), fr + interval '1 minute' + interval '5 days' * power(rr, 2)) end,
                      null, rn < 0.25 and fr is not null
                 from t`,
              [lo, hi, span, n, tpl.length, nContacts, nAgents, TAGS],
            );
            await q(`update seed_chunk set closed_at = least(pg_temp.seed_now(), resolved_at + interval '1 day') where status = 'closed'`);

            // The open-tickets trigger locks each assignee's row: take them in id
            // order first, so two chunk workers cannot deadlock on them.
            await q(`select 1 from users where id in (select assignee_id from seed_chunk where status not in ('resolved', 'closed'))
                     order by id for no key update`);
            await q(`
              with ins as (
                insert into tickets (id, number, title, description, status, priority, category, tags, contact_id, assignee_id, classification,
                                     resolution, version, created_at, updated_at, first_response_at, resolved_at)
                overriding system value
                select id, ${numberBase} + i, title, description, status, priority, category, tags, contact_id, assignee_id, classification, resolution,
                       1 + (classification is not null)::int + (assignee_id is not null)::int + (first_response_at is not null)::int
                         + (resolved_at is not null)::int + (closed_at is not null)::int,
                       created, greatest(created, first_response_at, resolved_at, closed_at), first_response_at, resolved_at
                  from seed_chunk order by i
                returning id, number
              )
              update seed_chunk c set number = ins.number from ins where ins.id = c.id`);

            // Messages: the agent's first reply, sometimes an internal note, and the resolution.
            const inserted = await q(
              `insert into messages (id, ticket_id, author_type, author_id, body, internal, created_at)
               select pg_temp.uuid7(m.at), c.id, 'user', c.assignee_id, m.body, m.internal, m.at
                 from seed_chunk c
                cross join lateral (values
                  (c.first_response_at, ($1::text[])[1 + c.i % cardinality($1)], false, c.first_response_at is not null),
                  (c.first_response_at + interval '1 minute', ($2::text[])[1 + c.i % cardinality($2)], true, c.noted),
                  (c.resolved_at, c.resolution, false, c.resolved_at is not null)
                ) m(at, body, internal, keep)
                where m.keep
                order by m.at`,
              [REPLIES, NOTES],
            );
            messages += inserted.rowCount ?? 0;

            // Events, as the live system writes them, positioned after the log's
            // head under the sequencer's lock (so no pass interleaves).
            await q(`select pg_advisory_xact_lock(7390126)`);
            const ticketJson = `json_build_object('id', c.id, 'number', c.number, 'title', c.title, 'description', c.description,
              'status', 'open', 'priority', null, 'category', null, 'tags', c.tags, 'contactId', c.contact_id, 'assigneeId', null,
              'classification', null, 'resolution', null, 'version', 1, 'createdAt', ${iso('c.created')}, 'updatedAt', ${iso('c.created')},
              'firstResponseAt', null, 'resolvedAt', null)`;
            const { rowCount } = await q(`
              with e as (
                select c.id as ticket_id, c.contact_id, x.*
                  from seed_chunk c
                 cross join lateral (values
                   (c.created, 'ticket.created', 'user', null::uuid, jsonb_build_object('ticket', ${ticketJson}), false, true),
                   (c.created + interval '2 seconds', 'ticket.classified', 'worker', null,
                    jsonb_build_object('category', c.category, 'priority', c.priority, 'classification', c.classification,
                                       'filled', json_build_array('category', 'priority'), 'version', 2), false, c.classification is not null),
                   (c.created + interval '3 seconds', 'ticket.assigned', 'worker', null,
                    jsonb_build_object('from', null, 'to', c.assignee_id, 'reason', 'auto'), false, c.assignee_id is not null),
                   (c.resolved_at, 'ticket.updated', 'user', c.assignee_id,
                    jsonb_build_object('changes', json_build_object('status', json_build_object('from', 'in_progress', 'to', 'resolved')),
                                       'version', 4 + (c.classification is not null)::int), false, c.resolved_at is not null),
                   (c.resolved_at, 'ticket.resolved', 'user', c.assignee_id, jsonb_build_object('resolution', c.resolution), false, c.resolved_at is not null),
                   (c.closed_at, 'ticket.updated', 'system', null,
                    jsonb_build_object('changes', json_build_object('status', json_build_object('from', 'resolved', 'to', 'closed')),
                                       'version', 5 + (c.classification is not null)::int), false, c.closed_at is not null)
                 ) x(at, type, actor_type, actor_id, data, internal, keep)
                 where x.keep
                union all
                select c.id, c.contact_id, m.created_at, 'message.created', 'user', m.author_id,
                       jsonb_build_object('message', json_build_object(
                         'id', m.id, 'ticketId', c.id, 'authorType', 'user',
                         'author', json_build_object('id', c.assignee_id, 'name', c.agent_name, 'role', 'agent'),
                         'body', m.body, 'internal', m.internal, 'createdAt', ${iso('m.created_at')})),
                       m.internal, true
                  from seed_chunk c join messages m on m.ticket_id = c.id
              ), base as (select coalesce(max(position), 0) as p from events)
              insert into events (type, ticket_id, actor_type, actor_id, data, occurred_at, position, contact_id, internal)
              select type, ticket_id, actor_type, actor_id, data, at, base.p + row_number() over (order by at, ticket_id, type), contact_id, internal
                from e, base
               order by at, ticket_id, type`);
            events += rowCount ?? 0;
            await q('commit');
          } catch (err) {
            await q('rollback').catch(() => {});
            next = n + 1; // stop the other workers too
            throw err;
          }
          done += hi - lo + 1;
          log(`tickets: ${done.toLocaleString('en-US')} / ${n.toLocaleString('en-US')}`);
        }
      } finally {
        client.release();
      }
    };
    await Promise.all(Array.from({ length: workers }, work));

    // Room for each agent's share of the backlog, plus the usual 15 more.
    await q(`update users u set capacity = least(1000, open_tickets + 15) from ${T.agents} a where a.id = u.id`);
    await q(`select relaydesk_roll_up_ticket_counts()`);
    log('analyzing');
    for (const t of ['users', 'contacts', 'tickets', 'messages', 'events']) await q(`vacuum analyze ${t}`);
    const { rows: agents } = await q(`select id, email from ${T.agents} order by n`);
    return { agents, password, tickets: n, contacts: nContacts, messages, events, seconds: (performance.now() - started) / 1000 };
  } finally {
    for (const t of Object.values(T)) await q(`drop table if exists ${t}`).catch(() => {});
    client.release();
    await pool.end();
  }
}

async function main() {
  // DATABASE_URL, RELAYDESK_DATA_DIR and RELAYDESK_PG_PORT may come from ./.env.
  loadDotEnv();
  const { values } = parseArgs({
    options: {
      tickets: { type: 'string', default: '10000' },
      agents: { type: 'string' },
      contacts: { type: 'string' },
      days: { type: 'string' },
    },
  });
  const int = (name: string, v: string | undefined, min: number, max: number) => {
    if (v === undefined) return undefined;
    const x = Number(v.replace(/_/g, ''));
    if (!Number.isInteger(x) || x < min || x > max) {
      console.error(`--${name} must be a whole number from ${min} to ${max}`);
      process.exit(2);
    }
    return x;
  };
  const opts: SeedOptions = {
    tickets: int('tickets', values.tickets, 1, 50_000_000)!,
    agents: int('agents', values.agents, 1, 100_000),
    contacts: int('contacts', values.contacts, 1, 50_000_000),
    days: int('days', values.days, 15, 3650),
    log: (line) => console.log(`[seed] ${line}`),
  };

  let url = process.env.DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  if (!url) {
    const dataDir = path.resolve(process.env.RELAYDESK_DATA_DIR ?? '.data');
    url = runningEmbeddedUrl(path.join(dataDir, 'postgres'));
    if (!url) {
      const pgServer = await startEmbeddedPostgres({
        dataDir: path.join(dataDir, 'postgres'),
        port: Number(process.env.RELAYDESK_PG_PORT ?? 54329),
        detached: false,
      });
      url = pgServer.url;
      stop = () => pgServer.stop();
    }
    console.log(`[seed] embedded Postgres in ${path.relative(process.cwd(), dataDir) || dataDir}`);
  }
  try {
    const db = createDb(url, { max: 1, applicationName: 'relaydesk-seed' });
    try {
      await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
    await installQueues(url);
    const r = await seed(url, opts);
    console.log(
      `[seed] done in ${r.seconds.toFixed(0)} s: ${r.tickets.toLocaleString('en-US')} tickets, ${r.contacts.toLocaleString('en-US')} contacts, ` +
        `${r.agents.length.toLocaleString('en-US')} agents, ${r.messages.toLocaleString('en-US')} messages, ${r.events.toLocaleString('en-US')} events`,
    );
    console.log(`[seed] agents sign in as ${r.agents[0]!.email} … with the password ${r.password}`);
  } catch (err) {
    console.error(`[seed] failed: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await stop?.();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
