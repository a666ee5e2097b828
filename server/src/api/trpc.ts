// The only initTRPC of the server: context, error formatting, and the
// procedure builders that enforce authentication and roles.
import { initTRPC, TRPCError } from '@trpc/server';
import type { Kysely } from 'kysely';
import type { Database, Role } from '@relaydesk/db';
import type { SessionUser } from '../core/caller.ts';
import { AppError, fromPgError, isConnectionError } from '../core/errors.ts';
import { bearerToken, userForToken } from '../core/users/auth.ts';
import type { TokenCache } from '../core/users/token-cache.ts';
import type { EventHub } from './events/hub.ts';
import type { StreamLimits } from './events/subscription.ts';
import type { AiContext } from '../core/ai/context.ts';
import type { LoginLimits } from '../core/users/login.ts';
import type { Jobs } from '../core/jobs/send.ts';
import type { Logger } from '../core/logger.ts';
import type { WebhookConfig } from '../core/webhooks/config.ts';

export type { SessionUser };

export interface ContextInner {
  db: Kysely<Database>;
  /** Sends jobs inside a write's transaction. */
  jobs: Jobs;
  log: Logger;
  user: SessionUser | null;
  /** Client address, for rate limits. */
  ip: string;
  /** A token was sent but is unknown, revoked, or its user is deactivated. */
  invalidToken?: boolean;
  /** The process's event hub, where live events are served. */
  events?: { hub: EventHub; limits: StreamLimits };
  /** Drops the caller's connection (a stream whose client stopped reading). */
  disconnect?: () => void;
  /**
   * This request changed who a token stands for (a revocation, a new role):
   * the process forgets its cached tokens now, before the answer goes out,
   * rather than when its own NOTIFY comes back.
   */
  authChanged?: (userId?: string) => void;
  /** AI configuration and the AI rate limits. */
  ai: AiContext;
  /** Failed-login counters, shared by every server process. */
  loginLimits: LoginLimits;
  /** Where webhooks may point, and their retry schedule. */
  webhooks: WebhookConfig;
}

/** The context without HTTP: tests and scripts use it with `createCaller`. */
export function createContextInner(opts: ContextInner): ContextInner {
  return opts;
}

export type Context = ContextInner;

interface Issue {
  path: PropertyKey[] | ReadonlyArray<PropertyKey | { key: PropertyKey }>;
  message: string;
  code?: string;
  /** unrecognized_keys: the keys that are not part of the input. */
  keys?: string[];
}

function issuesOf(cause: unknown): Issue[] | undefined {
  const issues = (cause as { issues?: unknown } | undefined)?.issues;
  return Array.isArray(issues) ? (issues as Issue[]) : undefined;
}

const pathOf = (issue: Issue) =>
  issue.path.map((p) => (typeof p === 'object' && p !== null && 'key' in p ? String(p.key) : String(p))).join('.');

const t = initTRPC.context<Context>().create({
  sse: {
    // Keeps idle streams alive through proxies; a client that hears nothing
    // for 30 s reconnects (and resumes from its last id).
    ping: { enabled: true, intervalMs: 10_000 },
    client: { reconnectAfterInactivityMs: 30_000 },
  },
  errorFormatter({ shape, error }) {
    const issues = error.code === 'BAD_REQUEST' ? issuesOf(error.cause) : undefined;
    const appError = error.cause instanceof AppError ? error.cause : undefined;
    // An unknown key is an issue about that key: it names the field (a misspelling is never ignored).
    const zodIssues = issues?.flatMap((i) =>
      i.code === 'unrecognized_keys' && i.keys?.length
        ? i.keys.map((k) => ({ path: pathOf({ ...i, path: [...i.path, k] }), message: 'is not a known field', code: i.code! }))
        : [{ path: pathOf(i), message: i.message, code: i.code ?? 'invalid' }],
    );
    // Whatever path an internal error took, its text (SQL, addresses) stays on the server.
    const message =
      error.code === 'INTERNAL_SERVER_ERROR' ? 'internal error' : zodIssues ? zodIssues.map((i) => `${i.path || 'input'}: ${i.message}`).join('; ') : shape.message;
    return {
      message,
      code: shape.code,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        /** The input field the error is about, when there is one. */
        field: appError?.field ?? (zodIssues?.[0]?.path || undefined),
        zodIssues,
      },
    };
  },
});

const toTrpcCode = {
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  TOO_MANY_REQUESTS: 'TOO_MANY_REQUESTS',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
} as const;

/**
 * What the caller is told of an error: AppErrors and input-caused Postgres
 * errors become their tRPC codes; anything else is logged and told as
 * "internal error" (never SQL or a stack). Every door's errors go through it.
 */
export function callerError(error: TRPCError, log: Logger, path: string): TRPCError {
  const cause = error.cause ? fromPgError(error.cause) : undefined;
  if (cause instanceof AppError) return new TRPCError({ code: toTrpcCode[cause.code], message: cause.message, cause });
  if (error.code !== 'INTERNAL_SERVER_ERROR') return error;
  log.error({ err: error.cause ?? error, path }, 'procedure failed');
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'internal error' });
}

const errorMapping = t.middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (!result.ok) result.error = callerError(result.error, ctx.log, path);
  return result;
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(errorMapping);

/** Who is calling, from the Authorization header: every door authenticates with it. */
export async function authenticate(
  db: Kysely<Database>,
  authorization: string | undefined,
  tokens: TokenCache | undefined,
): Promise<{ user: SessionUser | null; invalidToken: boolean }> {
  const token = bearerToken(authorization);
  if (!token) return { user: null, invalidToken: false };
  try {
    const user = await userForToken(db, token, tokens);
    // A token that was sent but is unknown, revoked or belongs to a
    // deactivated user is an error, not an anonymous call.
    return { user, invalidToken: !user };
  } catch (err) {
    if (!isConnectionError(err)) throw err;
    const message = 'the database is unavailable; try again shortly';
    throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message, cause: new AppError('UNAVAILABLE', message, { cause: err }) });
  }
}

/** The error for a call without a usable token. */
export const unauthorized = (invalidToken: boolean | undefined) =>
  new TRPCError({
    code: 'UNAUTHORIZED',
    message: invalidToken ? 'the API token is invalid, revoked, or its user is deactivated' : 'an API token is required (Authorization: Bearer <token>)',
  });

export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user) throw unauthorized(ctx.invalidToken);
  return next({ ctx: { ...ctx, user: ctx.user } });
});

export function roleProcedure(...roles: Role[]) {
  return authedProcedure.use(({ ctx, next }) => {
    if (!roles.includes(ctx.user.role)) {
      throw new TRPCError({ code: 'FORBIDDEN', message: `requires role ${roles.join(' or ')}` });
    }
    return next();
  });
}

export const staffProcedure = roleProcedure('admin', 'agent');
export const adminProcedure = roleProcedure('admin');
