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

/** Why `feature` never calls the LLM in this configuration, or null when it may. */
export function llmUnavailable(config: AiConfig, feature: AiFeature): string | null {
  if (config.modes[feature] === 'builtin') return `AI_${feature.toUpperCase()}=builtin`;
  if (!usesLlm(config, feature)) return 'the LLM is not configured (no GROQ_API_KEY)';
  return null;
}

/** A result as a ticket stores it in `classification`. */
export function storedClassification(r: ClassificationResult): { source: 'llm' | 'builtin'; confidence: number; model?: string } {
  return { source: r.source, confidence: Math.round(r.confidence * 1000) / 1000, ...(r.model ? { model: r.model } : {}) };
}

/** The built-in model's answer, with the reason it answered. */
export function builtinClassification(ticket: { title?: string | undefined; description: string }, why: string): ClassificationResult {
  const b = builtinClassifier().classify(ticket);
  return { category: b.category, priority: b.priority, confidence: b.confidence, source: 'builtin', reason: `built-in classifier: ${why}` };
}

export interface AiDeps {
  config: AiConfig;
  breaker: LlmBreaker;
}

/**
 * Calls the LLM for `feature` unless it is off, built-in only, unconfigured
 * or failing recently, and keeps the breaker's books. Never throws for an
 * LLM reason: it returns why the fallback must answer instead.
 */
export async function tryLlm<T>(
  ai: AiDeps,
  feature: AiFeature,
  call: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; why: string; err?: unknown }> {
  const off = llmUnavailable(ai.config, feature);
  if (off) return { ok: false, why: off };
  const skipping = ai.breaker.skipping();
  if (skipping) return { ok: false, why: `the LLM failed recently (${skipping}); skipped for now` };
  const startedAt = Date.now();
  try {
    const value = await call();
    ai.breaker.succeeded(startedAt);
    return { ok: true, value };
  } catch (err) {
    const why = llmFailureReason(err);
    ai.breaker.failed(err, why);
    return { ok: false, why, err };
  }
}

export async function classifyWithFallback(
  ai: AiDeps,
  feature: Extract<AiFeature, 'classify' | 'suggest'>,
  ticket: { title?: string | undefined; description: string },
  opts: { timeoutMs: number; maxRetries: number; log: Logger },
): Promise<ClassificationResult> {
  const llm = await tryLlm(ai, feature, () => llmClassify(ai.config, ticket, opts));
  if (llm.ok) {
    const r = llm.value;
    return { category: r.category, priority: r.priority, confidence: r.confidence, source: 'llm', model: ai.config.model, reason: r.reason };
  }
  if (llm.err) opts.log.warn({ err: brief(llm.err), feature, reason: llm.why }, 'LLM classification failed; the built-in classifier answers');
  return builtinClassification(ticket, llm.why);
}
