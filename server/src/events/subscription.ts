// One `events.subscribe` stream: replay from the caller's cursor, then live,
// with no gap and no duplicate at the seam, within a bounded buffer.
//
// The subscriber tracks `seen`, the last log position it has accounted for
// (sent, or passed over by its filters). Positions are gapless, so any hole
// between `seen` and a batch the hub hands over is read from the log first:
// that one rule covers resuming, a hub that is ahead or behind, and a hub
// that has not read the log yet.
import { TRPCError } from '@trpc/server';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import type { Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import { userForTokenId } from '../auth.ts';
import { isConnectionError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { brief } from '../logger.ts';
import type { SessionUser } from '../trpc.ts';
import type { EventHub } from './hub.ts';
import { eventDto, logHead, matches, readEvents, visibleTo, type Audience, type EventFilter, type LoggedEvent } from './log.ts';
import { cursorOf, type RelaydeskEvent } from './types.ts';

export interface StreamLimits {
  /** Events a subscriber may have waiting; past it, it is closed and resumes from its last id. */
  maxBuffered: number;
  /** How often an open stream rechecks its token (also on every token or user change). */
  recheckMs: number;
  /** How long a closed-for-lag client may keep the connection without reading. */
  stuckMs: number;
}

export const defaultStreamLimits: StreamLimits = { maxBuffered: 2000, recheckMs: 15_000, stuckMs: 30_000 };

export interface StreamDeps {
  db: Kysely<Database>;
  hub: EventHub;
  log: Logger;
  limits: StreamLimits;
  /** Drops the connection of a client that stopped reading. */
  disconnect?: () => void;
}

const REPLAY_PAGE = 500;

interface Batch {
  from: number;
  to: number;
  events: LoggedEvent[];
}

export async function* streamEvents(
  deps: StreamDeps,
  caller: SessionUser,
  filter: EventFilter,
  start: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<TrackedEnvelope<RelaydeskEvent>, void> {
  const { db, hub, limits, log } = deps;
  let user = caller;
  let audience: Audience = { role: user.role, contactId: user.contactId };
  let seen = start;

  const send = (e: LoggedEvent) => {
    seen = e.position;
    return tracked(cursorOf(e.position), eventDto(e));
  };

  // Replay what the caller missed, page by page, before listening: a long
  // replay never fills the live buffer.
  for (;;) {
    const head = await readOrUnavailable(() => logHead(db));
    if (head <= seen) break;
    const { events, scannedTo } = await readOrUnavailable(() =>
      readEvents(db, { after: seen, upTo: head, limit: REPLAY_PAGE, audience, filter }),
    );
    for (const e of events) yield send(e);
    seen = scannedTo;
    if (events.length < REPLAY_PAGE && head - seen < REPLAY_PAGE) break;
  }

  // Live. The hub calls in synchronously; the loop below drains.
  const queue: Batch[] = [];
  let buffered = 0;
  let closed: TRPCError | null = null;
  let recheckNow = false;
  let wake: (() => void) | null = null;
  const poke = () => {
    wake?.();
    wake = null;
  };

  const detach = hub.add({
    onEvents(events) {
      if (closed) return;
      const from = events[0]!.position;
      const to = events[events.length - 1]!.position;
      if (to <= seen && queue.length === 0) return;
      const mine = events.filter((e) => matches(filter, e) && visibleTo(audience, e));
      // A burst handed to a subscriber waiting for events is taken whole (the
      // hub's page bounds it); the limit is on what piles up while it is
      // still sending.
      const idle = wake !== null && queue.length === 0;
      buffered += mine.length;
      queue.push({ from, to, events: mine });
      if (!idle && (buffered > limits.maxBuffered || queue.length > limits.maxBuffered)) {
        // Let go of everything queued: memory does not grow with a slow client.
        queue.length = 0;
        buffered = 0;
        closed = new TRPCError({
          code: 'SERVICE_UNAVAILABLE',
          message: `subscriber fell behind: more than ${limits.maxBuffered} events waiting; reconnect with lastEventId to resume`,
        });
        hub.laggingClosed++;
        detach();
        // If the client does not read even that far, drop its connection.
        setTimeout(() => deps.disconnect?.(), limits.stuckMs).unref();
      }
      poke();
    },
    onAuthChange(userId) {
      if (userId === user.id) {
        recheckNow = true;
        poke();
      }
    },
    buffered: () => buffered,
    onClose(reason) {
      closed = new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: reason.message });
      poke();
    },
  });

  const recheckTimer = setInterval(() => {
    recheckNow = true;
    poke();
  }, limits.recheckMs);
  recheckTimer.unref();
  const onAbort = () => poke();
  signal?.addEventListener('abort', onAbort);

  try {
    while (!signal?.aborted) {
      if (recheckNow) {
        recheckNow = false;
        try {
          const now = await userForTokenId(db, user.tokenId);
          if (!now) {
            throw new TRPCError({ code: 'UNAUTHORIZED', message: 'the API token was revoked or expired, or its user deactivated' });
          }
          user = now;
          audience = { role: now.role, contactId: now.contactId };
        } catch (err) {
          if (err instanceof TRPCError) throw err;
          // Database unreachable: keep streaming, check again later.
          log.debug({ err: brief(err) }, 'token recheck failed');
        }
      }
      if (closed) throw closed;
      const batch = queue.shift();
      if (!batch) {
        // What the hub read before this stream attached (or when it first
        // read the log) never comes as a batch: read it from the log.
        const hubHead = hub.head ?? 0;
        if (hubHead > seen) {
          const { events, scannedTo } = await readOrUnavailable(() =>
            readEvents(db, { after: seen, upTo: hubHead, limit: REPLAY_PAGE, audience, filter }),
          );
          for (const e of events) yield send(e);
          seen = Math.max(seen, scannedTo);
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      buffered -= batch.events.length;
      if (batch.to <= seen) continue;
      // A hole before this batch (the hub was behind us, or ahead when we
      // attached): read it from the log.
      while (seen < batch.from - 1) {
        const { events, scannedTo } = await readOrUnavailable(() =>
          readEvents(db, { after: seen, upTo: batch.from - 1, limit: REPLAY_PAGE, audience, filter }),
        );
        for (const e of events) yield send(e);
        seen = scannedTo;
      }
      for (const e of batch.events) {
        // The caller's role may have changed since the batch was queued.
        if (e.position > seen && visibleTo(audience, e)) yield send(e);
      }
      seen = Math.max(seen, batch.to);
    }
  } finally {
    detach();
    clearInterval(recheckTimer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** A read that fails because the database is away ends the stream with a code clients retry. */
async function readOrUnavailable<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (isConnectionError(err)) {
      throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'the database is unavailable; reconnect with lastEventId to resume', cause: err });
    }
    throw err;
  }
}
