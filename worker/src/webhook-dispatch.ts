// The webhook dispatcher's loop: runs the core's dispatch passes (see
// webhooks/dispatch.ts) in every worker; SKIP LOCKED lets one pass at a time through.
import type { Kysely } from 'kysely';
import type { PgBoss } from 'pg-boss';
import type { Database } from '@relaydesk/db';
import type { WebhookRetry } from '@relaydesk/server/core/jobs/catalogue';
import { brief, type Logger } from '@relaydesk/server/core/logger';
import { dispatchPass, PASS_DELIVERIES, PASS_EVENTS } from '@relaydesk/server/core/webhooks/dispatch';

export interface Dispatcher {
  stop(): Promise<void>;
}

/** Runs passes until stopped: at once while there is a backlog, else every `intervalMs`. */
export function startDispatcher(opts: { db: Kysely<Database>; boss: PgBoss; retry: WebhookRetry; log: Logger; intervalMs?: number }): Dispatcher {
  const intervalMs = opts.intervalMs ?? 100;
  let stopped = false;
  let wake: (() => void) | null = null;
  let failures = 0;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const loop = (async () => {
    while (!stopped) {
      try {
        const r = await dispatchPass(opts.db, opts.boss, opts.retry);
        if (failures > 0) opts.log.info('webhook dispatcher reconnected');
        failures = 0;
        // A full pass means a backlog: go on at once.
        if (r.events < PASS_EVENTS && r.deliveries < PASS_DELIVERIES) await sleep(intervalMs);
      } catch (err) {
        failures++;
        if (failures === 1) opts.log.warn({ err: brief(err) }, 'webhook dispatcher: pass failed, retrying');
        await sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
