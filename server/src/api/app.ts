// The Express app: tRPC at /trpc, GET /health, a request-scoped logger.
import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import * as trpcExpress from '@trpc/server/adapters/express';
import cors from 'cors';
import express from 'express';
import type { Kysely } from 'kysely';
import { pinoHttp } from 'pino-http';
import type { Database } from '@relaydesk/db';
import { createAiContext, type AiContext } from '../core/ai/context.ts';
import { bearerToken } from '../core/users/auth.ts';
import type { TokenCache } from '../core/users/token-cache.ts';
import { createLoginLimits } from '../core/users/login.ts';
import { commonEnv } from '../core/env.ts';
import type { EventHub } from './events/hub.ts';
import { eventStreamHandler } from './events/sse.ts';
import { defaultStreamLimits, type StreamLimits } from './events/subscription.ts';
import type { Jobs } from '../core/jobs/send.ts';
import type { Logger } from '../core/logger.ts';
import { appRouter } from './router.ts';
import { checkHealth } from '../core/health.ts';
import { AppError, UNAVAILABLE_RETRY_AFTER_S } from '../core/errors.ts';
import { createServerMetrics } from './metrics.ts';
import { authenticate, createContextInner } from './trpc.ts';
import { webhookConfigFrom, type WebhookConfig } from '../core/webhooks/config.ts';

export interface AppDeps {
  db: Kysely<Database>;
  log: Logger;
  jobs: Jobs;
  /** When set, GET /metrics requires `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
  /** Serves `events.subscribe` from this hub; without it the procedure answers SERVICE_UNAVAILABLE. */
  hub?: EventHub;
  streamLimits?: Partial<StreamLimits>;
  /** AI configuration and limits. Default: from the environment (no LLM unless GROQ_API_KEY is set). */
  ai?: AiContext;
  /** Webhook settings. Default: the defaults of the environment variables. */
  webhooks?: WebhookConfig;
  /** Request handling: logs, deadline, CORS, proxies. Default: the environment variables' defaults. */
  http?: Partial<HttpOptions>;
  /** Answers bearer tokens from memory (kept current by the hub's LISTEN). Without it, each request looks its token up. */
  tokens?: TokenCache;
}

export interface HttpOptions {
  /** LOG_REQUESTS: per-request log lines. */
  logRequests: 'all' | 'errors' | 'off';
  /** REQUEST_TIMEOUT_MS: a request's deadline. */
  requestTimeoutMs: number;
  /** CORS_ORIGINS. */
  corsOrigins: string[];
  /** TRUST_PROXY: '' (none), a hop count, or comma-separated addresses. */
  trustProxy: string;
}

const defaultHttp: HttpOptions = { logRequests: 'all', requestTimeoutMs: 5000, corsOrigins: [], trustProxy: '' };

export function createApp({
  db,
  log,
  jobs,
  metricsToken,
  hub,
  streamLimits,
  ai = createAiContext(commonEnv.parse({}), db),
  webhooks = webhookConfigFrom(commonEnv.parse({})),
  http: httpOverrides,
  tokens,
}: AppDeps): express.Express {
  const http: HttpOptions = { ...defaultHttp, ...httpOverrides };
  const loginLimits = createLoginLimits(db);
  const events = hub ? { hub, limits: { ...defaultStreamLimits, ...streamLimits } } : undefined;
  const app = express();
  app.disable('x-powered-by');
  // Whose X-Forwarded-For is believed for the client's address (rate limits): nobody's by default.
  app.set('trust proxy', trustProxySetting(http.trustProxy));

  app.use(
    pinoHttp({
      logger: log,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      // A 4xx is the caller's mistake, not the server's: info, not warn.
      // 503 is the database being away (and says so): a warning, not a fault of ours.
      customLogLevel: (_req, res, err) => {
        if (http.logRequests === 'errors' && !err && res.statusCode < 400) return 'silent';
        return res.statusCode === 503 ? 'warn' : err || res.statusCode >= 500 ? 'error' : 'info';
      },
      serializers: {
        // Never a query string's values (tRPC's `input`, a token, a password) nor anything token-shaped.
        req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, url: safeUrl(req.url) }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      // Health checks every few seconds would drown the log.
      autoLogging: http.logRequests === 'off' ? false : { ignore: (req) => req.url === '/health' },
    }),
  );

  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  // Browsers may call the API only from CORS_ORIGINS; a preflight always answers 204
  // (without the allow headers when the origin is not listed, so the browser refuses).
  app.use(
    cors({
      origin: http.corsOrigins,
      methods: ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'trpc-accept', 'x-request-id', 'last-event-id', 'idempotency-key', 'if-match'],
      exposedHeaders: ['retry-after', 'x-request-id', 'www-authenticate'],
      maxAge: 600,
      optionsSuccessStatus: 204,
    }),
  );
  app.use((req, res, next) => {
    if (req.method === 'OPTIONS') res.status(204).end();
    else next();
  });

  const metrics = createServerMetrics(jobs, hub, tokens);
  const procedures = new Set(Object.keys(appRouter._def.procedures));
  app.get('/metrics', async (req, res) => {
    if (metricsToken && bearerToken(req.headers.authorization) !== metricsToken) {
      res.status(401).setHeader('WWW-Authenticate', 'Bearer realm="relaydesk-metrics"').type('text/plain').send('metrics need Authorization: Bearer <METRICS_TOKEN>\n');
      return;
    }
    try {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (err) {
      log.warn({ err }, 'metrics collection failed');
      res.status(503).setHeader('Retry-After', String(UNAVAILABLE_RETRY_AFTER_S)).type('text/plain').send('metrics unavailable: database unreachable\n');
    }
  });

  app.get('/health', async (_req, res) => {
    const health = await checkHealth(db);
    if (health.db !== 'up') res.setHeader('Retry-After', String(UNAVAILABLE_RETRY_AFTER_S));
    res.status(health.db === 'up' ? 200 : 503).json(health);
  });

  app.use('/trpc', (req, res, next) => {
    const started = performance.now();
    // Only known procedure names become labels: a label per made-up path would grow without bound.
    const path = req.path.slice(1).split(',').map((p) => (procedures.has(p) ? p : 'unknown')).join(',');
    res.once('finish', () => metrics.observe(path, res.statusCode, (performance.now() - started) / 1000));
    next();
  });
  // Every call has a deadline: past it the caller gets 503 with Retry-After at
  // once, whatever the handler is still waiting on (a frozen database holds a
  // connection's query forever), and what the handler writes later is dropped.
  app.use('/trpc', (req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    if (isEventStream(req)) {
      next();
      return;
    }
    const timer = setTimeout(() => {
      if (res.headersSent) res.destroy();
      else sendUnavailable(req, res, `no answer within ${http.requestTimeoutMs} ms; try again shortly`);
    }, http.requestTimeoutMs);
    timer.unref();
    res.once('close', () => clearTimeout(timer));
    next();
  });
  // Event streams: tell EventSource clients to reconnect after 1 s (the
  // default is 3 s) when a connection drops; they resume from their last id.
  app.use('/trpc', (req, res, next) => {
    if (req.method === 'GET' && req.headers.accept?.includes('text/event-stream')) {
      const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
      let first = true;
      res.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (first) {
          first = false;
          if (String(res.getHeader('content-type') ?? '').startsWith('text/event-stream')) write('retry: 1000\n\n');
        }
        return write(chunk, ...rest);
      }) as typeof res.write;
    }
    next();
  });
  // The live stream, written directly (see events/sse.ts); the same procedure's other callers go through tRPC.
  if (events) app.get('/trpc/events.subscribe', eventStreamHandler({ db, hub: events.hub, limits: events.limits, tokens }));
  app.use(
    '/trpc',
    trpcExpress.createExpressMiddleware({
      router: appRouter,
      maxBodySize: 256 * 1024,
      // A batch runs its calls in parallel: bound it.
      maxBatchSize: 50,
      // Queries may come as POST (the SDK sends them so): long inputs don't fit in a URL.
      allowMethodOverride: true,
      responseMeta({ ctx, errors }) {
        const headers: Record<string, string> = {};
        const retryAfter = Math.max(0, ...errors.map(retryAfterOf));
        if (retryAfter > 0) headers['retry-after'] = String(retryAfter);
        if (errors.some((e) => e.code === 'UNAUTHORIZED')) {
          headers['www-authenticate'] = ctx?.invalidToken ? 'Bearer realm="relaydesk", error="invalid_token"' : 'Bearer realm="relaydesk"';
        }
        return { headers };
      },
      async createContext({ req, res }) {
        const { user, invalidToken } = await authenticate(db, req.headers.authorization, tokens);
        return createContextInner({
          db,
          jobs,
          log: req.log.child({ userId: user?.id }),
          user,
          ip: req.ip ?? '',
          invalidToken,
          events,
          disconnect: () => res.destroy(),
          authChanged: (userId) => (userId ? tokens?.forgetUser(userId) : tokens?.clear()),
          ai,
          loginLimits,
          webhooks,
        });
      },
    }),
  );

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found: the API is at /trpc' });
  });
  return app;
}

function trustProxySetting(v: string): boolean | number | string[] {
  if (v === '') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return v
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
}

const TOKEN_SHAPED = /rd_[A-Za-z0-9_-]+/g;

/** A URL as the request log keeps it: the path and the names of the query's parameters, never their values nor anything token-shaped. */
export function safeUrl(url: string): string {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).replace(TOKEN_SHAPED, 'rd_…').slice(0, 500);
  if (q < 0) return path;
  const names = [...new Set(new URLSearchParams(url.slice(q + 1)).keys())].slice(0, 20).map((k) => k.replace(TOKEN_SHAPED, 'rd_…').slice(0, 50));
  return `${path}?${names.map((k) => `${encodeURIComponent(k)}=…`).join('&')}`;
}

const isEventStream = (req: express.Request) => req.method === 'GET' && Boolean(req.headers.accept?.includes('text/event-stream'));

function retryAfterOf(e: TRPCError): number {
  if (e.cause instanceof AppError && e.cause.retryAfterSeconds !== undefined) return e.cause.retryAfterSeconds;
  if (e.code === 'SERVICE_UNAVAILABLE') return UNAVAILABLE_RETRY_AFTER_S;
  return e.code === 'TOO_MANY_REQUESTS' ? 1 : 0;
}

/**
 * Answers a tRPC call with SERVICE_UNAVAILABLE in tRPC's own envelope (one
 * per call of a batch), then drops whatever the handler writes later.
 */
function sendUnavailable(req: express.Request, res: express.Response, message: string) {
  const paths = req.path.slice(1).split(',');
  const error = (path: string) => ({ error: { message, code: -32603, data: { code: 'SERVICE_UNAVAILABLE', httpStatus: 503, path } } });
  const body = req.query.batch ? paths.map(error) : error(paths[0] ?? '');
  res.status(503).setHeader('Retry-After', String(UNAVAILABLE_RETRY_AFTER_S));
  res.json(body);
  const drop = () => res;
  Object.assign(res, { setHeader: drop, writeHead: drop, status: drop, write: () => true, end: drop });
}
