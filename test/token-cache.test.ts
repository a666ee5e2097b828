// Bearer tokens answered from memory: the server that revokes a token (or
// deactivates or changes its user) forgets it before it answers, and every
// other server as soon as the change's NOTIFY reaches it (milliseconds; the
// tests allow seconds on a busy machine); a change made behind the API's
// back lasts at most the cache's TTL; and while a server cannot hear
// changes, it does not use its cache.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelaydeskClient } from '@relaydesk/client';
import { codeOf, useWorld } from './helpers/fixtures.ts';
import { startServer, type ServerProcess } from './helpers/server.ts';
import { waitFor } from './helpers/worker.ts';

describe('token cache', () => {
  const w = useWorld('token-cache');
  let other: ServerProcess;
  beforeAll(async () => {
    other = await startServer(w.dbUrl);
  });
  afterAll(async () => {
    await other?.stop();
  });
  const on = (url: string, token: string) => createRelaydeskClient({ url, token });
  /** Waits (a NOTIFY's delivery, with room for a busy machine) until `call` fails with `code`. */
  const refused = (what: string, call: () => Promise<unknown>, code = 'UNAUTHORIZED') =>
    waitFor(what, () => call().then(() => false, (err: { data?: { code?: string } }) => err.data?.code === code), 5000);
  const lookups = async (url: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const n = (source: string) => Number(new RegExp(`^relaydesk_auth_token_lookups_total\\{source="${source}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    return { cache: n('cache'), database: n('database') };
  };
  /** Uses the token on both servers until each answers it from memory. */
  async function warm(token: string) {
    for (const url of [w.url, other.url]) {
      const before = await lookups(url);
      for (let i = 0; i < 3; i++) await on(url, token).auth.me.query();
      const after = await lookups(url);
      expect(after.cache - before.cache).toBeGreaterThanOrEqual(2);
    }
  }

  it('answers a token from memory after its first lookup', async () => {
    const u = await w.makeUser('agent');
    const before = await lookups(w.url);
    for (let i = 0; i < 10; i++) await u.rd.auth.me.query();
    const after = await lookups(w.url);
    expect(after.database - before.database).toBe(1);
    expect(after.cache - before.cache).toBe(9);
  });

  it('a token revoked on one server stops working there at once, and on every other server when its NOTIFY arrives', async () => {
    const u = await w.makeUser('agent');
    const t = await w.admin.rd.users.createToken.mutate({ userId: u.id, name: 'two servers' });
    await warm(t.token);
    await w.admin.rd.users.revokeToken.mutate({ id: t.id });
    expect(await codeOf(on(w.url, t.token).auth.me.query())).toBe('UNAUTHORIZED');
    await refused('the other server to refuse the revoked token', () => on(other.url, t.token).auth.me.query());
    // The user's other token is untouched.
    expect(await u.rd.auth.me.query()).toMatchObject({ id: u.id });
  });

  it('a user deactivated, demoted or renamed through one server: at once there, and on the other when its NOTIFY arrives', async () => {
    const u = await w.makeUser('admin', 'Cached Admin');
    await warm(u.token);
    const admin = on(other.url, w.admin.token);

    await admin.users.update.mutate({ id: u.id, role: 'agent' });
    expect(await codeOf(on(other.url, u.token).users.list.query({ limit: 1 }))).toBe('FORBIDDEN');
    await refused('the demotion to reach the other server', () => on(w.url, u.token).users.list.query({ limit: 1 }), 'FORBIDDEN');
    expect(await on(w.url, u.token).auth.me.query()).toMatchObject({ role: 'agent' });

    await admin.users.update.mutate({ id: u.id, name: 'Renamed' });
    expect(await on(other.url, u.token).auth.me.query()).toMatchObject({ name: 'Renamed' });
    await waitFor('the new name to reach the other server', async () => (await on(w.url, u.token).auth.me.query()).name === 'Renamed', 5000);

    await admin.users.update.mutate({ id: u.id, active: false });
    expect(await codeOf(on(other.url, u.token).auth.me.query())).toBe('UNAUTHORIZED');
    await refused('the deactivation to reach the other server', () => on(w.url, u.token).auth.me.query());
  });

  it('a password change ends login sessions, cached or not: at once where it was made, and on the other server when its NOTIFY arrives', async () => {
    const u = await w.makeUser('agent', 'Session Holder', { password: 'correct horse battery' });
    const { token } = await w.anon.auth.login.mutate({ email: u.email, password: 'correct horse battery' });
    await warm(token);
    await on(other.url, w.admin.token).users.update.mutate({ id: u.id, password: 'a brand new password' });
    expect(await codeOf(on(other.url, token).auth.me.query())).toBe('UNAUTHORIZED');
    await refused('the other server to end the session', () => on(w.url, token).auth.me.query());
  });

  it('a revocation written behind the API (no NOTIFY) lasts at most AUTH_CACHE_TTL_MS', { timeout: 60_000 }, async () => {
    const short = await startServer(w.dbUrl, { AUTH_CACHE_TTL_MS: '500' });
    try {
      const u = await w.makeUser('agent');
      for (let i = 0; i < 3; i++) await on(short.url, u.token).auth.me.query();
      await w.db.updateTable('api_tokens').set({ revoked_at: new Date() }).where('id', '=', u.tokenId).execute();
      const refused = () => on(short.url, u.token).auth.me.query().then(() => false, (err: { data?: { code?: string } }) => err.data?.code === 'UNAUTHORIZED');
      await waitFor('the revoked token to be refused', refused, 10_000);
    } finally {
      await short.stop();
    }
  });

  it('with AUTH_CACHE_TTL_MS=0 every request looks its token up', { timeout: 60_000 }, async () => {
    const off = await startServer(w.dbUrl, { AUTH_CACHE_TTL_MS: '0' });
    try {
      const u = await w.makeUser('agent');
      const before = await lookups(off.url);
      for (let i = 0; i < 5; i++) await on(off.url, u.token).auth.me.query();
      const after = await lookups(off.url);
      expect(after.cache - before.cache).toBe(0);
      expect(after.database - before.database).toBe(5);
    } finally {
      await off.stop();
    }
  });

  it('a server that lost its LISTEN connection (and so may have missed a change) forgets what it cached', { timeout: 60_000 }, async () => {
    const u = await w.makeUser('agent');
    for (let i = 0; i < 3; i++) await u.rd.auth.me.query();
    const hubs = async () =>
      (
        await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database() and application_name = 'relaydesk-event-hub'`.execute(w.db)
      ).rows.map((r) => r.pid);
    const before = await hubs();
    expect(before).toHaveLength(2);
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = 'relaydesk-event-hub'`.execute(w.db);
    // Both servers noticed (they are listening again, on new connections).
    await waitFor('both servers to LISTEN again', async () => {
      const now = await hubs();
      return now.length === 2 && now.every((p) => !before.includes(p));
    });
    // Written behind the API, so no NOTIFY: only a cache that was dropped with the connection refuses it now.
    await w.db.updateTable('api_tokens').set({ revoked_at: new Date() }).where('id', '=', u.tokenId).execute();
    expect(await codeOf(u.rd.auth.me.query())).toBe('UNAUTHORIZED');
  });
});
