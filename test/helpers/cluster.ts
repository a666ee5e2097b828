// A Postgres cluster of a test file's own (migrated, queues installed), for
// tests that stop and restart it: the other files' database is never touched.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDb, migrateToLatest } from '@relaydesk/db';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '@relaydesk/db/embedded';
import { installQueues } from '../../server/src/core/jobs/boss.ts';

export interface OwnCluster {
  readonly url: string;
  /** Stops Postgres (a restart: `start()` brings it back on the same port and data). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it if running and removes its data. */
  destroy(): Promise<void>;
}

export async function startOwnCluster(label: string): Promise<OwnCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `relaydesk-${label}-`));
  const open = (port: number) =>
    startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port, detached: false, settings: { fsync: 'off', synchronous_commit: 'off' } });
  let pg: EmbeddedPostgres = await open(0);
  let running = true;
  const db = createDb(pg.url, { max: 2 });
  await migrateToLatest(db);
  await db.destroy();
  await installQueues(pg.url);
  return {
    get url() {
      return pg.url;
    },
    async stop() {
      await pg.stop();
      running = false;
    },
    async start() {
      pg = await open(pg.port);
      running = true;
    },
    async destroy() {
      if (running) await pg.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
