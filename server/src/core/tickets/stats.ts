// tickets.stats: the dashboard's figures, from precomputed counts.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';

export interface TicketStats {
  total: number;
  byStatus: Record<string, number>;
  byPriority: Record<string, number>;
  byCategory: Record<string, number>;
  byAssignee: { assigneeId: string | null; name: string | null; open: number; total: number }[];
  medianFirstResponseSeconds: number | null;
  medianResolutionSeconds: number | null;
}

/**
 * The dashboard's figures from the precomputed counts (see the ticket-counts
 * migration): the rolled-up counts plus the deltas not yet rolled up, in one
 * snapshot, so they are exact. Each median reads its histogram for the bucket
 * holding the middle rank, then steps to that rank inside the bucket through
 * the (bucket, duration) index — the same value percentile_cont would give,
 * without sorting every ticket. Read in one repeatable-read snapshot, so the
 * counts and the index agree.
 */
export async function ticketStats(db: Kysely<Database>): Promise<TicketStats> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const { rows } = await sql<{ dimension: string; key: string; total: number; open: number; name: string | null }>`
        with c as (
          select dimension, key, sum(total)::int8 as total, sum(open)::int8 as open
            from (select dimension, key, total, open from ticket_counts
                  union all
                  select dimension, key, total, open from ticket_count_deltas) x
           group by dimension, key
          having sum(total) <> 0
        )
        select c.dimension, c.key, c.total, c.open, u.name
          from c left join users u on u.id = case when c.dimension = 'assignee' and c.key <> '' then c.key::uuid end`.execute(trx);

      const stats: TicketStats = {
        total: 0,
        byStatus: {},
        byPriority: {},
        byCategory: {},
        byAssignee: [],
        medianFirstResponseSeconds: null,
        medianResolutionSeconds: null,
      };
      const histograms: Record<'first_response' | 'resolution', { bucket: number; n: number }[]> = { first_response: [], resolution: [] };
      for (const r of rows) {
        switch (r.dimension) {
          case 'status':
            stats.byStatus[r.key] = r.total;
            stats.total += r.total;
            break;
          case 'priority':
            stats.byPriority[r.key || 'unset'] = r.total;
            break;
          case 'category':
            stats.byCategory[r.key || 'unset'] = r.total;
            break;
          case 'assignee':
            stats.byAssignee.push({ assigneeId: r.key || null, name: r.name, open: r.open, total: r.total });
            break;
          case 'first_response':
          case 'resolution':
            histograms[r.dimension].push({ bucket: Number(r.key), n: r.total });
        }
      }
      stats.byAssignee.sort((a, b) => b.total - a.total || (a.assigneeId ?? '').localeCompare(b.assigneeId ?? ''));
      stats.medianFirstResponseSeconds = await median(trx, 'first_response_at', histograms.first_response);
      stats.medianResolutionSeconds = await median(trx, 'resolved_at', histograms.resolution);
      return stats;
    });
}

/** percentile_cont(0.5) of `column - created_at` in seconds, found through its histogram. */
async function median(trx: Transaction<Database>, column: 'first_response_at' | 'resolved_at', histogram: { bucket: number; n: number }[]) {
  const n = histogram.reduce((sum, h) => sum + h.n, 0);
  if (n === 0) return null;
  // 0-based rank of the lower middle value; an even count averages it with the next.
  const rank = Math.floor((n - 1) / 2);
  histogram.sort((a, b) => a.bucket - b.bucket);
  let before = 0;
  let bucket = histogram[0]!.bucket;
  for (const h of histogram) {
    if (before + h.n > rank) {
      bucket = h.bucket;
      break;
    }
    before += h.n;
  }
  const d = sql`(${sql.ref(column)} - created_at)`;
  const { rows } = await sql<{ seconds: string }>`
    select extract(epoch from ${d})::float8 as seconds from tickets
     where ${sql.ref(column)} is not null and relaydesk_duration_bucket(${d}) >= ${bucket}
     order by relaydesk_duration_bucket(${d}), ${d}
     offset ${rank - before} limit 2`.execute(trx);
  const values = rows.map((r) => Number(r.seconds));
  if (values.length === 0) return null;
  // Interpolated as percentile_cont does it, to the last bit.
  return n % 2 === 1 || values.length === 1 ? values[0]! : values[0]! + (values[1]! - values[0]!) * 0.5;
}
