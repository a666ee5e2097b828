// tickets.stats computed the slow way, from every ticket: what the stats
// tests compare against, and the benchmark's anchor for it.
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';

/** tickets.stats computed the slow way: a scan of every ticket. */
export async function naiveStats(db: Kysely<Database>) {
  const { rows } = await sql<{ s: Record<string, unknown> }>`
    with t as (select status, priority, category, assignee_id, created_at, first_response_at, resolved_at from tickets)
    select json_build_object(
      'total', (select count(*) from t),
      'byStatus', coalesce((select json_object_agg(status, n) from (select status, count(*) n from t group by status) s), '{}'),
      'byPriority', coalesce((select json_object_agg(coalesce(priority, 'unset'), n) from (select priority, count(*) n from t group by priority) s), '{}'),
      'byCategory', coalesce((select json_object_agg(coalesce(category, 'unset'), n) from (select category, count(*) n from t group by category) s), '{}'),
      'byAssignee', coalesce((
        select json_agg(json_build_object('assigneeId', a.assignee_id, 'name', u.name, 'open', a.open, 'total', a.total)
                        order by a.total desc, coalesce(a.assignee_id::text, ''))
          from (select assignee_id, count(*) total, count(*) filter (where status not in ('resolved', 'closed')) open
                  from t group by assignee_id) a
          left join users u on u.id = a.assignee_id), '[]'),
      'medianFirstResponseSeconds', (select percentile_cont(0.5) within group (order by extract(epoch from first_response_at - created_at))
                                       from t where first_response_at is not null),
      'medianResolutionSeconds', (select percentile_cont(0.5) within group (order by extract(epoch from resolved_at - created_at))
                                    from t where resolved_at is not null)) as s`.execute(db);
  return rows[0]!.s;
}

