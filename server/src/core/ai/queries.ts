import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';

export interface SimilarTicket {
  id: string;
  number: number;
  title: string;
  resolution: string;
  rank: number;
}

/**
 * Resolved tickets most like this one, by Postgres full-text search: any of
 * the words of its title and the start of its description (an OR query over
 * their lexemes, on the GIN index), ranked by `ts_rank`. Only the newest
 * 2,000 matches are ranked, so a ticket full of common words stays cheap on
 * a large table; those are the likeliest to describe the product as it is.
 */
export async function similarResolved(db: Kysely<Database>, ticketId: string, limit: number): Promise<SimilarTicket[]> {
  const { rows } = await sql<SimilarTicket>`
    with words as (
      select to_tsvector('english', title || ' ' || left(description, 600)) as v from tickets where id = ${ticketId}
    ), terms as (
      -- Letters and digits only: nothing a user typed can be tsquery syntax.
      select distinct regexp_replace(lexeme, '[^[:alnum:]]+', '', 'g') as term
        from words, unnest(tsvector_to_array(v)) as lexeme
    ), q as (
      select to_tsquery('simple', string_agg(term, ' | ')) as q from terms where term <> ''
    ), candidates as (
      select t.id, t.number, t.title, t.resolution, t.search
        from tickets t, q
       where q.q is not null and t.search @@ q.q
         and t.status in ('resolved', 'closed') and t.resolution is not null and t.resolution <> ''
         and t.id <> ${ticketId}
       order by t.id desc
       limit 2000
    )
    select c.id, c.number, c.title, c.resolution, ts_rank(c.search, q.q)::float8 as rank
      from candidates c, q
     order by rank desc, c.id desc
     limit ${limit}::int`.execute(db);
  return rows;
}

/** Stores a draft as an internal AI message, once per draft id; undefined if already stored. */
export async function insertDraftMessage(trx: Transaction<Database>, d: { ticketId: string; draftId: string; body: string }) {
  return trx
    .insertInto('messages')
    .values({ id: uuidv7(), ticket_id: d.ticketId, author_type: 'ai', author_id: null, body: d.body, internal: true, ai_draft_id: d.draftId })
    .onConflict((oc) => oc.column('ai_draft_id').doNothing())
    .returning(['id', 'ticket_id', 'author_type', 'author_id', 'body', 'internal', 'created_at'])
    .executeTakeFirst();
}

export async function draftStored(db: Kysely<Database>, draftId: string): Promise<boolean> {
  return Boolean(await db.selectFrom('messages').select('id').where('ai_draft_id', '=', draftId).executeTakeFirst());
}
