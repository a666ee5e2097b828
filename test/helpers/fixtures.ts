// A test world: a database, a real server process, and users of every role
// with SDK clients. Users are made with the server's own functions.
import { afterAll, beforeAll } from 'vitest';
import { createRelaydeskClient, type RelaydeskClient } from '@relaydesk/client';
import { issueToken } from '../../server/src/core/users/auth.ts';
import { createUser } from '../../server/src/core/users/create.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { startServer, type ServerProcess } from './server.ts';

export type Role = 'admin' | 'agent' | 'customer';

export interface Actor {
  id: string;
  email: string;
  role: Role;
  contactId: string | null;
  token: string;
  tokenId: string;
  rd: RelaydeskClient;
}

export interface World extends Omit<TestDatabase, 'url'> {
  server: ServerProcess;
  /** The server's base URL. */
  url: string;
  /** The test database's connection URL. */
  dbUrl: string;
  anon: RelaydeskClient;
  admin: Actor;
  agent: Actor;
  agent2: Actor;
  customer: Actor;
  customer2: Actor;
  makeUser(role: Role, name?: string, extra?: { password?: string; capacity?: number }): Promise<Actor>;
  client(token?: string): RelaydeskClient;
}

let counter = 0;

/** Registers the hooks that build the world before the file's tests. */
export function useWorld(label: string, opts: { serverEnv?: () => Record<string, string> } = {}): World {
  const world = {} as World;
  beforeAll(async () => {
    const tdb = await createTestDatabase(label);
    Object.assign(world, tdb);
    world.dbUrl = tdb.url;
    world.client = (token?: string) => createRelaydeskClient({ url: world.url, token });
    const insertUser = async (role: Role, name?: string, extra: { password?: string; capacity?: number } = {}) => {
      const n = ++counter;
      const email = `${role}${n}-${label}@example.com`.toLowerCase();
      const user = await createUser(tdb.db, null, { name: name ?? `${role} ${n}`, email, role, ...extra });
      const t = await issueToken(tdb.db, user.id, 'test');
      return { id: user.id, email, role, contactId: user.contactId, token: t.token, tokenId: t.id };
    };
    world.makeUser = async (role, name, extra = {}) => {
      const u = await insertUser(role, name, extra);
      return { ...u, rd: world.client(u.token) };
    };
    // A user before the server boots: it finds a database in use and creates no first admin of its own.
    const admin = await insertUser('admin');
    // These tests check a ticket's events and fields exactly: classification
    // (inline without an LLM, which adds ticket.classified and fills category
    // and priority) is off unless a test's env turns it on.
    world.server = await startServer(tdb.url, { AI_CLASSIFY: 'off', ...opts.serverEnv?.() });
    world.url = world.server.url;
    world.anon = world.client();
    world.admin = { ...admin, rd: world.client(admin.token) };
    // Room for the many tickets tests assign to them (capacity is enforced).
    world.agent = await world.makeUser('agent', undefined, { capacity: 1000 });
    world.agent2 = await world.makeUser('agent', undefined, { capacity: 1000 });
    world.customer = await world.makeUser('customer');
    world.customer2 = await world.makeUser('customer');
  });
  afterAll(async () => {
    await world.server?.stop();
  });
  return world;
}

/** Resolves to the tRPC error code a call failed with (or throws if it succeeded). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const data = (err as { data?: { code?: string } }).data;
    if (data?.code) return data.code;
    throw err;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** The error's `data` (code, field, zodIssues). */
export async function errorOf(p: Promise<unknown>): Promise<{ code: string; field?: string; zodIssues?: { path: string }[]; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { data?: { code: string; field?: string; zodIssues?: { path: string }[] }; message: string };
    if (e.data?.code) return { ...e.data, message: e.message };
    throw err;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
