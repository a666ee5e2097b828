import type { Kysely, Transaction } from 'kysely';
import type { Database } from '@relaydesk/db';
import { uuidv7 } from 'uuidv7';

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export const contactColumns = ['id', 'email', 'name', 'created_at', 'updated_at'] as const;

/**
 * The contact for `email`, created if new. An existing contact keeps its
 * name: whoever files a ticket for someone does not get to rename them.
 */
export async function upsertContact(trx: Transaction<Database>, email: string, name: string): Promise<string> {
  const normalized = normalizeEmail(email);
  // "do nothing", not a no-op update: an update would lock the contact's row
  // until commit (serialising every ticket filed for one requester) and leave
  // a dead row version per ticket.
  const inserted = await trx
    .insertInto('contacts')
    .values({ id: uuidv7(), email: normalized, name: name.trim() })
    .onConflict((oc) => oc.column('email').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted) return inserted.id;
  const existing = await trx.selectFrom('contacts').select('id').where('email', '=', normalized).executeTakeFirstOrThrow();
  return existing.id;
}

export async function getContact(db: Kysely<Database>, id: string) {
  return db
    .selectFrom('contacts as c')
    .select(contactColumns.map((c) => `c.${c}` as const))
    .select((eb) =>
      eb.selectFrom('tickets as t').whereRef('t.contact_id', '=', 'c.id').select((e) => e.fn.countAll<number>().as('n')).as('ticket_count'),
    )
    .where('c.id', '=', id)
    .executeTakeFirst();
}

export async function listContacts(db: Kysely<Database>, opts: { search?: string; cursor?: string; limit: number }) {
  let q = db.selectFrom('contacts').select(contactColumns).orderBy('id', 'desc').limit(opts.limit + 1);
  if (opts.search) {
    const like = `%${opts.search.replace(/[\\%_]/g, (m) => '\\' + m)}%`;
    q = q.where((eb) => eb.or([eb('email', 'ilike', like), eb('name', 'ilike', like)]));
  }
  if (opts.cursor) q = q.where('id', '<', opts.cursor);
  return q.execute();
}
