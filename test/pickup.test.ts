// Job pickup: workers hold a LISTEN connection and wake on the NOTIFY that
// sending a job makes at commit; without it (switched off for a pooler, or
// lost with its connection) they poll, and nothing waits for ever.
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGroq, type FakeGroq } from './helpers/fake-groq.ts';
import { useWorld } from './helpers/fixtures.ts';
import { startWorker, waitFor, type WorkerProcess } from './helpers/worker.ts';

describe('job pickup', () => {
  // With an LLM (the local fake of Groq) configured, classification is a job
  // as well as assignment: both queues are picked up.
  let fake: FakeGroq;
  beforeAll(async () => {
    fake = await startFakeGroq();
  });
  afterAll(() => fake?.close());
  const llm = () => ({ GROQ_API_KEY: 'test-groq-key', GROQ_BASE_URL: fake.url, AI_CLASSIFY: 'auto' });
  const w = useWorld('pickup', { serverEnv: llm });
  let running: WorkerProcess[] = [];
  afterEach(async () => {
    await Promise.all(running.map((p) => p.kill9()));
    running = [];
  });
  const worker = async (env: Record<string, string> = {}, output?: string[]) => {
    const p = await startWorker(w.dbUrl, { ...llm(), ...env }, { output });
    running.push(p);
    return p;
  };

  /** The backends of this database's workers that hold (or check) a LISTEN. */
  const listeners = async () => {
    const { rows } = await sql<{ pid: number }>`
      select pid from pg_stat_activity
       where datname = current_database() and application_name = 'relaydesk-worker-boss' and query ilike '%listen%'`.execute(w.db);
    return rows.map((r) => r.pid);
  };

  /** Creates `n` tickets with nothing to go on, and waits until every one is classified and assigned. */
  async function createAndSettle(n: number, label: string) {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const t = await w.customer.rd.tickets.create.mutate({ title: `${label} ${i}: the invoice page shows an error`, description: 'It fails when I try to pay.' });
      ids.push(t.id);
    }
    await waitFor(
      `${n} tickets (${label}) classified and assigned`,
      async () => {
        const done = await w.db
          .selectFrom('tickets')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('id', 'in', ids)
          .where('category', 'is not', null)
          .where(sql`classification->>'source'`, '=', 'llm')
          .where('assignee_id', 'is not', null)
          .executeTakeFirstOrThrow();
        return Number(done.n) === n;
      },
      60_000,
    );
    return ids;
  }

  it('the queues people wait on send a NOTIFY with each job', async () => {
    const rows = await w.db.withSchema('pgboss').selectFrom('queue' as never).select(['name' as never, 'notify' as never]).execute();
    const notify = Object.fromEntries((rows as { name: string; notify: boolean }[]).map((r) => [r.name, r.notify]));
    expect(notify).toMatchObject({ 'ticket.assign': true, 'ticket.classify': true, 'ticket.ai-draft': true, 'webhook.deliver': true });
  });

  it('a worker listens, and is woken by new jobs', { timeout: 120_000 }, async () => {
    expect(await listeners()).toEqual([]);
    await worker();
    await waitFor('the worker to LISTEN', async () => (await listeners()).length === 1, 30_000);
    await createAndSettle(5, 'listening');
  });

  it('with JOBS_LISTEN_NOTIFY=false (a pooler in transaction mode) the worker polls, and jobs still run', { timeout: 120_000 }, async () => {
    await worker({ JOBS_LISTEN_NOTIFY: 'false' });
    await createAndSettle(5, 'polling');
    expect(await listeners()).toEqual([]);
  });

  it('a lost LISTEN connection is reported, jobs go on by polling meanwhile, and it comes back', { timeout: 120_000 }, async () => {
    const output: string[] = [];
    await worker({}, output);
    const [before] = await waitFor('the worker to LISTEN', async () => {
      const pids = await listeners();
      return pids.length === 1 && pids;
    });
    await sql`select pg_terminate_backend(${before!})`.execute(w.db);
    await waitFor('the loss in the worker log', async () => output.some((l) => l.includes('pg-boss error') && l.includes('terminating connection')));
    await createAndSettle(5, 'after the loss');
    const [after] = await waitFor('the LISTEN to be back', async () => {
      const pids = await listeners();
      return pids.length === 1 && pids;
    }, 60_000);
    expect(after).not.toBe(before);
    await createAndSettle(5, 'listening again');
  });
});
