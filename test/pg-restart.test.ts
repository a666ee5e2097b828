// Postgres restarting under a running server and worker: both reconnect by
// themselves and go on. Uses a cluster of its own, so the other test files'
// database is never interrupted.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelaydeskClient } from '@relaydesk/client';
import { createDb } from '@relaydesk/db';
import { issueToken } from '../server/src/core/users/auth.ts';
import { createUser } from '../server/src/core/users/create.ts';
import { startOwnCluster, type OwnCluster } from './helpers/cluster.ts';
import { startServer, type ServerProcess } from './helpers/server.ts';
import { startWorker, waitFor, type WorkerProcess } from './helpers/worker.ts';

describe('Postgres restart', () => {
  let pg: OwnCluster;
  let server: ServerProcess;
  let worker: WorkerProcess;

  beforeAll(async () => {
    pg = await startOwnCluster('restart');
  });
  afterAll(async () => {
    await worker?.kill9();
    await server?.stop();
    await pg?.destroy();
  });

  it('server and worker reconnect and go on', { timeout: 120_000 }, async () => {
    const db = createDb(pg.url, { max: 2 });
    const admin = await createUser(db, null, { name: 'Admin', email: 'admin@example.com', role: 'admin' });
    await createUser(db, null, { name: 'Agent', email: 'agent@example.com', role: 'agent', capacity: 100 });
    const { token } = await issueToken(db, admin.id, 'test');
    await db.destroy();

    server = await startServer(pg.url);
    worker = await startWorker(pg.url);
    const rd = createRelaydeskClient({ url: server.url, token });
    const assigned = async (id: string) => (await rd.tickets.get.query({ id })).assigneeId !== null;

    const before = await rd.tickets.create.mutate({ title: 'Before the restart', description: 'x' });
    await waitFor('the first ticket to be assigned', () => assigned(before.id));

    await pg.stop();
    const down = await fetch(`${server.url}/health`);
    expect(down.status).toBe(503);
    // A call during the outage says so — SERVICE_UNAVAILABLE, not an internal error — and leaks no address.
    const err = await rd.tickets.list.query().then(
      () => undefined,
      (e: { data?: { code?: string }; message: string }) => e,
    );
    expect(err?.data?.code).toBe('SERVICE_UNAVAILABLE');
    expect(err?.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    await pg.start();

    // The server answers again without a restart of its own (a request or two may meet a dead connection).
    await waitFor('the server to see the database', async () => (await fetch(`${server.url}/health`)).status === 200);
    const after = await waitFor('a ticket to be created after the restart', async () =>
      rd.tickets.create.mutate({ title: 'After the restart', description: 'x' }).catch(() => undefined),
    );
    // The same worker process picks the new job up.
    await waitFor('the second ticket to be assigned', () => assigned(after.id), 60_000);
    expect(worker.child.exitCode).toBeNull();

    const check = createDb(pg.url, { max: 1 });
    const { rows } = await sql<{ n: number }>`select count(*)::int n from events where type = 'ticket.assigned'`.execute(check);
    expect(rows[0]!.n).toBe(2);
    await check.destroy();
  });
});
