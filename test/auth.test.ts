// Authentication: passwords, tokens, deactivation, and what never leaves the server.
import { describe, expect, it } from 'vitest';
import { hashToken } from '../server/src/core/users/auth.ts';
import { codeOf, errorOf, useWorld } from './helpers/fixtures.ts';

describe('auth', () => {
  const w = useWorld('auth');

  it('logs in with email and password (email case-insensitive) and the new token works', async () => {
    const u = await w.makeUser('agent', 'Pat', { password: 'correct horse battery' });
    const { token, user } = await w.anon.auth.login.mutate({ email: u.email.toUpperCase(), password: 'correct horse battery' });
    expect(user).toMatchObject({ id: u.id, role: 'agent' });
    expect(token).toMatch(/^rd_[\w-]{43}$/);
    expect(await w.client(token).auth.me.query()).toMatchObject({ id: u.id, email: u.email });
  });

  it('login tokens expire; a password change ends every login session but not API tokens', async () => {
    const u = await w.makeUser('agent', 'Session', { password: 'correct horse battery' });
    const { token } = await w.anon.auth.login.mutate({ email: u.email, password: 'correct horse battery' });
    const sessions = await w.admin.rd.users.tokens.query({ userId: u.id });
    const session = sessions.find((t) => t.name === 'login')!;
    expect(Date.parse(session.expiresAt!) - Date.now()).toBeGreaterThan(29 * 24 * 3600_000);
    expect(sessions.find((t) => t.id === u.tokenId)!.expiresAt).toBeNull();

    await w.admin.rd.users.update.mutate({ id: u.id, password: 'a brand new password' });
    expect(await codeOf(w.client(token).auth.me.query())).toBe('UNAUTHORIZED');
    expect(await u.rd.auth.me.query()).toMatchObject({ id: u.id });

    // An expired session is refused like a revoked one.
    const again = await w.anon.auth.login.mutate({ email: u.email, password: 'a brand new password' });
    await w.db.updateTable('api_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('user_id', '=', u.id).where('expires_at', 'is not', null).execute();
    expect(await codeOf(w.client(again.token).auth.me.query())).toBe('UNAUTHORIZED');
  });

  it('counts parallel login attempts: a batch of guesses cannot slip past the limit', async () => {
    const u = await w.makeUser('customer', 'Batch Target', { password: 'correct horse battery' });
    const codes = await Promise.all(
      Array.from({ length: 30 }, (_, i) => codeOf(w.anon.auth.login.mutate({ email: u.email, password: `parallel-${i}-guess` }))),
    );
    expect(codes.filter((c) => c === 'UNAUTHORIZED')).toHaveLength(10);
    expect(codes.filter((c) => c === 'TOO_MANY_REQUESTS')).toHaveLength(20);
  });

  it('refuses a wrong password and an unknown email alike, without saying which', async () => {
    const u = await w.makeUser('agent', 'Sam', { password: 'correct horse battery' });
    const wrong = await errorOf(w.anon.auth.login.mutate({ email: u.email, password: 'wrong password!' }));
    const unknown = await errorOf(w.anon.auth.login.mutate({ email: 'nobody@example.com', password: 'wrong password!' }));
    expect(wrong.code).toBe('UNAUTHORIZED');
    expect(unknown).toEqual(wrong);
    // A user made without a password (token only) cannot log in with any.
    expect(await codeOf(w.anon.auth.login.mutate({ email: w.agent.email, password: 'anything at all' }))).toBe('UNAUTHORIZED');
  });

  it('rate-limits repeated login failures for an email', async () => {
    const u = await w.makeUser('customer', 'Guess Target', { password: 'correct horse battery' });
    const codes: string[] = [];
    for (let i = 0; i < 12; i++) codes.push(await codeOf(w.anon.auth.login.mutate({ email: u.email, password: `guess-${i}-xxxx` })));
    expect(codes.slice(0, 10).every((c) => c === 'UNAUTHORIZED')).toBe(true);
    expect(codes.slice(10)).toEqual(['TOO_MANY_REQUESTS', 'TOO_MANY_REQUESTS']);
    // Even the right password is refused while locked.
    expect(await codeOf(w.anon.auth.login.mutate({ email: u.email, password: 'correct horse battery' }))).toBe('TOO_MANY_REQUESTS');
  });

  it('stores tokens hashed: the database holds no plaintext token', async () => {
    const rows = await w.db.selectFrom('api_tokens').select(['id', 'token_hash']).where('user_id', '=', w.admin.id).execute();
    const row = rows.find((r) => r.id === w.admin.tokenId)!;
    expect(Buffer.compare(row.token_hash, hashToken(w.admin.token))).toBe(0);
    const dump = JSON.stringify(await w.db.selectFrom('api_tokens').selectAll().execute());
    expect(dump).not.toContain(w.admin.token.slice(3));
  });

  it('a revoked token stops working at once; other tokens of the user keep working', async () => {
    const u = await w.makeUser('agent');
    const second = await w.admin.rd.users.createToken.mutate({ userId: u.id, name: 'ci' });
    expect(await w.client(second.token).auth.me.query()).toMatchObject({ id: u.id });
    await w.admin.rd.users.revokeToken.mutate({ id: second.id });
    expect(await codeOf(w.client(second.token).auth.me.query())).toBe('UNAUTHORIZED');
    expect(await u.rd.auth.me.query()).toMatchObject({ id: u.id });
    const listed = await w.admin.rd.users.tokens.query({ userId: u.id });
    expect(listed.find((t) => t.id === second.id)?.revokedAt).not.toBeNull();
    expect(listed.find((t) => t.id === second.id)?.lastUsedAt).not.toBeNull();
    expect(JSON.stringify(listed)).not.toMatch(/hash|rd_/);
  });

  it("a deactivated user's tokens stop working at once, and work again on reactivation", async () => {
    const u = await w.makeUser('agent');
    expect(await u.rd.auth.me.query()).toMatchObject({ active: true });
    await w.admin.rd.users.update.mutate({ id: u.id, active: false });
    const err = await errorOf(u.rd.tickets.list.query());
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.message).toMatch(/revoked|deactivated/);
    await w.admin.rd.users.update.mutate({ id: u.id, active: true });
    expect(await u.rd.auth.me.query()).toMatchObject({ id: u.id });
  });

  it('never returns a password hash or token hash from any user-facing procedure', async () => {
    const u = await w.makeUser('admin', 'Hash Holder', { password: 'correct horse battery' });
    const outputs = [
      await w.admin.rd.users.list.query({ limit: 100 }),
      await w.admin.rd.users.update.mutate({ id: u.id, name: 'Hash Holder 2' }),
      await u.rd.auth.me.query(),
      await w.anon.auth.login.mutate({ email: u.email, password: 'correct horse battery' }),
    ];
    const text = JSON.stringify(outputs);
    expect(text).not.toMatch(/argon2|password|token_hash/i);
  });

  it('keeps the last active admin: it cannot demote or deactivate itself into a locked-out system', async () => {
    const admins = await w.admin.rd.users.list.query({ role: 'admin', active: true, limit: 100 });
    for (const a of admins.items) if (a.id !== w.admin.id) await w.admin.rd.users.update.mutate({ id: a.id, active: false });
    expect(await errorOf(w.admin.rd.users.update.mutate({ id: w.admin.id, active: false }))).toMatchObject({ code: 'CONFLICT', field: 'active' });
    expect(await errorOf(w.admin.rd.users.update.mutate({ id: w.admin.id, role: 'agent' }))).toMatchObject({ code: 'CONFLICT', field: 'role' });
    expect(await w.admin.rd.auth.me.query()).toMatchObject({ role: 'admin', active: true });
  });

  it('two admins deactivating each other at once cannot leave the system without an admin', async () => {
    const a = await w.makeUser('admin', 'Duel A');
    const b = await w.makeUser('admin', 'Duel B');
    // Leave exactly these two active admins.
    await w.db.updateTable('users').set({ active: false }).where('role', '=', 'admin').where('id', 'not in', [a.id, b.id]).execute();
    try {
      const results = await Promise.allSettled([
        a.rd.users.update.mutate({ id: b.id, active: false }),
        b.rd.users.update.mutate({ id: a.id, active: false }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled').length).toBeLessThanOrEqual(1);
      const { n } = await w.db.selectFrom('users').select((e) => e.fn.countAll<number>().as('n')).where('role', '=', 'admin').where('active', '=', true).executeTakeFirstOrThrow();
      expect(n).toBeGreaterThanOrEqual(1);
    } finally {
      await w.db.updateTable('users').set({ active: true }).where('id', '=', w.admin.id).execute();
    }
  });

  it('makes a customer a contact, and a role change to customer links one', async () => {
    const c = await w.admin.rd.users.create.mutate({ name: 'Cara', email: 'Cara@Example.com', role: 'customer' });
    expect(c.email).toBe('cara@example.com');
    const contact = await w.admin.rd.contacts.get.query({ id: c.contactId! });
    expect(contact.email).toBe('cara@example.com');
    const a = await w.admin.rd.users.create.mutate({ name: 'Ex Agent', email: 'ex-agent@example.com', role: 'agent' });
    expect(a.contactId).toBeNull();
    const now = await w.admin.rd.users.update.mutate({ id: a.id, role: 'customer' });
    expect(now.contactId).not.toBeNull();
  });

  it('GET /health answers 200 with the database up', async () => {
    const res = await fetch(`${w.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', db: 'up' });
    expect(await w.anon.health.query()).toEqual({ status: 'ok', db: 'up' });
  });
});
