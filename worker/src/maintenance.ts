// Periodic upkeep any worker may run: folds the ticket-count deltas into the
// counts that `tickets.stats` reads (see the ticket-counts migration). The
// roll-up takes a try-lock, so with many workers one does the work and the
// others return at once.
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { brief, type Logger } from '@relaydesk/server/logger';

/** Folds pending ticket-count deltas; returns how many delta rows it moved. */
export async function rollUpTicketCounts(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ moved: number }>`select relaydesk_roll_up_ticket_counts() as moved`.execute(db);
  return Number(rows[0]!.moved);
}

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
    while (!stopped) {
      try {
        await rollUpTicketCounts(opts.db);
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
