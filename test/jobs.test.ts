// The job backbone with real worker processes: auto-assignment, draining a
// full team's backlog, exactly-once effects across workers and a kill -9,
// dead letters, and enqueueing inside the write's transaction.
import { sql } from 'kysely';
import type { PgBoss } from 'pg-boss';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from 'uuidv7';
import type { Jobs } from '../server/src/core/jobs/send.ts';
import { createTicket } from '../server/src/core/tickets/create.ts';
import { createBoss } from '../server/src/core/jobs/boss.ts';
import { useWorld, type Actor } from './helpers/fixtures.ts';
import { startWorker, waitFor, type WorkerProcess } from './helpers/worker.ts';

describe('job backbone', () => {
  const w = useWorld('jobs');
  let boss: PgBoss;
  let running: WorkerProcess[] = [];
  const worker = async (env: Record<string, string> = {}) => {
    const p = await startWorker(w.dbUrl, env);
    running.push(p);
    return p;
  };

  beforeAll(async () => {
    boss = createBoss(w.dbUrl, { max: 2 });
    boss.on('error', () => {});
    await boss.start();
  });
  afterEach(async () => {
    await Promise.all(running.map((p) => p.kill9()));
    running = [];
  });
  afterAll(async () => {
    await boss?.stop({ graceful: false, close: true });
  });

  /** Takes the world's standing agents out of assignment so a test controls the team. */
  async function onlyTheseAgents(agents: Actor[]) {
    await w.db
      .updateTable('users')
      .set({ active: false })
      .where('role', '=', 'agent')
      .where('id', 'not in', agents.map((a) => a.id))
      .execute();
  }
  /** Closes every open ticket, so each test starts with an empty backlog. */
  const clearBacklog = () => sql`update tickets set status = 'closed', resolved_at = now() where status not in ('resolved', 'closed')`.execute(w.db);
  const openLoad = async (a: Actor) =>
    (await w.db.selectFrom('users').select('open_tickets').where('id', '=', a.id).executeTakeFirstOrThrow()).open_tickets;
  /**
   * A ticket and its assignment job, sent straight to the queue (with `opts`),
   * resolved once a worker holds the assignment's transaction open.
   */
  async function assignmentInFlight(title: string, opts: { expireInSeconds?: number } = {}) {
    // Any assignment job drains the whole backlog, so a leftover one (a
    // capacity change's, the minute sweep's) fetched first would assign this
    // ticket instead of the test's job. Start from an idle queue; jobs sent
    // after the test's one are fetched after it.
    await waitFor('the assignment queue to be idle', async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int n from pgboss.job where name = 'ticket.assign' and state in ('created', 'retry', 'active')`.execute(w.db);
      return rows[0]!.n === 0;
    });
    const ticketId = uuidv7();
    await w.db.insertInto('tickets').values({ id: ticketId, title, description: 'x', contact_id: w.customer.contactId! }).execute();
    const jobId = (await boss.send('ticket.assign', { ticketId, reason: 'created' }, opts))!;
    // In flight: this job fetched (active) and an assignment's lock held. The
    // lock alone could be another test's leftover job.
    await waitFor('the assignment to be in flight', async () => {
      const { rows } = await sql<{ n: number; active: boolean }>`
        select (select count(*)::int from pg_locks where locktype = 'advisory' and objid = 7390125 and granted) as n,
               exists (select 1 from pgboss.job where id = ${jobId} and state = 'active') as active`.execute(w.db);
      return rows[0]!.n > 0 && rows[0]!.active;
    });
    return { ticketId, jobId };
  }
  const jobStates = async (name: string) =>
    (await sql<{ state: string; n: number }>`select state, count(*)::int n from pgboss.job where name = ${name} group by state`.execute(w.db)).rows;

  it('auto-assigns 50 concurrent tickets without exceeding any capacity, then drains the backlog as capacity frees', async () => {
    await clearBacklog();
    const team = [await w.makeUser('agent', 'A', { capacity: 5 }), await w.makeUser('agent', 'B', { capacity: 5 }), await w.makeUser('agent', 'C', { capacity: 5 })];
    await onlyTheseAgents(team);
    await worker();
    await worker();

    const created = await Promise.all(
      Array.from({ length: 50 }, (_, i) => w.customer.rd.tickets.create.mutate({ title: `burst ${i}`, description: 'help' })),
    );
    const ids = created.map((t) => t.id).sort(); // uuid v7: creation order
    const assigned = () => w.db.selectFrom('tickets').select(['id', 'assignee_id']).where('id', 'in', ids).where('assignee_id', 'is not', null).execute();
    await waitFor('15 assignments', async () => (await assigned()).length === 15);
    // Every agent is exactly full. (Which 15 were taken depends on commit order:
    // tickets created concurrently may commit out of id order.)
    for (const a of team) expect(await openLoad(a)).toBe(5);
    const taken = new Set((await assigned()).map((t) => t.id));
    const waiting = ids.filter((id) => !taken.has(id)); // oldest first
    expect(waiting).toHaveLength(35);
    const holderOf = async (id: string) =>
      (await w.db.selectFrom('tickets').select('assignee_id').where('id', '=', id).executeTakeFirstOrThrow()).assignee_id;

    // A resolve frees a slot: the oldest waiting ticket goes to that agent, with no one re-triggering anything.
    const [first] = await w.db.selectFrom('tickets').select('id').where('assignee_id', '=', team[0]!.id).orderBy('id').limit(1).execute();
    await team[0]!.rd.tickets.resolve.mutate({ id: first!.id });
    await waitFor('the oldest waiting ticket to go to A', async () => (await holderOf(waiting[0]!)) === team[0]!.id);

    // A capacity change and a new agent take the next oldest from the backlog.
    await w.admin.rd.users.update.mutate({ id: team[1]!.id, capacity: 7 });
    await waitFor('B to reach 7', async () => (await openLoad(team[1]!)) === 7);
    expect([await holderOf(waiting[1]!), await holderOf(waiting[2]!)]).toEqual([team[1]!.id, team[1]!.id]);
    const newcomer = await w.admin.rd.users.create.mutate({ name: 'New', email: 'new-agent@example.com', role: 'agent', capacity: 4 });
    await waitFor('the new agent to get 4', async () => {
      const n = await w.db.selectFrom('users').select('open_tickets').where('id', '=', newcomer.id).executeTakeFirstOrThrow();
      return n.open_tickets === 4;
    });
    for (const id of waiting.slice(3, 7)) expect(await holderOf(id)).toBe(newcomer.id);
    expect(await holderOf(waiting[7]!)).toBeNull();
    const maxOver = await sql<{ n: number }>`select count(*)::int n from users where open_tickets > capacity`.execute(w.db);
    expect(maxOver.rows[0]!.n).toBe(0);
  });

  it("a deactivated agent's open tickets go back to the queue and on to someone with room", async () => {
    await clearBacklog();
    const leaving = await w.makeUser('agent', 'Leaving', { capacity: 5 });
    const staying = await w.makeUser('agent', 'Staying', { capacity: 5 });
    await onlyTheseAgents([leaving, staying]);
    await w.db.updateTable('users').set({ active: false }).where('id', '=', staying.id).execute();
    await worker();
    const t = await w.customer.rd.tickets.create.mutate({ title: 'Handover', description: 'x' });
    const holder = async () => (await w.db.selectFrom('tickets').select('assignee_id').where('id', '=', t.id).executeTakeFirstOrThrow()).assignee_id;
    await waitFor('the ticket to go to the only active agent', async () => (await holder()) === leaving.id);

    await w.admin.rd.users.update.mutate({ id: staying.id, active: true });
    await w.admin.rd.users.update.mutate({ id: leaving.id, active: false });
    await waitFor('the ticket to move to the remaining agent', async () => (await holder()) === staying.id);
    expect(await openLoad(leaving)).toBe(0);
    const events = await w.db.selectFrom('events').select('data').where('type', '=', 'ticket.assigned').where('ticket_id', '=', t.id).orderBy('id').execute();
    expect(events.map((e) => (e.data as { reason: string }).reason)).toEqual(['auto', 'released', 'auto']);
  });

  it('three workers run 1,000 jobs: every effect exactly once', { timeout: 120_000 }, async () => {
    await clearBacklog();
    const team: Actor[] = [];
    for (let i = 0; i < 70; i++) team.push(await w.makeUser('agent', `T${i}`, { capacity: 15 }));
    await onlyTheseAgents(team);

    const ids = Array.from({ length: 1000 }, () => uuidv7());
    await w.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('tickets')
        .values(ids.map((id, i) => ({ id, title: `bulk ${i}`, description: 'd', contact_id: w.customer.contactId! })))
        .execute();
    });
    const before = (await jobStates('ticket.assign')).find((r) => r.state === 'completed')?.n ?? 0;
    await boss.insert('ticket.assign', ids.map((ticketId) => ({ data: { ticketId, reason: 'created' } })));
    await Promise.all([worker(), worker(), worker()]);
    const started = performance.now();

    await waitFor('1,000 assignment jobs to complete', async () => {
      const states = await jobStates('ticket.assign');
      const completed = states.find((r) => r.state === 'completed')?.n ?? 0;
      const pending = states.filter((r) => ['created', 'retry', 'active'].includes(r.state)).reduce((a, r) => a + r.n, 0);
      return completed - before >= 1000 && pending === 0;
    }, 90_000);
    const took = performance.now() - started;
    console.log(`[jobs] 3 workers ran 1,000 assignment jobs in ${Math.round(took)} ms`);

    const events = await sql<{ ticket_id: string; n: number }>`
      select ticket_id, count(*)::int n from events
      where type = 'ticket.assigned' and ticket_id = any(${ids}::uuid[]) group by ticket_id`.execute(w.db);
    expect(events.rows).toHaveLength(1000);
    expect(events.rows.every((r) => r.n === 1)).toBe(true);
    const loads = await w.db.selectFrom('users').select(['open_tickets', 'capacity']).where('id', 'in', team.map((a) => a.id)).execute();
    expect(loads.every((l) => l.open_tickets <= l.capacity)).toBe(true);
    expect(loads.reduce((a, l) => a + l.open_tickets, 0)).toBe(1000);
    expect((await jobStates('ticket.assign')).find((r) => r.state === 'failed')).toBeUndefined();
  });

  it('kill -9 in the middle of a job: the job runs again elsewhere and its effect happens once', { timeout: 120_000 }, async () => {
    await clearBacklog();
    const agent = await w.makeUser('agent', 'Solo', { capacity: 10 });
    await onlyTheseAgents([agent]);
    // This worker holds its transaction open for 30 s after assigning: it dies with the job active.
    const victim = await worker({ RELAYDESK_TEST_JOB_HOLD_MS: '30000' });
    // A short expiry, so the test need not wait out the production one (60 s).
    const { ticketId, jobId } = await assignmentInFlight('Doomed worker', { expireInSeconds: 3 });
    await victim.kill9();
    // Its uncommitted assignment rolled back with the connection.
    expect((await w.db.selectFrom('tickets').select('assignee_id').where('id', '=', ticketId).executeTakeFirstOrThrow()).assignee_id).toBeNull();

    await worker();
    const done = await waitFor('the job to be completed on retry', async () => {
      const { rows } = await sql<{ state: string; retry_count: number }>`select state, retry_count from pgboss.job where id = ${jobId}`.execute(w.db);
      return rows[0]?.state === 'completed' ? rows[0] : undefined;
    }, 60_000);
    expect(done.retry_count).toBeGreaterThanOrEqual(1);
    const t = await w.db.selectFrom('tickets').select('assignee_id').where('id', '=', ticketId).executeTakeFirstOrThrow();
    expect(t.assignee_id).toBe(agent.id);
    const events = await w.db.selectFrom('events').select('id').where('type', '=', 'ticket.assigned').where('ticket_id', '=', ticketId).execute();
    expect(events).toHaveLength(1);
    expect(await openLoad(agent)).toBe(1);
  });

  it('SIGTERM stops a worker gracefully: the job in flight finishes, then the process exits', { timeout: 60_000 }, async () => {
    await clearBacklog();
    const agent = await w.makeUser('agent', 'Graceful', { capacity: 10 });
    await onlyTheseAgents([agent]);
    // Holds its transaction 2 s after assigning, so SIGTERM lands mid-job.
    const p = await worker({ RELAYDESK_TEST_JOB_HOLD_MS: '2000' });
    const { ticketId, jobId } = await assignmentInFlight('In flight');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const { rows } = await sql<{ state: string }>`select state from pgboss.job where id = ${jobId}`.execute(w.db);
    expect(rows[0]!.state).toBe('completed');
    expect((await w.db.selectFrom('tickets').select('assignee_id').where('id', '=', ticketId).executeTakeFirstOrThrow()).assignee_id).toBe(agent.id);
  });

  it('a payload that fails its schema goes to the dead-letter queue with the reason', async () => {
    await worker();
    const id = await boss.send('ticket.assign', { reason: 'not-a-reason', ticketId: 'nope' });
    const failed = await waitFor('the job to fail', async () => {
      const { rows } = await sql<{ state: string; output: { reason: string; issues: { path: string }[] } }>`
        select state, output from pgboss.job where id = ${id}`.execute(w.db);
      return rows[0]?.state === 'failed' ? rows[0] : undefined;
    });
    expect(failed.output.reason).toBe('invalid payload');
    expect(failed.output.issues.map((i) => i.path).sort()).toEqual(['reason', 'ticketId']);
    // No retries for a payload that can never parse; its copy waits in the dead-letter queue.
    const { rows } = await sql<{ n: number }>`select count(*)::int n from pgboss.job where name = 'ticket.assign.dead' and data->>'ticketId' = 'nope'`.execute(w.db);
    expect(rows[0]!.n).toBe(1);
    // queues.stats reads pg-boss's counters, which the workers' monitor refreshes every 10 s.
    await waitFor('queues.stats to count the dead letter', async () => {
      const stats = await w.admin.rd.queues.stats.query();
      return stats.find((q) => q.name === 'ticket.assign')!.deadLettered >= 1;
    });
  });

  it('assignment jobs fetched together are answered by one drain: all complete, an invalid one among them is dead-lettered alone', async () => {
    await clearBacklog();
    const agent = await w.makeUser('agent', 'Batch', { capacity: 50 });
    await onlyTheseAgents([agent]);
    // Queued while no worker runs, so one fetch takes them all.
    const tickets = await Promise.all(Array.from({ length: 5 }, (_, i) => w.customer.rd.tickets.create.mutate({ title: `queued ${i}`, description: 'x' })));
    const marker = uuidv7(); // tells this test's jobs from earlier ones
    await boss.insert('ticket.assign', [...Array.from({ length: 20 }, () => ({ data: { reason: 'capacity', ticketId: marker } })), { data: { reason: 'bogus', ticketId: marker } }]);
    const queued = async () =>
      (await sql<{ state: string; n: number }>`select state, count(*)::int n from pgboss.job where name = 'ticket.assign' and state in ('created', 'retry', 'active') group by state`.execute(w.db)).rows;
    expect((await queued()).reduce((a, r) => a + r.n, 0)).toBeGreaterThanOrEqual(21);
    await worker();
    await waitFor('every queued assignment job to settle', async () => (await queued()).length === 0);
    const { rows } = await sql<{ state: string; n: number }>`
      select state, count(*)::int n from pgboss.job where name = 'ticket.assign' and data->>'ticketId' = ${marker} group by state order by state`.execute(w.db);
    expect(Object.fromEntries(rows.map((r) => [r.state, r.n]))).toEqual({ completed: 20, failed: 1 });
    for (const t of tickets) {
      expect((await w.db.selectFrom('tickets').select('assignee_id').where('id', '=', t.id).executeTakeFirstOrThrow()).assignee_id).toBe(agent.id);
    }
  });

  it('enqueues in the same transaction as the write: a failed send leaves no ticket, a created ticket always has its job', async () => {
    const user = { id: w.admin.id, name: 'Admin', email: w.admin.email, role: 'admin' as const, contactId: null, tokenId: w.admin.tokenId };
    const failing: Jobs = {
      autoAssign: true,
      classify: false,
      boss,
      ready: async () => {},
      send: async () => {
        throw new Error('queue unavailable');
      },
    };
    const count = async () => (await w.db.selectFrom('tickets').select((e) => e.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;
    const before = await count();
    await expect(createTicket(w.db, failing, user, { title: 'Never', description: 'stored' })).rejects.toThrow('queue unavailable');
    expect(await count()).toBe(before);

    // Through the API: the job row carries the ticket's transaction timestamp (now() is per transaction).
    const t = await w.admin.rd.tickets.create.mutate({ title: 'With its job', description: 'x' });
    const { rows } = await sql<{ same: boolean }>`
      select j.created_on = t.created_at as same from pgboss.job j, tickets t
      where j.name = 'ticket.assign' and j.data->>'ticketId' = ${t.id} and t.id = ${t.id}`.execute(w.db);
    expect(rows).toEqual([{ same: true }]);
  });

  it('GET /metrics exposes HTTP latency by procedure and queue depths', async () => {
    await w.admin.rd.tickets.list.query();
    const text = await (await fetch(`${w.url}/metrics`)).text();
    expect(text).toMatch(/relaydesk_http_request_duration_seconds_count\{procedure="tickets.list",status="200"\} \d+/);
    expect(text).toMatch(/relaydesk_queue_jobs\{queue="ticket.assign",state="completed"\} \d+/);
    await fetch(`${w.url}/trpc/made.up.path`);
    expect(await (await fetch(`${w.url}/metrics`)).text()).not.toContain('made.up.path');
  });

  it('a worker serves its own metrics: job durations and outcomes', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    await worker({ WORKER_METRICS_PORT: String(port) });
    await w.customer.rd.tickets.create.mutate({ title: 'Metered', description: 'x' });
    await waitFor('a completed job in the worker metrics', async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /relaydesk_jobs_total\{queue="ticket.assign",outcome="completed"\} [1-9]/.test(text);
    });
  });
});
