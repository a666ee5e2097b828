// Process configuration, parsed once at boot. A bad value stops the process
// with one line naming the variable. A `.env` file in the working directory
// is read first when there is one (Node's own loader); the real environment
// wins over it.
import fs from 'node:fs';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', ''])
  .default('false')
  .transform((v) => v === 'true' || v === '1');

const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
  .refine((v) => URL.canParse(v), 'is not a valid URL');

const aiMode = z.enum(['auto', 'builtin', 'off']).default('auto');

export const commonEnv = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  GROQ_API_KEY: z.string().min(1).optional(),
  GROQ_MODEL: z.string().min(1).default('llama-3.3-70b-versatile'),
  GROQ_BASE_URL: z.url().optional(),
  /** How classification asks for structured output; auto: JSON schema where the model supports it, else a tool call. */
  GROQ_STRUCTURED_OUTPUT: z.enum(['auto', 'functionCalling', 'jsonSchema', 'jsonMode']).default('auto'),
  /** Per feature: auto (the LLM when GROQ_API_KEY is set, else built-in), builtin (never the LLM), off. */
  AI_CLASSIFY: aiMode,
  AI_SUGGEST: aiMode,
  AI_DRAFTS: aiMode,
  /** Background classification: the whole LLM call, retries included, before the built-in answers. Default 20 s. */
  // Below the queue's job expiry (120 s), so a job never runs twice at once.
  AI_CLASSIFY_TIMEOUT_MS: z.coerce.number().int().min(100).max(100_000).default(20_000),
  /** tickets.suggest: how long a form waits for the LLM before the built-in answers. Default 1.5 s. */
  AI_SUGGEST_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(1500),
  /** A draft reply: the whole stream, retries included. Default 60 s. */
  // Below the queue's job expiry (300 s).
  AI_DRAFT_TIMEOUT_MS: z.coerce.number().int().min(100).max(240_000).default(60_000),
  /** A draft stream that sends nothing for this long is abandoned. Default 15 s. */
  AI_DRAFT_IDLE_MS: z.coerce.number().int().min(50).max(240_000).default(15_000),
  /** Longest draft, in tokens. Default 800. */
  AI_DRAFT_MAX_TOKENS: z.coerce.number().int().min(16).max(8192).default(800),
  /** Retries of a failed LLM call (429, 5xx) in background jobs, with backoff honouring Retry-After. Default 3. */
  AI_LLM_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
  /** After the LLM fails (429, 5xx, timeout), calls in this process skip it for this long (or its Retry-After). Default 30 s. */
  AI_LLM_COOLDOWN_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  /** tickets.suggest calls per user per minute. Default 60. */
  AI_SUGGEST_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(60),
  /** ai.draftReply calls per user per minute. Default 10. */
  AI_DRAFTS_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(10),
  /** Allow webhook targets on loopback, private, link-local and metadata addresses. Default false. */
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool,
  /** One delivery attempt: connect, send and the answer's headers and excerpt. Default 10 s. */
  // Below the queue's job expiry (60 s).
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(10_000),
  /** Retries after the first attempt. Default 30: with the delays below, about a day. */
  WEBHOOK_RETRY_LIMIT: z.coerce.number().int().min(0).max(100).default(30),
  /** The first retry's delay, in seconds; each next one doubles, with jitter. Default 10. */
  WEBHOOK_RETRY_DELAY_S: z.coerce.number().int().min(1).max(86_400).default(10),
  /** The longest delay between two retries, in seconds. Default 3600. */
  WEBHOOK_RETRY_DELAY_MAX_S: z.coerce.number().int().min(1).max(86_400).default(3600),
  /** An endpoint whose attempts have all failed for this long (and at least 10 of them) is disabled. Default 3 days. */
  WEBHOOK_DISABLE_AFTER_S: z.coerce.number().int().min(1).max(365 * 86_400).default(3 * 86_400),
  /** Deliveries one worker runs at once. Default 25. */
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(500).default(25),
  /** New tickets go to the least-loaded agent. Off: agents pull work with tickets.claim. */
  AUTO_ASSIGN: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((v) => v === 'true' || v === '1'),
  /** Connections per process. Default 10. */
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /** Repeated statements run as named prepared statements (planned once per connection). false: behind PgBouncer in transaction mode. */
  DB_PREPARED_STATEMENTS: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((v) => v === 'true' || v === '1'),
  /** The first admin, created on the first boot of an empty database by any process. Default admin@relaydesk.local. */
  RELAYDESK_ADMIN_EMAIL: z.string().trim().toLowerCase().pipe(z.email({ message: 'must be an email address' })).default('admin@relaydesk.local'),
  /** The first admin's password; when unset, one is generated and printed once. At least 10 characters. */
  RELAYDESK_ADMIN_PASSWORD: z.string().min(10, 'must be at least 10 characters').max(256).optional(),
  /** Where the first admin's API token is written (and, under npm start, the embedded Postgres). Default .data. */
  RELAYDESK_DATA_DIR: z.string().min(1).default('.data'),
  /** Webhook deliveries and their attempts are kept this many days, then pruned by a worker job. Default 30. */
  WEBHOOK_LOG_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
});

export const serverEnv = commonEnv.extend({
  DATABASE_URL: postgresUrl,
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Required as a bearer token by GET /metrics when set. Unset: /metrics is open. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Events one subscriber may have waiting before it is closed as too slow (it resumes from its last id). */
  EVENTS_SUBSCRIBER_BUFFER: z.coerce.number().int().min(10).max(1_000_000).default(2000),
  /** How long (ms) a subscriber that fell behind, or reads nothing, may stay so before it is let go. */
  EVENTS_SUBSCRIBER_STUCK_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  /** Concurrent live streams one token may hold. Default 20. */
  EVENTS_STREAMS_PER_TOKEN: z.coerce.number().int().min(1).max(10_000).default(20),
  /** Per-request log lines: all, errors (4xx/5xx only) or off. Default all. */
  LOG_REQUESTS: z.enum(['all', 'errors', 'off']).default('all'),
  /**
   * How long (ms) a process may answer a bearer token from memory. Changes made
   * through Relaydesk reach every server at once (NOTIFY); this bounds changes
   * made behind its back. 0: every request looks its token up. Default 30000.
   */
  AUTH_CACHE_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(30_000),
  /** Bound on a request and its statements, in ms; past it: 503 with Retry-After. Default 5000. */
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  /** Comma-separated origins allowed to call the API from a browser. Default none. */
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
    .pipe(z.array(z.url().refine((o) => new URL(o).origin === o, 'must be origins like https://app.example.com'))),
  /** Hops (a number) or addresses (comma-separated) whose X-Forwarded-For is believed. Default none. */
  TRUST_PROXY: z
    .string()
    .default('')
    .refine((v) => v === '' || /^\d+$/.test(v) || v.split(',').every((a) => a.trim().length > 0), 'must be a hop count or a list of addresses'),
});
export type ServerEnv = z.infer<typeof serverEnv>;

export const workerEnv = commonEnv.extend({
  DATABASE_URL: postgresUrl,
  /** Serve this worker's Prometheus metrics on 127.0.0.1:<port>/metrics. Unset: off. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /**
   * Wake on new jobs through Postgres LISTEN/NOTIFY instead of waiting for the next poll.
   * Off behind a pooler in transaction mode (PgBouncer), which cannot hold a LISTEN. Default true.
   */
  JOBS_LISTEN_NOTIFY: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((v) => v === 'true' || v === '1'),
});
export type WorkerEnv = z.infer<typeof workerEnv>;

export const startEnv = serverEnv.extend({
  DATABASE_URL: postgresUrl.optional(),
  RELAYDESK_PG_PORT: z.coerce.number().int().min(0).max(65535).default(54329),
});
export type StartEnv = z.infer<typeof startEnv>;

const hints: Record<string, string> = {
  DATABASE_URL: ' (run `npm start` for an embedded Postgres, or point it at yours)',
};

/**
 * Reads `./.env` into process.env when it exists; variables already set in
 * the environment keep their value. Idempotent.
 */
export function loadDotEnv(file = '.env'): void {
  if (!fs.existsSync(file)) return;
  const before = { ...process.env };
  process.loadEnvFile(file);
  // Node's loader keeps existing values too; restated so it holds whatever its version.
  Object.assign(process.env, before);
}

/** Parses `env` (with `.env` read first) or exits the process with one line per bad variable. */
export function loadEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  if (env === process.env) loadDotEnv();
  // Empty strings mean "unset", as in most .env tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    const name = String(issue.path[0] ?? '?');
    const got = cleaned[name] === undefined ? 'is not set' : issue.message;
    console.error(`Invalid configuration: ${name} ${got === 'is not set' ? 'is not set' : `— ${got}`}${hints[name] ?? ''}`);
  }
  process.exit(1);
}
