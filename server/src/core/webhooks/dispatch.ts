// The webhook dispatcher: turns the event log into deliveries.
//
// One pass, in one transaction: lock the cursor row (`webhook_dispatch`),
// read the events after it (positions are gapless and only grow, so "after
// the cursor" misses nothing), create one delivery per matching active
// endpoint with its `webhook.deliver` job, and move the cursor past them.
// Either all of it commits or none does: a process killed mid-pass leaves
// the cursor where it was and the next pass does the same work, once.
// Every worker runs the loop; SKIP LOCKED lets one pass at a time through.
import { sql, type Kysely, type Transaction } from 'kysely';
import { fromKysely, type PgBoss } from 'pg-boss';
import { uuidv7 } from 'uuidv7';
import type { Database } from '@relaydesk/db';
import { expandTypes, logHead } from '../events/log.ts';
import { visibleTo, type Audience } from '../events/visibility.ts';
import { jittered, type DeliverPayload, type WebhookRetry } from '../jobs/catalogue.ts';

/** Events read per pass. */
export const PASS_EVENTS = 1000;
/** Deliveries one pass creates at most (many endpoints × many events): the cursor stops at the last event done. */
export const PASS_DELIVERIES = 5000;
/** Rows per INSERT (5 parameters each, well under Postgres' 65,535). */
const INSERT_CHUNK = 2000;

interface Endpoint {
  id: string;
  types: Set<string>;
  audience: Audience;
  fromPosition: number;
}

async function activeEndpoints(trx: Transaction<Database>): Promise<Endpoint[]> {
  const rows = await trx.selectFrom('webhook_endpoints').select(['id', 'event_types', 'include_internal', 'from_position']).where('active', '=', true).execute();
  return rows.map((r) => ({ id: r.id, types: expandTypes(r.event_types), audience: { role: 'webhook', includeInternal: r.include_internal }, fromPosition: Number(r.from_position) }));
}

export interface PassResult {
  /** Events read past. */
  events: number;
  /** Deliveries created. */
  deliveries: number;
}

/** The log has events the dispatcher has not passed yet. Cheap: no lock, no transaction. */
async function behind(db: Kysely<Database>): Promise<boolean> {
  const { rows } = await sql<{ behind: boolean }>`
    select coalesce((select max(position) from events), 0) > (select position from webhook_dispatch where id = 1) as behind`.execute(db);
  return rows[0]?.behind ?? false;
}

export async function dispatchPass(db: Kysely<Database>, boss: PgBoss, retry: WebhookRetry): Promise<PassResult> {
  if (!(await behind(db))) return { events: 0, deliveries: 0 };
  return db.transaction().execute(async (trx) => {
    const cursor = await trx.selectFrom('webhook_dispatch').select('position').where('id', '=', 1).forUpdate().skipLocked().executeTakeFirst();
    // Another process is mid-pass.
    if (!cursor) return { events: 0, deliveries: 0 };
    const from = Number(cursor.position);
    const endpoints = await activeEndpoints(trx);
    if (endpoints.length === 0) {
      // Nobody listens: skip to the head (an endpoint created later starts after it anyway).
      const head = await logHead(trx);
      if (head > from) await trx.updateTable('webhook_dispatch').set({ position: head }).where('id', '=', 1).execute();
      return { events: Math.max(0, head - from), deliveries: 0 };
    }
    const events = await trx
      .selectFrom('events')
      .select(['position', 'type', 'internal'])
      .where('position', '>', from)
      .where('position', '<=', from + PASS_EVENTS)
      .orderBy('position')
      .execute();
    if (events.length === 0) return { events: 0, deliveries: 0 };

    const rows: { id: string; endpoint_id: string; event_position: number; event_type: string }[] = [];
    let last = from;
    let read = 0;
    for (const e of events) {
      if (rows.length >= PASS_DELIVERIES) break;
      const position = Number(e.position);
      for (const w of endpoints) {
        // What customers never see (internal notes, AI drafts, webhook.disabled) goes only where asked for.
        if (position > w.fromPosition && w.types.has(e.type) && visibleTo(w.audience, { type: e.type, internal: e.internal, contactId: null })) {
          rows.push({ id: uuidv7(), endpoint_id: w.id, event_position: position, event_type: e.type });
        }
      }
      last = position;
      read++;
    }
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      const created = await trx
        .insertInto('webhook_deliveries')
        .values(chunk)
        .onConflict((oc) => oc.columns(['endpoint_id', 'event_position']).doNothing())
        .returning('id')
        .execute();
      if (created.length === 0) continue;
      await boss.insert(
        'webhook.deliver',
        created.map((d) => ({ data: { deliveryId: d.id, generation: 1 } satisfies DeliverPayload, ...jittered(retry) })),
        { db: fromKysely(trx) },
      );
    }
    await trx.updateTable('webhook_dispatch').set({ position: last }).where('id', '=', 1).execute();
    return { events: read, deliveries: rows.length };
  });
}
