// One classification, LLM first when configured, the built-in model when the
// LLM is off, failing, or recently failing. Never throws for an LLM reason:
// creating and classifying tickets must not depend on Groq being up.
import type { Category, Priority } from '@relaydesk/db';
import type { Logger } from '../logger.ts';
import { brief } from '../logger.ts';
import { builtinClassifier } from './classifier.ts';
import { llmClassify, llmFailureReason, usesLlm, type AiConfig, type AiFeature } from './llm.ts';

export interface ClassificationResult {
  category: Category;
  priority: Priority;
  confidence: number;
  source: 'llm' | 'builtin';
  model?: string;
  /** One line: the model's reason, or why the built-in answered. */
  reason: string;
}

/**
 * After the LLM fails with a rate limit, a server error or a timeout, calls
 * skip it for a while (honouring Retry-After when it said more): a form being
 * typed, or a burst of new tickets, answers from the built-in at once
 * instead of each waiting out its own timeout against a service that is down.
 */
export class LlmBreaker {
  #openUntil = 0;
  #openedAt = 0;
  #reason = '';
  readonly cooldownMs: number;

  constructor(cooldownMs = 30_000) {
    this.cooldownMs = cooldownMs;
  }

  /** Why calls skip the LLM now, or null when they may call it. */
  skipping(now = Date.now()): string | null {
    return now < this.#openUntil ? this.#reason : null;
  }

  failed(err: unknown, reason: string, now = Date.now()) {
    const status = (err as { status?: number })?.status;
    // A bad answer is the model's, not the service's: the next call may do better.
    const transient = status === undefined ? /timed out|could not be reached/.test(reason) : status === 429 || status >= 500;
    if (!transient || this.cooldownMs === 0) return;
    const retryAfterMs = Number((err as { retryAfterMs?: number })?.retryAfterMs ?? 0);
    this.#openUntil = now + Math.max(this.cooldownMs, Number.isFinite(retryAfterMs) ? retryAfterMs : 0);
    this.#openedAt = now;
    this.#reason = reason;
  }

  /** A call that started at `startedAt` succeeded; one already running when the breaker opened proves nothing. */
  succeeded(startedAt = Date.now()) {
    if (startedAt >= this.#openedAt) this.#openUntil = 0;
  }
}

export async function classifyWithFallback(
  ai: { config: AiConfig; breaker: LlmBreaker },
  feature: Extract<AiFeature, 'classify' | 'suggest'>,
  ticket: { title?: string | undefined; description: string },
  opts: { timeoutMs: number; maxRetries: number; log: Logger },
): Promise<ClassificationResult> {
  let why = 'the LLM is not configured (no GROQ_API_KEY)';
  if (ai.config.modes[feature] === 'builtin') why = `AI_${feature.toUpperCase()}=builtin`;
  if (usesLlm(ai.config, feature)) {
    const skipping = ai.breaker.skipping();
    if (skipping) {
      why = `the LLM failed recently (${skipping}); skipped for now`;
    } else {
      const startedAt = Date.now();
      try {
        const r = await llmClassify(ai.config, ticket, opts);
        ai.breaker.succeeded(startedAt);
        return { category: r.category, priority: r.priority, confidence: r.confidence, source: 'llm', model: ai.config.model, reason: r.reason };
      } catch (err) {
        why = llmFailureReason(err);
        ai.breaker.failed(err, why);
        opts.log.warn({ err: brief(err), feature, reason: why }, 'LLM classification failed; the built-in classifier answers');
      }
    }
  }
  const b = builtinClassifier().classify(ticket);
  return { category: b.category, priority: b.priority, confidence: b.confidence, source: 'builtin', reason: `built-in classifier: ${why}` };
}
