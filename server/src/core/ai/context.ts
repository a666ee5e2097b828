// What AI commands need: the configuration, the per-user rate limits (shared
// by every process, in Postgres) and this process's LLM circuit breaker.
import type { Kysely } from 'kysely';
import type { z } from 'zod';
import type { Database } from '@relaydesk/db';
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

export function createAiContext(env: z.infer<typeof commonEnv>, db: Kysely<Database>): AiContext {
  return {
    config: aiConfigFrom(env),
    breaker: new LlmBreaker(env.AI_LLM_COOLDOWN_MS),
    suggestLimiter: new RateLimiter(db, { name: 'suggest', points: env.AI_SUGGEST_PER_MINUTE, windowSeconds: 60 }),
    draftLimiter: new RateLimiter(db, { name: 'draft', points: env.AI_DRAFTS_PER_MINUTE, windowSeconds: 60 }),
  };
}
