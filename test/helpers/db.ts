// Each test file's own database, cloned from the migrated template. Dropped
// after the file when all its tests passed; kept (and named) when one failed.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, inject } from 'vitest';
import type { Kysely } from 'kysely';
import { createDb, type Database } from '@relaydesk/db';

export interface TestDatabase {
  name: string;
  url: string;
  db: Kysely<Database>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export function databaseUrl(name: string): string {
  const u = new URL(inject('adminDatabaseUrl'));
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates a database for this test file; registers its cleanup. */
export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const name = `t_${label.replace(/\W+/g, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`.toLowerCase();
  await admin((c) => c.query(`create database ${name} template ${inject('templateDatabase')}`));
  const url = databaseUrl(name);
  const db = createDb(url, { max: 5 });
  let failed = false;
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    await db.destroy();
    if (failed) console.warn(`[test] kept database ${name} for inspection`);
    else await admin((c) => c.query(`drop database if exists ${name} with (force)`));
  });
  return { name, url, db };
}
