// The raw-SQL transaction that bench/create.ts measures tickets.create
// against: the rows tickets.create writes without an LLM (the ticket, already
// classified by the built-in model, its ticket.created and ticket.classified
// events, and an assignment job), as plain statements on one pooled
// connection, with nothing checked or returned but the id.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';

export async function rawCreate(pool: pg.Pool, contactId: string, title: string, description: string): Promise<string> {
  const c = await pool.connect();
  try {
    await c.query('begin');
    const { rows } = await c.query<{ id: string }>(
      `insert into tickets (id, title, description, contact_id, category, priority, classification)
       values ($1, $2, $3, $4, 'billing', 'medium', '{"source": "builtin", "confidence": 0.8}') returning id`,
      [randomUUID(), title, description, contactId],
    );
    const id = rows[0]!.id;
    await c.query(
      `insert into events (type, ticket_id, actor_type, actor_id, data, contact_id, internal)
       values ('ticket.created', $1, 'user', null, jsonb_build_object('ticket', jsonb_build_object('id', $1::uuid, 'title', $2::text)), $3, false),
              ('ticket.classified', $1, 'system', null, '{"category": "billing", "priority": "medium"}', $3, false)`,
      [id, title, contactId],
    );
    await c.query(
      `insert into pgboss.job (id, name, data) values (gen_random_uuid(), 'bench.raw', jsonb_build_object('ticketId', $1::uuid))`,
      [id],
    );
    await c.query('commit');
    return id;
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}
