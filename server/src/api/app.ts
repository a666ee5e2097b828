// The Express app: tRPC at /trpc, GET /health, a request-scoped logger.
import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import * as trpcExpress from '@trpc/server/adapters/express';
import express from 'express';
import type { Kysely } from 'kysely';
import { pinoHttp } from 'pino-http';
import type { Database } from '@relaydesk/db';
import { createAiContext, type AiContext } from '../core/ai/context.ts';
import { bearerToken, userForToken } from '../core/users/auth.ts';
import { createLoginLimits } from '../core/users/login.ts';
import { commonEnv } from '../core/env.ts';
import type { EventHub } from './events/hub.ts';
import { defaultStreamLimits, type StreamLimits } from './events/subscription.ts';
import type { Jobs } from '../core/jobs/send.ts';
import type { Logger } from '../core/logger.ts';
import { appRouter } from './router.ts';
import { checkHealth } from '../core/health.ts';
import { isConnectionError } from '../core/errors.ts';
import { createServerMetrics } from './metrics.ts';
import { createContextInner } from './trpc.ts';
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
}: AppDeps): express.Express {
  const http: HttpOptions = { ...defaultHttp, ...httpOverrides };
  const loginLimits = createLoginLimits(db);
  const events = hub ? { hub, limits: { ...defaultStreamLimits, ...streamLimits } } : undefined;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');

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
      customLogLevel: (_req, res, err) => (res.statusCode === 503 ? 'warn' : err || res.statusCode >= 500 ? 'error' : 'info'),
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      // Health checks every few seconds would drown the log.
      autoLogging: { ignore: (req) => req.url === '/health' },
    }),
  );

  const metrics = createServerMetrics(jobs, hub);
  const procedures = new Set(Object.keys(appRouter._def.procedures));
  app.get('/metrics', async (req, res) => {
    if (metricsToken && bearerToken(req.headers.authorization) !== metricsToken) {
      res.status(401).type('text/plain').send('metrics need Authorization: Bearer <METRICS_TOKEN>\n');
      return;
    }
    try {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (err) {
      log.warn({ err }, 'metrics collection failed');
      res.status(503).type('text/plain').send('metrics unavailable: database unreachable\n');
    }
  });

  app.get('/health', async (_req, res) => {
    const health = await checkHealth(db);
    res.status(health.db === 'up' ? 200 : 503).json(health);
  });

  app.use('/trpc', (req, res, next) => {
    const started = performance.now();
    // Only known procedure names become labels: a label per made-up path would grow without bound.
    const path = req.path.slice(1).split(',').map((p) => (procedures.has(p) ? p : 'unknown')).join(',');
    res.once('finish', () => metrics.observe(path, res.statusCode, (performance.now() - started) / 1000));
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
  app.use(
    '/trpc',
    trpcExpress.createExpressMiddleware({
      router: appRouter,
      maxBodySize: 256 * 1024,
      // A batch runs its calls in parallel: bound it.
      maxBatchSize: 50,
      // Queries may come as POST (the SDK sends them so): long inputs don't fit in a URL.
      allowMethodOverride: true,
      async createContext({ req, res }) {
        const token = bearerToken(req.headers.authorization);
        let user: Awaited<ReturnType<typeof userForToken>> = null;
        try {
          user = token ? await userForToken(db, token) : null;
        } catch (err) {
          if (!isConnectionError(err)) throw err;
          throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'the database is unavailable; try again shortly' });
        }
        const reqLog = req.log.child({ userId: user?.id });
        // A token that was sent but is unknown, revoked or belongs to a
        // deactivated user is an error, not an anonymous call.
        return createContextInner({
          db,
          jobs,
          log: reqLog,
          user,
          ip: req.ip ?? '',
          invalidToken: Boolean(token && !user),
          events,
          disconnect: () => res.destroy(),
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
