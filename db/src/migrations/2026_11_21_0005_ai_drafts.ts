// AI drafts are stored as internal messages; each carries the id of the
// draft request that wrote it, unique, so a draft job that runs twice (a
// worker killed after writing, before completing the job) stores it once.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table messages add column ai_draft_id uuid`.execute(db);
  await sql`alter table messages add constraint messages_ai_draft_id_key unique (ai_draft_id)`.execute(db);
  await sql`alter table messages add constraint messages_ai_draft_is_ai check (ai_draft_id is null or (author_type = 'ai' and internal))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table messages drop column ai_draft_id`.execute(db);
}
