// What procedures need for AI: the configuration, and this process's
// per-user rate limits and LLM circuit breaker.
import type { z } from 'zod';
import type { commonEnv } from '../env.ts';
import { RateLimiter } from '../rate-limit.ts';
import { LlmBreaker } from './classify.ts';
import { aiConfigFrom, type AiConfig } from './llm.ts';

export interface AiContext {
  config: AiConfig;
  breaker: LlmBreaker;
  /** tickets.suggest calls per user per minute. */
  suggestLimiter: RateLimiter;
  /** ai.draftReply calls per user per minute. */
  draftLimiter: RateLimiter;
}

export function createAiContext(env: z.infer<typeof commonEnv>): AiContext {
  return {
    config: aiConfigFrom(env),
    breaker: new LlmBreaker(env.AI_LLM_COOLDOWN_MS),
    suggestLimiter: new RateLimiter(env.AI_SUGGEST_PER_MINUTE, 60_000),
    draftLimiter: new RateLimiter(env.AI_DRAFTS_PER_MINUTE, 60_000),
  };
}
