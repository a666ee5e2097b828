// @relaydesk/client: a typed client for the Relaydesk API.
//
// The server's router is imported as a type only, so no server code (nor any
// of its dependencies) ends up in an app that uses this package.
import { createTRPCClient, httpBatchLink, TRPCClientError, type TRPCClient } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@relaydesk/server';

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type Ticket = RouterOutputs['tickets']['get'];
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
}

export type RelaydeskClient = TRPCClient<AppRouter>;

export function createRelaydeskClient(opts: RelaydeskClientOptions): RelaydeskClient {
  const base = opts.url.replace(/\/+$/, '');
  const url = base.endsWith('/trpc') ? base : `${base}/trpc`;
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url,
        fetch: opts.fetch,
        // Requests carry the token as `Authorization: Bearer …`.
        async headers() {
          const token = typeof opts.token === 'function' ? await opts.token() : opts.token;
          return { ...opts.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) };
        },
      }),
    ],
  });
}

/** The tRPC error code of a failed call (`'NOT_FOUND'`, `'CONFLICT'`, …), if it is one. */
export function errorCode(err: unknown): string | undefined {
  return err instanceof TRPCClientError ? (err.data as { code?: string } | undefined)?.code : undefined;
}
