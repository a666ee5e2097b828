// GET /trpc/events.subscribe, written directly to the socket.
//
// The bytes are those of tRPC's SSE producer (its stream/sse.ts), so the
// SDK's httpSubscriptionLink reads them unchanged: `retry`, a `connected`
// event with the client options, `data:`/`id:` per event, `ping` when idle,
// `serialized-error` with the router's error shape, `return` at the end.
// What tRPC adds per event and per subscriber (async iterators racing a
// ping timer, a web ReadableStream, a TransformStream, a TextEncoderStream)
// is gone: an event is serialized once per audience (the log hands every
// subscriber the same object for the same form of an event, and its frame is
// kept beside it) and the same bytes are written to every stream that gets
// it. Backpressure comes from the socket: when `res.write` says its buffer
// is full, the stream waits for `drain` before taking the next event; one
// that never drains is dropped by the stuck-reader watch (streamEvents).
//
// The tRPC procedure stays in the router: it gives the SDK its types and
// serves in-process callers; over HTTP this handler answers first.
import type express from 'express';
import { getErrorShape, getLastEventId, getTRPCErrorFromUnknown } from '@trpc/server/unstable-core-do-not-import';
import { TRPCError } from '@trpc/server';
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { LIVE_TYPES } from '../../core/events/live.ts';
import { subscribeInput } from '../../core/events/subscribe.ts';
import type { Logger } from '../../core/logger.ts';
import type { TokenCache } from '../../core/users/token-cache.ts';
import type { EventHub } from './hub.ts';
import { openStream, type StreamLimits } from './subscription.ts';
import { appRouter } from '../router.ts';
import { authenticate, callerError, unauthorized } from '../trpc.ts';

const PATH = 'events.subscribe';
const config = appRouter._def._config;
const pingMs = config.sse?.ping?.enabled ? (config.sse.ping.intervalMs ?? 1000) : 0;
const connected = `event: connected\ndata: ${JSON.stringify(config.sse?.client ?? {})}\n\n\n`;

/**
 * An event's frame, made once for all the streams that send the same object
 * (at the same position), as bytes: every stream writes the same buffer, with
 * no JSON encoding or string copy of its own. Each frame has a buffer of its
 * own (not a slice of Node's shared pool), so a kept frame keeps only itself.
 */
const frames = new WeakMap<object, { id: string; bytes: Buffer }>();
function eventFrame(id: string, data: unknown): Buffer {
  const text = `data: ${JSON.stringify(data)}\nid: ${id}\n\n\n`;
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  bytes.write(text);
  return bytes;
}
function frameOf(id: string, data: unknown): Buffer {
  // A live-only event is a new object for each stream, at its own id: nothing to share.
  if (typeof data !== 'object' || data === null || LIVE_TYPES.has((data as { type?: string }).type ?? '')) return eventFrame(id, data);
  let f = frames.get(data);
  if (f === undefined || f.id !== id) frames.set(data, (f = { id, bytes: eventFrame(id, data) }));
  return f.bytes;
}

export interface SseDeps {
  db: Kysely<Database>;
  hub: EventHub;
  limits: StreamLimits;
  tokens?: TokenCache;
}

/** The input as tRPC reads it for a subscription: `?input=` JSON, with the EventSource's last id merged in. */
function rawInput(req: express.Request): unknown {
  const text = typeof req.query.input === 'string' ? req.query.input : undefined;
  let input: unknown;
  if (text) {
    try {
      input = JSON.parse(text);
    } catch {
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'input: is not valid JSON' });
    }
  }
  // tRPC's own reading of the EventSource's last id: the header, else the query.
  const lastEventId = getLastEventId({
    headers: new Headers(typeof req.headers['last-event-id'] === 'string' ? { 'last-event-id': req.headers['last-event-id'] } : {}),
    searchParams: new URL(req.originalUrl, 'http://localhost').searchParams,
  });
  if (lastEventId) {
    if (typeof input === 'object' && input !== null && !Array.isArray(input)) input = { ...input, lastEventId };
    else input ??= { lastEventId };
  }
  return input;
}

export function eventStreamHandler(deps: SseDeps): express.RequestHandler {
  return (req, res, next) => {
    // Only an EventSource's GET (not HEAD, which writes nothing and so never
    // pushes back): anything else goes to tRPC, which answers it as before.
    if (req.method !== 'GET' || !req.headers.accept?.includes('text/event-stream')) {
      next();
      return;
    }
    let log: Logger = (req as unknown as { log: Logger }).log;
    let closed = false;
    const abort = new AbortController();
    let input: unknown;
    let lastWrite = Date.now();
    let ping: NodeJS.Timeout | undefined;
    let opened = false;
    /** Headers and `connected` go out with the first write, as tRPC sends them once the procedure has answered. */
    const write = (chunk: string | Buffer): boolean => {
      lastWrite = Date.now();
      if (!opened) {
        opened = true;
        res.status(200);
        res.setHeader('Content-Type', 'text/event-stream');
        res.setHeader('Cache-Control', 'no-cache, no-transform');
        res.setHeader('X-Accel-Buffering', 'no');
        res.setHeader('Connection', 'keep-alive');
        if (typeof chunk === 'string') chunk = connected + chunk;
        else res.write(connected);
      }
      return res.write(chunk);
    };
    res.once('close', () => {
      closed = true;
      clearInterval(ping);
      abort.abort();
    });

    void (async () => {
      try {
        const { user, invalidToken } = await authenticate(deps.db, req.headers.authorization, deps.tokens);
        if (!user) throw unauthorized(invalidToken);
        log = log.child({ userId: user.id });
        // Read after authentication, as tRPC reads a procedure's input.
        input = rawInput(req);
        const parsed = subscribeInput.safeParse(input);
        if (!parsed.success) throw new TRPCError({ code: 'BAD_REQUEST', message: parsed.error.message, cause: parsed.error });
        const { hub, limits } = deps;
        // Its slot is freed when the stream ends, or by `abort` if it never starts.
        const events = await openStream({ db: deps.db, hub, log, limits, disconnect: () => res.destroy() }, user, parsed.data, abort.signal);
        if (closed) return;
        write('');
        if (pingMs > 0) {
          // Checked twice per interval: silence never lasts much past pingMs (the client gives up after 30 s).
          ping = setInterval(() => {
            if (!closed && Date.now() - lastWrite >= pingMs) write('event: ping\ndata: \n\n\n');
          }, pingMs / 2);
          ping.unref();
        }
        for await (const [id, data] of events) {
          if (closed) break;
          if (!write(frameOf(id, data))) await drained(res);
          if (closed) break;
        }
        if (!closed) write('event: return\ndata: \n\n\n');
      } catch (err) {
        if (!closed) {
          const error = callerError(getTRPCErrorFromUnknown(err), log, PATH);
          const shape = getErrorShape({ config, error, type: 'subscription', path: PATH, input, ctx: undefined });
          write(`event: serialized-error\ndata: ${JSON.stringify(shape)}\n\n\n`);
        }
      } finally {
        clearInterval(ping);
        if (!closed) res.end();
      }
    })();
  };
}

/** Resolves when the socket takes more, or the connection is gone. */
function drained(res: express.Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
