// Schemas and converters shared across the core's areas.
import { z } from 'zod';

export const id = z.uuid();
export const isoDate = z.iso.datetime();
export const limit = z.number().int().min(1).max(100).default(25);

export const iso = (d: Date) => d.toISOString();
export const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** A page from `limit + 1` rows: `nextCursor` is null on the last one. */
export function page<T extends { id: string }, U>(rows: T[], limit: number, map: (row: T) => U): Page<U> {
  const more = rows.length > limit;
  const items = (more ? rows.slice(0, limit) : rows).map(map);
  return { items, nextCursor: more ? rows[limit - 1]!.id : null };
}

export const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ message: 'must be an email address' }));

/**
 * Text input: any string Postgres can store. A NUL character cannot be, so it
 * is refused here with the field's name rather than failing in the database.
 */
export const text = () => z.string().refine((s) => !s.includes('\u0000'), 'must not contain a NUL character');

/** Free text that must say something: not empty or blank once trimmed. */
export const nonBlank = (max: number) => text().max(max).refine((s) => s.trim().length > 0, 'must not be empty');

export const name = text().trim().min(1).max(200);
