// tickets.suggest: category and priority for a form being typed.
import type { AiContext } from '../ai/context.ts';
import { classifyWithFallback } from '../ai/classify.ts';
import type { SessionUser } from '../caller.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/**
 * The LLM within a tight timeout, the built-in classifier when it is slow,
 * failing or absent. Rate-limited per user (the LLM costs money; a form
 * calls this often).
 */
export async function suggestClassification(
  ai: AiContext,
  user: SessionUser,
  input: { title?: string | undefined; description: string },
  log: Logger,
) {
  if (ai.config.modes.suggest === 'off') throw new AppError('PRECONDITION_FAILED', 'suggestions are switched off (AI_SUGGEST=off)');
  const wait = await ai.suggestLimiter.take(user.id);
  if (wait > 0) throw new AppError('TOO_MANY_REQUESTS', `too many suggestions; try again in ${wait} s`, { retryAfterSeconds: wait });
  const r = await classifyWithFallback(ai, 'suggest', input, { timeoutMs: ai.config.suggestTimeoutMs, maxRetries: 0, log });
  return { category: r.category, priority: r.priority, confidence: r.confidence, source: r.source, ...(r.model ? { model: r.model } : {}) };
}
