import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';

export interface Health {
  status: 'ok' | 'degraded';
  db: 'up' | 'down';
  reason?: string;
}

/** Checks that Postgres answers within `timeoutMs`. */
export async function checkHealth(db: Kysely<Database>, timeoutMs = 2000): Promise<Health> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`select 1`.execute(db),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
    ]);
    return { status: 'ok', db: 'up' };
  } catch (err) {
    // The reason names the failure, not the address: /health is public.
    const code = (err as { code?: string }).code ?? ((err as Error).message.startsWith('no answer') ? 'timeout' : 'error');
    return { status: 'degraded', db: 'down', reason: `database unreachable (${code})` };
  } finally {
    clearTimeout(timer);
  }
}
