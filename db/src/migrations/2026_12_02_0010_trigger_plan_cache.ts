// The server's connections that run named statements set
// plan_cache_mode=force_custom_plan (db/src/pool.ts), so a statement is
// planned for its values every time. That setting holds for the whole
// session, and so reached the statements inside our PL/pgSQL trigger
// functions too: each of them was planned afresh for every row it fires on,
// instead of switching to a cached plan after five runs. A claim of 15
// tickets spent 17.8 ms in two triggers instead of 3.3 ms, and tickets.claim
// over HTTP fell to half its rate. Each PL/pgSQL function of the schema runs
// with the default (auto) instead; the test of the schema checks that every
// one does, so a new function cannot miss it.
import { sql, type Kysely } from 'kysely';

/** Runs `alter function <f> <clause>` for every PL/pgSQL function of the schema. */
const forEachFunction = (clause: string) =>
  sql.raw(`
  do $$
  declare f regprocedure;
  begin
    for f in
      select p.oid::regprocedure from pg_proc p
        join pg_language l on l.oid = p.prolang
       where l.lanname = 'plpgsql' and p.pronamespace = current_schema()::regnamespace
    loop
      execute format('alter function %s ${clause}', f);
    end loop;
  end $$`);

export async function up(db: Kysely<any>): Promise<void> {
  await forEachFunction('set plan_cache_mode = auto').execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await forEachFunction('reset plan_cache_mode').execute(db);
}
