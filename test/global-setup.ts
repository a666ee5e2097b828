// One Postgres for the whole run, and a migrated template database that each
// test file clones (CREATE DATABASE … TEMPLATE, a file copy: milliseconds).
//
// Which Postgres: TEST_DATABASE_URL if set (a role that may CREATE DATABASE),
// else a testcontainers Postgres when a Docker engine answers, else an
// embedded Postgres in a temporary directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDb, migrateToLatest } from '@relaydesk/db';
import { startEmbeddedPostgres } from '@relaydesk/db/embedded';
import { installQueues } from '@relaydesk/server/core/jobs/boss';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
    templateDatabase: string;
    databaseSource: string;
  }
}

const TEMPLATE = `relaydesk_template_${process.pid}`;

function dockerMayAnswer(): boolean {
  if (process.env.DOCKER_HOST || process.env.TESTCONTAINERS_HOST_OVERRIDE) return true;
  return ['/var/run/docker.sock', path.join(os.homedir(), '.docker/run/docker.sock')].some((s) => fs.existsSync(s));
}

async function startContainer(): Promise<{ url: string; stop: () => Promise<void> } | undefined> {
  try {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:18-alpine')
      .withCommand(['postgres', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'max_connections=300'])
      .withStartupTimeout(120_000)
      .start();
    return { url: container.getConnectionUri(), stop: async () => void (await container.stop()) };
  } catch (err) {
    console.warn(`[test] a Docker socket exists but no container could start (${(err as Error).message}); using embedded Postgres`);
    return undefined;
  }
}

export default async function setup(project: TestProject) {
  let adminUrl = process.env.TEST_DATABASE_URL;
  let source = 'TEST_DATABASE_URL';
  let stop: (() => Promise<void>) | undefined;

  if (!adminUrl && dockerMayAnswer()) {
    const c = await startContainer();
    if (c) {
      adminUrl = c.url;
      stop = c.stop;
      source = 'testcontainers';
    }
  }
  if (!adminUrl) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relaydesk-test-'));
    const embedded = await startEmbeddedPostgres({
      dataDir: path.join(dir, 'pg'),
      port: 0,
      detached: false,
      // Durability is irrelevant to a throwaway test cluster; speed is not.
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
    });
    adminUrl = embedded.url;
    source = 'embedded';
    stop = async () => {
      await embedded.stop();
      if (!process.env.KEEP_TEST_DB) fs.rmSync(dir, { recursive: true, force: true });
      else console.log(`[test] kept the test cluster in ${dir}`);
    };
  }

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${TEMPLATE}`);
  await admin.query(`create database ${TEMPLATE}`);
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${TEMPLATE}`;
  const db = createDb(templateUrl.toString(), { max: 1 });
  await migrateToLatest(db);
  await db.destroy();
  await installQueues(templateUrl.toString());
  await admin.end();

  project.provide('adminDatabaseUrl', adminUrl);
  project.provide('templateDatabase', TEMPLATE);
  project.provide('databaseSource', source);

  return async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect().then(() => c.query(`drop database if exists ${TEMPLATE} with (force)`)).catch(() => {});
    await c.end().catch(() => {});
    await stop?.();
  };
}
