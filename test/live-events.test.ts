// The live-events guarantee under fire: two server processes and a worker
// writing, 24 writers whose transactions commit out of id order on purpose
// (and some roll back), subscribers on each server whose connections are cut
// at random and who restart from their last id, and Postgres restarting in
// the middle. For every subscriber: received = committed, no duplicates,
// commit order. Runs on a cluster of its own, so restarting it disturbs no
// other test file.
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelaydeskClient, type RelaydeskClient, type RelaydeskEvent } from '@relaydesk/client';
import { createDb } from '@relaydesk/db';
import { issueToken } from '../server/src/core/users/auth.ts';
import { cursorOf } from '../server/src/core/events/types.ts';
import { createUser } from '../server/src/core/users/create.ts';
import { startOwnCluster, type OwnCluster } from './helpers/cluster.ts';
import { follow, type Follower } from './helpers/events.ts';
import { startProxy, type Proxy } from './helpers/proxy.ts';
import { startServer, type ServerProcess } from './helpers/server.ts';
import { startWorker, waitFor, type WorkerProcess } from './helpers/worker.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);

/** One app following the log: it may restart (a new subscription from its last id) any time. */
class App {
  received: RelaydeskEvent[] = [];
  restarts = 0;
  #current: Follower | null = null;
  #delivered = 0;
  readonly name: string;
  readonly rd: RelaydeskClient;
  readonly from: string;
  constructor(name: string, rd: RelaydeskClient, from: string) {
    this.name = name;
    this.rd = rd;
    this.from = from;
  }
  start() {
    const lastEventId = this.received.at(-1)?.id ?? this.from;
    this.#current = follow(this.rd, { lastEventId });
    this.#delivered = 0;
    const f = this.#current;
    // Copy over as they come, so a restart loses nothing the app had seen.
    const pump = setInterval(() => {
      if (f !== this.#current) return clearInterval(pump);
      while (this.#delivered < f.events.length) this.received.push(f.events[this.#delivered++]!);
    }, 5);
  }
  restart() {
    this.flush();
    this.#current?.stop();
    this.restarts++;
    this.start();
  }
  flush() {
    const f = this.#current;
    if (f) while (this.#delivered < f.events.length) this.received.push(f.events[this.#delivered++]!);
  }
  error() {
    return this.#current?.error;
  }
  describe() {
    this.flush();
    return `${this.name}: ${this.received.length} received, last ${this.received.at(-1)?.id}, state ${this.#current?.state}`;
  }
  stop() {
    this.flush();
    this.#current?.stop();
    this.#current = null;
  }
}

interface Txn {
  writer: number;
  ids: number[];
  commitStart: number;
  commitEnd: number;
  outcome: 'committed' | 'rolled back' | 'unknown';
}

describe('live events across processes, faults and restarts', () => {
  let cluster: OwnCluster;
  const servers: ServerProcess[] = [];
  const proxies: Proxy[] = [];
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    cluster = await startOwnCluster('live');
  });
  afterAll(async () => {
    for (const p of proxies) await p.close();
    await worker?.stop();
    for (const s of servers) await s.stop();
    await cluster?.destroy();
  });

  it('every subscriber receives exactly the committed events, in commit order', { timeout: 240_000 }, async () => {
    const db = createDb(cluster.url, { max: 4 });
    const admin = await createUser(db, null, { name: 'Admin', email: 'admin@example.com', role: 'admin' });
    const agent = await createUser(db, null, { name: 'Agent', email: 'agent@example.com', role: 'agent', capacity: 1000 });
    const adminToken = (await issueToken(db, admin.id, 'test')).token;
    const agentToken = (await issueToken(db, agent.id, 'test')).token;
    const { rows } = await sql<{ head: number | null }>`select max(position) as head from events`.execute(db);
    const from = cursorOf(Number(rows[0]!.head ?? 0));
    await db.destroy();

    // The outage makes every process log; only errors matter here.
    const quiet = { LOG_LEVEL: 'error' };
    servers.push(await startServer(cluster.url, quiet), await startServer(cluster.url, quiet));
    worker = await startWorker(cluster.url, quiet);
    for (const s of servers) proxies.push(await startProxy(s.url));
    const client = (url: string, token: string) => createRelaydeskClient({ url, token, retryDelayMs: () => 100 });
    const apps = [
      new App('admin via server 1', client(proxies[0]!.url, adminToken), from),
      new App('agent via server 2', client(proxies[1]!.url, agentToken), from),
    ];
    for (const a of apps) a.start();

    // ---- the writers --------------------------------------------------------
    const pool = new pg.Pool({ connectionString: cluster.url, max: 30 });
    pool.on('error', () => {}); // connections die with the restart; the writers go on
    const txns: Txn[] = [];
    const guarded = new WeakSet<pg.PoolClient>();
    let writing = true;
    const writer = async (w: number) => {
      for (let n = 0; writing; n++) {
        let c: pg.PoolClient;
        try {
          c = await pool.connect();
          if (!guarded.has(c)) {
            guarded.add(c);
            c.on('error', () => {}); // the restart; the query in flight fails and says so
          }
        } catch {
          await sleep(100);
          continue;
        }
        const t: Txn = { writer: w, ids: [], commitStart: 0, commitEnd: 0, outcome: 'unknown' };
        try {
          await c.query('begin');
          const count = 1 + rand(3);
          for (let i = 0; i < count; i++) {
            const r = await c.query<{ id: string }>(
              `insert into events (type, data) values ('ticket.updated', jsonb_build_object('writer', $1::int, 'n', $2::int, 'i', $3::int)) returning id`,
              [w, n, i],
            );
            t.ids.push(Number(r.rows[0]!.id));
            // Hold the transaction open a while: later ids commit first.
            await sleep(rand(25));
          }
          if (rand(10) === 0) {
            await c.query('rollback');
            t.outcome = 'rolled back';
          } else {
            t.commitStart = performance.now();
            await c.query('commit');
            t.commitEnd = performance.now();
            t.outcome = 'committed';
          }
          c.release();
        } catch {
          c.release(true); // a COMMIT cut by the restart may or may not have happened: the log says
        }
        txns.push(t);
      }
    };
    // Writes through both servers (and, through auto-assignment, the worker).
    const apiWriter = async (i: number) => {
      const rd = createRelaydeskClient({ url: servers[i % 2]!.url, token: adminToken });
      for (let n = 0; writing; n++) {
        await rd.tickets.create.mutate({ title: `API ${i}.${n}`, description: 'x' }).catch(() => sleep(100));
      }
    };
    const running = [...Array.from({ length: 24 }, (_, w) => writer(w)), ...[0, 1, 2, 3].map(apiWriter)];

    // ---- the faults ---------------------------------------------------------
    let faults = true;
    let drops = 0;
    const chaos = (async () => {
      while (faults) {
        await sleep(200 + rand(600));
        if (!faults) break;
        if (rand(3) === 0) apps[rand(apps.length)]!.restart();
        else drops += proxies[rand(proxies.length)]!.dropAll();
      }
    })();

    await sleep(4000);
    await cluster.stop();
    await sleep(1000);
    await cluster.start();
    await sleep(5000);
    writing = false;
    await Promise.all(running);
    await sleep(1000);
    faults = false;
    await chaos;

    // ---- the checks ---------------------------------------------------------
    const check = createDb(cluster.url, { max: 2 });
    await waitFor('every committed event to be positioned', async () => {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from events where position is null`.execute(check);
      return rows[0]!.n === 0;
    });
    const log = await check
      .selectFrom('events')
      .select(['id', 'position', 'type', 'data'])
      .where('position', '>', Number(from))
      .orderBy('position')
      .execute();
    await check.destroy();
    const expected = log.map((e) => cursorOf(Number(e.position)));
    const positionOfId = new Map(log.map((e) => [Number(e.id), Number(e.position)]));

    for (const app of apps) {
      const timer = setInterval(() => console.log(`[live-events] ${app.describe()} of ${expected.length}`), 5000);
      await waitFor(
        `${app.name} to catch up`,
        async () => {
          if (app.error()) throw app.error();
          app.flush();
          return app.received.length >= expected.length;
        },
        60_000,
      ).finally(() => clearInterval(timer));
      app.stop();
      const ids = app.received.map((e) => e.id);
      expect(new Set(ids).size, `${app.name}: no duplicates`).toBe(ids.length);
      expect(ids, `${app.name}: exactly the committed events, in log order`).toEqual(expected);
    }

    // What the writers know agrees with the log.
    const committed = txns.filter((t) => t.outcome === 'committed');
    const rolledBack = txns.filter((t) => t.outcome === 'rolled back');
    for (const t of committed) for (const id of t.ids) expect(positionOfId.has(id), `committed event ${id} in the log`).toBe(true);
    for (const t of rolledBack) for (const id of t.ids) expect(positionOfId.has(id), `rolled-back event ${id} not in the log`).toBe(false);

    // Commit order: a transaction whose COMMIT returned before another's
    // COMMIT was sent comes first in the log.
    const byEnd = [...committed].sort((a, b) => a.commitEnd - b.commitEnd);
    const prefixMax: number[] = [];
    for (const t of byEnd) prefixMax.push(Math.max(prefixMax.at(-1) ?? 0, ...t.ids.map((id) => positionOfId.get(id)!)));
    let ordered = 0;
    for (const t of committed) {
      let lo = 0;
      let hi = byEnd.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (byEnd[mid]!.commitEnd < t.commitStart) lo = mid + 1;
        else hi = mid;
      }
      if (lo === 0) continue;
      const first = Math.min(...t.ids.map((id) => positionOfId.get(id)!));
      expect(prefixMax[lo - 1]!, 'a transaction committed earlier is earlier in the log').toBeLessThan(first);
      ordered++;
    }
    // The hazard was really there: ids that committed out of order.
    const firstIds = committed.map((t) => ({ id: Math.min(...t.ids), pos: positionOfId.get(Math.min(...t.ids))! })).sort((a, b) => a.id - b.id);
    let outOfOrder = 0;
    for (let i = 1; i < firstIds.length; i++) if (firstIds[i]!.pos < firstIds[i - 1]!.pos) outOfOrder++;

    const kinds = new Set(log.map((e) => e.type));
    console.log(
      `[live-events] ${log.length} events (${committed.length} writer transactions, ${rolledBack.length} rolled back, ` +
        `${txns.length - committed.length - rolledBack.length} cut by the restart); ${outOfOrder} commits out of id order; ` +
        `${ordered} commit-order pairs checked; ${drops} connections cut; ${apps.map((a) => a.restarts).join('+')} app restarts`,
    );
    expect(outOfOrder).toBeGreaterThan(0);
    expect(drops).toBeGreaterThan(0);
    expect(kinds).toContain('ticket.created'); // from the servers
    expect(kinds).toContain('ticket.assigned'); // from the worker
    await pool.end();
  });
});
