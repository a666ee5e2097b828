// Messages' schemas and the one mapping from a row to what callers see.
import { z } from 'zod';
import { id, iso, isoDate, nonBlank } from '../schemas.ts';

export const messageOutput = z.object({
  id: z.uuid(),
  ticketId: z.uuid(),
  authorType: z.enum(['user', 'ai', 'system']),
  author: z.object({ id: z.uuid(), name: z.string(), role: z.enum(['admin', 'agent', 'customer']) }).nullable(),
  body: z.string(),
  internal: z.boolean(),
  createdAt: isoDate,
});
export type MessageOutput = z.infer<typeof messageOutput>;

export function messageDto(m: {
  id: string;
  ticket_id: string;
  author_type: 'user' | 'ai' | 'system';
  author_id: string | null;
  author_name: string | null;
  author_role: 'admin' | 'agent' | 'customer' | null;
  body: string;
  internal: boolean;
  created_at: Date;
}): MessageOutput {
  return {
    id: m.id,
    ticketId: m.ticket_id,
    authorType: m.author_type,
    author: m.author_id && m.author_name && m.author_role ? { id: m.author_id, name: m.author_name, role: m.author_role } : null,
    body: m.body,
    internal: m.internal,
    createdAt: iso(m.created_at),
  };
}

export const addMessageInput = z.strictObject({
  ticketId: id,
  body: nonBlank(20_000),
  internal: z.boolean().default(false),
});
export type AddMessageInput = z.infer<typeof addMessageInput>;
