// Periodic upkeep any worker may run: the ticket-count roll-up (see the
// core's tickets/counts.ts) every few seconds, and expired rate-limit counters.
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { brief, type Logger } from '@relaydesk/server/core/logger';
import { pruneRateLimits } from '@relaydesk/server/core/rate-limit';
import { rollUpTicketCounts } from '@relaydesk/server/core/tickets/counts';

export interface Maintenance {
  stop(): Promise<void>;
}

export function startMaintenance(opts: { db: Kysely<Database>; log: Logger; intervalMs?: number }): Maintenance {
  const intervalMs = opts.intervalMs ?? 5000;
  let stopped = false;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    for (let pass = 0; !stopped; pass++) {
      try {
        await rollUpTicketCounts(opts.db);
        // Expired rate-limit counters, about every 5 minutes.
        if (pass % 60 === 0) await pruneRateLimits(opts.db);
        if (failing) opts.log.info('maintenance: ticket-count roll-up recovered');
        failing = false;
      } catch (err) {
        if (!failing) opts.log.warn({ err: brief(err) }, 'maintenance: ticket-count roll-up failed, retrying');
        failing = true;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, intervalMs);
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await loop;
    },
  };
}
