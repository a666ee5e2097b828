// Inputs that name events: cursors and type filters.
import { z } from 'zod';
import { isTypePattern } from './log.ts';
import { CURSOR_PATTERN } from './types.ts';

export const eventCursor = z.string().regex(CURSOR_PATTERN, 'must be an event id');

export const eventTypes = z
  .array(z.string().refine(isTypePattern, 'must be an event type (e.g. ticket.updated) or a pattern (e.g. ticket.*)'))
  .min(1)
  .max(20);
