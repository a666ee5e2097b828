// The sequencer: gives committed events their place in the log.
//
// Writers only insert events; a deferred trigger queues each committing
// transaction in `event_commits` with a number drawn at pre-commit (see the
// live-events migration). A pass takes the queued transactions in that
// order and numbers their events after the current head, in one transaction
// under an advisory lock, so passes never overlap: positions are gapless and
// only grow, and a reader that has seen position N has seen all before it.
// Then one NOTIFY per pass wakes every server's hub, however many events
// it carried. Any process may run passes (the lock serialises them); one is
// elected to poll, so an idle system costs one tiny query per interval.
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import type { Logger } from '../logger.ts';
import { brief } from '../logger.ts';

export const EVENTS_CHANNEL = 'relaydesk_events';
const PASS_LOCK = 7390126;
const LEADER_LOCK = 7390127;
/** Transactions per pass. */
const PASS_BATCH = 1000;

/** Positions the queued committed events (up to `batch` transactions); returns how many. */
export async function sequencePass(db: Kysely<Database>, batch = PASS_BATCH): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${PASS_LOCK})`.execute(trx);
    const { rows } = await sql<{ n: number; head: number | null }>`
      with batch as (
        delete from event_commits
         where xid in (select xid from event_commits order by seq limit ${batch})
        returning xid, seq
      ), base as (
        select coalesce(max(position), 0) as p from events
      ), numbered as (
        select e.id, base.p + row_number() over (order by b.seq, e.id) as pos
          from batch b
          join events e on e.xid = b.xid and e.position is null
         cross join base
      ), done as (
        update events e set position = n.pos from numbered n where e.id = n.id returning e.position
      )
      select count(*)::int as n, max(position) as head from done`.execute(trx);
    const { n, head } = rows[0]!;
    if (n > 0) await sql`select pg_notify(${EVENTS_CHANNEL}, ${String(head)})`.execute(trx);
    return n;
  });
}

async function hasQueued(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ queued: boolean }>`select exists (select 1 from event_commits) as queued`.execute(db);
  return rows[0]!.queued;
}

export interface SequencerOptions {
  db: Kysely<Database>;
  connectionString: string;
  log: Logger;
  /** How often the leader looks for newly committed events. */
  intervalMs?: number;
  /** How often a follower tries to become the leader. */
  electionMs?: number;
}

export interface Sequencer {
  isLeader(): boolean;
  stop(): Promise<void>;
}

/**
 * Takes part in the election and, while leader, polls and runs passes. The
 * leader lock is a session lock on its own connection: if the process or its
 * connection dies, Postgres releases it and another process takes over
 * within `electionMs`.
 */
export function startSequencer(opts: SequencerOptions): Sequencer {
  const { db, log } = opts;
  const intervalMs = opts.intervalMs ?? 10;
  const electionMs = opts.electionMs ?? 1000;
  let stopped = false;
  let client: pg.Client | null = null;
  let leader = false;
  let wake: (() => void) | null = null;
  let failures = 0;
  let checked = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = null;
        resolve();
      };
    });

  async function elect(): Promise<void> {
    if (!client) {
      // Keepalive: a half-open connection would hold the leader lock (and
      // stall the log) until the server noticed; the check below finds it first.
      const c = new pg.Client({ connectionString: opts.connectionString, application_name: 'relaydesk-sequencer', keepAlive: true });
      c.on('error', () => {
        // The connection is gone, and with it the lock.
        leader = false;
        if (client === c) client = null;
        c.end().catch(() => {});
      });
      await c.connect();
      client = c;
    }
    const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [LEADER_LOCK]);
    if (rows[0]!.ok && !leader) log.debug('event sequencer elected');
    leader = rows[0]!.ok;
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        if (!leader) {
          await elect();
          if (!leader) {
            await sleep(electionMs);
            continue;
          }
          checked = Date.now();
        } else if (Date.now() - checked > electionMs) {
          // Still there? A dead lock connection means another process may lead.
          checked = Date.now();
          await client!.query({ text: 'select 1', query_timeout: 5000 } as pg.QueryConfig).catch(() => {
            leader = false;
            const c = client;
            client = null;
            void c?.end().catch(() => {});
          });
          if (!leader) continue;
        }
        const positioned = (await hasQueued(db)) ? await sequencePass(db, PASS_BATCH) : 0;
        if (failures > 0) log.info('event sequencer reconnected');
        failures = 0;
        // Pause between passes even when busy: the next pass then carries
        // every transaction committed meanwhile, so the log's cost per write
        // falls as the load rises. Only a large batch (a backlog) goes on at once.
        if (positioned < PASS_BATCH) await sleep(intervalMs);
      } catch (err) {
        failures++;
        if (failures === 1) log.warn({ err: brief(err) }, 'event sequencer: database unavailable, retrying');
        const c = client as pg.Client | null;
        if (c && !leader) {
          client = null;
          await c.end().catch(() => {});
        }
        await sleep(Math.min(2000, 50 * 2 ** Math.min(failures, 6)));
      }
    }
  })();

  return {
    isLeader: () => leader,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      leader = false;
      const c = client as pg.Client | null;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
