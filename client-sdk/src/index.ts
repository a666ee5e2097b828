// @relaydesk/client: a typed client for the Relaydesk API.
//
// The server's router is imported as a type only, so no server code (nor any
// of its dependencies) ends up in an app that uses this package.
import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  retryLink,
  splitLink,
  TRPCClientError,
  type TRPCClient,
} from '@trpc/client';
import { EventSource } from 'eventsource';
import { Webhook } from 'standardwebhooks';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@relaydesk/server';

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type Ticket = RouterOutputs['tickets']['get'];
/**
 * One event from `events.subscribe` or `tickets.history`, discriminated by
 * `type`: `switch (e.type)` narrows `e.data` to that event's payload.
 */
export type RelaydeskEvent = RouterOutputs['tickets']['history']['items'][number];
export type RelaydeskEventType = RelaydeskEvent['type'];
export { TRPCClientError };

export interface RelaydeskClientOptions {
  /** Base URL of the server, e.g. `http://localhost:3000` (the `/trpc` path is added). */
  url: string;
  /** An API token; omit for `health` and `auth.login` only. */
  token?: string | (() => string | undefined | Promise<string | undefined>);
  /** Custom fetch (tests, proxies). Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /**
   * Subscriptions: the delay before reconnecting after the n-th failed attempt
   * in a row. Default: 250 ms doubling to 10 s, with jitter.
   */
  retryDelayMs?: (attempt: number) => number;
}

/** Errors a subscription gives up on: retrying cannot fix them. */
const FINAL_CODES = new Set(['UNAUTHORIZED', 'FORBIDDEN', 'BAD_REQUEST', 'NOT_FOUND', 'PARSE_ERROR', 'METHOD_NOT_SUPPORTED']);

const backoff = (attempt: number) => Math.min(10_000, 250 * 2 ** Math.min(attempt - 1, 6)) * (0.5 + Math.random() / 2);

export type RelaydeskClient = TRPCClient<AppRouter>;

export function createRelaydeskClient(opts: RelaydeskClientOptions): RelaydeskClient {
  const base = opts.url.replace(/\/+$/, '');
  const url = base.endsWith('/trpc') ? base : `${base}/trpc`;
  // Requests carry the token as `Authorization: Bearer …`.
  const headers = async (): Promise<Record<string, string>> => {
    const token = typeof opts.token === 'function' ? await opts.token() : opts.token;
    return { ...opts.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) };
  };
  const baseFetch = opts.fetch ?? globalThis.fetch;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        // Subscriptions: SSE through the `eventsource` package (Node and
        // browsers; unlike the built-in EventSource it can send the token as
        // a header, so it never appears in a URL). The stream resumes by
        // itself: EventSource reconnects with Last-Event-ID after a dropped
        // connection, and retryLink starts a new stream from the last id
        // after anything else (a server restart, a 502 from a proxy).
        true: [
          retryLink({
            retry: ({ error }) => !FINAL_CODES.has(errorCode(error) ?? ''),
            retryDelayMs: opts.retryDelayMs ?? backoff,
          }),
          httpSubscriptionLink({
            url,
            EventSource,
            eventSourceOptions: async () => {
              const extra = await headers();
              return {
                fetch: (input: string | URL | Request, init?: RequestInit) =>
                  baseFetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...extra } }),
              };
            },
          }),
        ],
        // Queries go as POST too: an input as long as a ticket description
        // (tickets.suggest) would not fit in a URL.
        false: httpBatchLink({ url, fetch: opts.fetch, headers, methodOverride: 'POST' }),
      }),
    ],
  });
}

/** The tRPC error code of a failed call (`'NOT_FOUND'`, `'CONFLICT'`, …), if it is one. */
export function errorCode(err: unknown): string | undefined {
  return err instanceof TRPCClientError ? (err.data as { code?: string } | undefined)?.code : undefined;
}

/** Why a webhook was refused: bad or missing signature, a timestamp outside the replay window, a body that is not an event. */
export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

/** Request headers as Node (`req.headers`), the Fetch API (`request.headers`) or a plain object give them. */
export type WebhookHeaders = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /**
   * How far `webhook-timestamp` may be from now, either way, in seconds: an
   * older message is refused as a possible replay. Default and maximum 300.
   */
  toleranceSeconds?: number;
}

function headerOf(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(' ') : value;
  }
  return undefined;
}

/**
 * Verifies a webhook from Relaydesk (Standard Webhooks) and returns its event,
 * typed: `switch (event.type)` narrows `event.data`. Pass the body exactly
 * as received (a string or the raw bytes, before any JSON parsing) and the
 * endpoint's `whsec_…` secret; during a secret rotation, pass both secrets.
 * Throws WebhookVerificationError when the signature does not match, a
 * header is missing, or the timestamp is outside the replay window.
 * `event.id` (also the `webhook-id` header) is the same on every retry:
 * use it to ignore a message you have already handled.
 */
export function verifyWebhook(
  secret: string | readonly string[],
  headers: WebhookHeaders,
  rawBody: string | Uint8Array,
  opts: VerifyWebhookOptions = {},
): RelaydeskEvent {
  const body = typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody);
  const id = headerOf(headers, 'webhook-id');
  const timestamp = headerOf(headers, 'webhook-timestamp');
  const signature = headerOf(headers, 'webhook-signature');
  if (!id || !timestamp || !signature) throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature header');
  const tolerance = Math.min(300, Math.max(0, opts.toleranceSeconds ?? 300));
  const age = Math.floor(Date.now() / 1000) - Number(timestamp);
  if (!Number.isFinite(age) || Math.abs(age) > tolerance) {
    throw new WebhookVerificationError(`webhook-timestamp is outside the ${tolerance} s replay window`);
  }
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new WebhookVerificationError('no secret given');
  let payload: unknown;
  let lastError: unknown;
  for (const s of secrets) {
    try {
      payload = new Webhook(s).verify(body, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature });
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err;
    }
  }
  if (lastError !== undefined) throw new WebhookVerificationError(`signature does not verify: ${(lastError as Error).message}`);
  const event = (payload as { type?: unknown; data?: { id?: unknown; type?: unknown } } | undefined)?.data;
  if (!event || typeof event.id !== 'string' || event.type !== (payload as { type?: unknown }).type || event.id !== id) {
    throw new WebhookVerificationError('the body is not a Relaydesk event');
  }
  return event as RelaydeskEvent;
}
