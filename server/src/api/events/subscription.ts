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
import { userForTokenId } from '../../core/users/auth.ts';
import { AppError, isConnectionError } from '../../core/errors.ts';
import { startStream, type SubscribeInput } from '../../core/events/subscribe.ts';
import type { Logger } from '../../core/logger.ts';
import { brief } from '../../core/logger.ts';
import type { SessionUser } from '../../core/caller.ts';
import type { EventHub } from './hub.ts';
import { eventFor, logHead, matches, readEvents, type EventFilter, type LoggedEvent } from '../../core/events/log.ts';
import { audienceOf, visibleTo, type Audience } from '../../core/events/visibility.ts';
import { liveAsLogged, type LiveEvent } from '../../core/events/live.ts';
import { cursorOf, type RelaydeskEvent } from '../../core/events/types.ts';

export interface StreamLimits {
  /** Events a subscriber may have waiting; past it, it is closed and resumes from its last id. */
  maxBuffered: number;
  /** How often an open stream rechecks its token (also on every token or user change). */
  recheckMs: number;
  /** How long a subscriber may stay behind (reading from the log), or read nothing, before it is let go. */
  stuckMs: number;
  /** Concurrent streams one token may hold. */
  perToken: number;
}

export const defaultStreamLimits: StreamLimits = { maxBuffered: 2000, recheckMs: 15_000, stuckMs: 30_000, perToken: 20 };

export interface StreamDeps {
  db: Kysely<Database>;
  hub: EventHub;
  log: Logger;
  limits: StreamLimits;
  /** Drops the connection of a client that stopped reading. */
  disconnect?: () => void;
  /** Called once when the stream ends, however it ends. */
  onEnd?: () => void;
}

const REPLAY_PAGE = 500;

/**
 * Streams share the event loop with requests. Sending is a chain of
 * promises that never yields to I/O by itself, so a burst (thousands of
 * events to a hundred streams) would hold the loop for seconds: requests
 * would queue and new connections time out. Once a turn of the loop has
 * spent this long sending, every stream waits for the next turn.
 */
const TURN_BUDGET_MS = 10;
let turnStarted: number | null = null;
function overBudget(): boolean {
  const now = performance.now();
  if (turnStarted === null) {
    turnStarted = now;
    setImmediate(() => {
      turnStarted = null;
    });
    return false;
  }
  return now - turnStarted > TURN_BUDGET_MS;
}
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Batch {
  from: number;
  to: number;
  events: LoggedEvent[];
  live?: undefined;
}
/** A live-only event, queued in arrival order among the log's batches. */
interface Live {
  live: LiveEvent;
}

/**
 * Opens a caller's stream: where it starts (startStream's checks), and a
 * slot under the token's cap in this process, freed when the stream ends or
 * its request goes, whichever comes first (a stream may never be read).
 */
export async function openStream(
  deps: Omit<StreamDeps, 'onEnd'>,
  caller: SessionUser,
  input: SubscribeInput,
  signal: AbortSignal | undefined,
): Promise<AsyncGenerator<TrackedEnvelope<RelaydeskEvent>, void>> {
  const { filter, start, head } = await startStream(deps.db, caller, input);
  const { hub, limits } = deps;
  // The cap is per token and per server process (a token's streams normally stay on one server).
  const release = hub.acquireStream(caller.tokenId, limits.perToken);
  if (!release) {
    throw new AppError('TOO_MANY_REQUESTS', `this token already holds ${limits.perToken} live streams (EVENTS_STREAMS_PER_TOKEN); close one first`, {
      retryAfterSeconds: 5,
    });
  }
  signal?.addEventListener('abort', release, { once: true });
  return streamEvents({ ...deps, onEnd: release }, caller, filter, start, head, signal);
}

/**
 * One stream, watched: an event handed over and not taken by the transport
 * for `stuckMs` means the client reads nothing (its connection accepts no
 * more), whether or not its buffer has filled: the connection is dropped,
 * and the client resumes from its last id when it reads again.
 */
export async function* streamEvents(
  deps: StreamDeps,
  caller: SessionUser,
  filter: EventFilter,
  start: number,
  knownHead: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<TrackedEnvelope<RelaydeskEvent>, void> {
  const inner = streamLog(deps, caller, filter, start, knownHead, signal);
  let handedOverAt: number | null = null;
  const { stuckMs } = deps.limits;
  const watch = setInterval(
    () => {
      if (handedOverAt === null || Date.now() - handedOverAt <= stuckMs) return;
      handedOverAt = null;
      deps.hub.laggingClosed++;
      deps.log.info({ stuckMs }, 'event stream dropped: its client read nothing');
      deps.disconnect?.();
    },
    Math.max(50, Math.min(5000, Math.floor(stuckMs / 4))),
  );
  watch.unref();
  try {
    for (;;) {
      const next = await inner.next();
      if (next.done) return;
      handedOverAt = Date.now();
      yield next.value;
      handedOverAt = null;
    }
  } finally {
    clearInterval(watch);
    await inner.return(undefined);
    deps.onEnd?.();
  }
}

async function* streamLog(
  deps: StreamDeps,
  caller: SessionUser,
  filter: EventFilter,
  start: number,
  /** The log's head as the caller last read it (spares the first read). */
  knownHead: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<TrackedEnvelope<RelaydeskEvent>, void> {
  const { db, hub, limits, log } = deps;
  let user = caller;
  let audience: Audience = audienceOf(user);
  let seen = start;

  const send = (e: LoggedEvent) => {
    seen = e.position;
    return tracked(cursorOf(e.position), eventFor(audience, e));
  };

  // The hub calls in synchronously; the loops below drain.
  const queue: (Batch | Live)[] = [];
  let buffered = 0;
  let listening = false;
  /** Fell behind: buffer dropped, reading from the log until caught up. */
  let behindSince: number | null = null;
  let closed: TRPCError | null = null;
  let recheckNow = false;
  let wake: (() => void) | null = null;
  const poke = () => {
    wake?.();
    wake = null;
  };

  const giveUp = () => {
    closed = new TRPCError({
      code: 'SERVICE_UNAVAILABLE',
      message: `subscriber fell behind: it could not keep up for ${limits.stuckMs} ms; reconnect with lastEventId to resume`,
    });
    queue.length = 0;
    buffered = 0;
    hub.laggingClosed++;
    detach();
    // If the client does not read even that far, drop its connection.
    setTimeout(() => deps.disconnect?.(), Math.max(limits.stuckMs, 30_000)).unref();
    poke();
  };

  // Attached from the start, so revocation reaches a long replay too; events
  // are taken only once the replay is done (`listening`).
  const detach = hub.add({
    onEvents(events) {
      if (closed || !listening) return;
      if (behindSince !== null) {
        // Reading from the log already; a client that stays behind too long goes.
        if (Date.now() - behindSince > limits.stuckMs) giveUp();
        else poke();
        return;
      }
      const from = events[0]!.position;
      const to = events[events.length - 1]!.position;
      if (to <= seen && queue.length === 0) return;
      // Visibility is applied when sending: the caller's role may change meanwhile.
      // Most streams follow one ticket: no array is made for a batch with nothing for them.
      let mine: LoggedEvent[] | undefined;
      for (const e of events) if (matches(filter, e)) (mine ??= []).push(e);
      const idle = wake !== null && queue.length === 0;
      if (mine === undefined && idle && seen >= from - 1) {
        // Nothing for this stream, and it is parked with nothing before this
        // batch: account for the positions without waking it. (Most streams
        // follow one ticket: resuming every one of them for every batch
        // spent CPU on nothing.)
        seen = Math.max(seen, to);
        return;
      }
      // A burst handed to a subscriber waiting for events is taken whole (the
      // hub's page bounds it); the limit is on what piles up while it is
      // still sending.
      mine ??= [];
      buffered += mine.length;
      queue.push({ from, to, events: mine });
      if (!idle && (buffered > limits.maxBuffered || queue.length > limits.maxBuffered)) {
        // Let go of everything queued (memory does not grow with a slow
        // client) and catch up from the log, which holds it all anyway.
        queue.length = 0;
        buffered = 0;
        behindSince = Date.now();
      }
      poke();
    },
    onLive(e) {
      // Live-only events go to streams that are live and keeping up; a
      // stream replaying or catching up from the log has missed them.
      if (closed || !listening || behindSince !== null || buffered >= limits.maxBuffered) return;
      if (!matches(filter, e)) return;
      buffered++;
      queue.push({ live: e });
      poke();
    },
    onAdvance() {
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

  /** Ends the stream if the token is no longer good; follows a role change. */
  const recheck = async () => {
    if (!recheckNow) return;
    recheckNow = false;
    let now: SessionUser | null;
    try {
      now = await userForTokenId(db, user.tokenId);
    } catch (err) {
      // The database is away: keep streaming, check again later. Anything
      // else must not leave a revoked token streaming.
      if (!isConnectionError(err)) throw err;
      log.debug({ err: brief(err) }, 'token recheck failed');
      return;
    }
    if (!now) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'the API token was revoked or expired, or its user deactivated' });
    user = now;
    audience = audienceOf(now);
  };

  /** Sends what the log holds in (seen, upTo], a page at a time. */
  async function* fromLog(upTo: number) {
    const { events, scannedTo } = await readOrUnavailable(() =>
      readEvents(db, { after: seen, upTo, limit: REPLAY_PAGE, audience, filter }),
    );
    for (const e of events) {
      if (overBudget()) await nextTurn();
      await recheck();
      if (closed) throw closed;
      // The page was read for the role the caller had then; a recheck since may have narrowed it.
      if (!visibleTo(audience, e)) {
        seen = e.position;
        continue;
      }
      yield send(e);
    }
    seen = Math.max(seen, scannedTo);
  }

  try {
    // Replay what the caller missed, page by page, before taking live
    // batches: a long replay never fills the live buffer.
    for (let head = knownHead; ; head = await readOrUnavailable(() => logHead(db))) {
      await recheck();
      if (closed) throw closed;
      if (head <= seen) break;
      yield* fromLog(head);
      if (head - seen < REPLAY_PAGE) break;
    }
    listening = true;

    while (!signal?.aborted) {
      await recheck();
      if (closed) throw closed;
      const batch = queue.shift();
      if (!batch) {
        // What the hub read before this stream listened (or when it first
        // read the log, or while this stream was behind) never comes as a
        // batch: read it from the log.
        const hubHead = hub.head ?? 0;
        if (hubHead > seen) {
          yield* fromLog(hubHead);
          continue;
        }
        behindSince = null; // caught up
        if (recheckNow || closed || signal?.aborted) continue;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      if (batch.live) {
        buffered--;
        // Not in the log, so it takes the id of the last logged event before
        // it: resuming from it is exact, and it is never replayed.
        const e = batch.live;
        if (visibleTo(audience, liveAsLogged(e))) {
          const id = cursorOf(seen);
          yield tracked(id, { id, ...e } as RelaydeskEvent);
        }
        continue;
      }
      buffered -= batch.events.length;
      if (batch.to <= seen) continue;
      // A hole before this batch (the hub was behind us, or ahead when we
      // attached): read it from the log.
      while (seen < batch.from - 1) yield* fromLog(batch.from - 1);
      for (const e of batch.events) {
        if (e.position <= seen || !visibleTo(audience, e)) continue;
        if (overBudget()) await nextTurn();
        yield send(e);
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
