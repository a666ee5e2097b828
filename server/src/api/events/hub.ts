// The event hub of one server process: tails the log and fans events out to
// this process's subscribers.
//
// One LISTEN connection per process receives the sequencer's coalesced
// wake-ups; on each the hub reads every position after the last it
// dispatched, in order, and hands each batch to every subscriber. A timer
// reads too, so a lost notification (a reconnect, a restarted Postgres)
// delays events by at most `pollMs` and never loses one: the hub's place
// is a position in the log, not a message.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import type { Database } from '@relaydesk/db';
import type { Logger } from '../../core/logger.ts';
import { brief } from '../../core/logger.ts';
import { eventColumns, loggedEvent, logHead, type LoggedEvent } from '../../core/events/log.ts';
import { LIVE_CHANNEL, parseLive, type LiveEvent } from '../../core/events/live.ts';
import { EVENTS_CHANNEL } from '../../core/events/sequencer.ts';
import { AUTH_CHANNEL } from '../../core/users/auth.ts';
import type { TokenCache } from '../../core/users/token-cache.ts';


/**
 * The hub checks its own LISTEN: every HEARTBEAT_MS it sends itself a NOTIFY
 * through the pool. A connection counts as delivering once it has heard one
 * (only then is the token cache trusted), and as lost when a heartbeat that
 * was sent (committed) goes unheard for HEARTBEAT_LOST_MS, or when it is
 * still not listening that long after it began connecting: a connection that
 * died without an error reaching us, a frozen server, or a pooler that
 * accepts LISTEN and never delivers. A heartbeat that could not be sent (the
 * pool busy, the database away) proves nothing either way.
 */
const HEARTBEAT_CHANNEL = 'relaydesk_hub_heartbeat';
const HEARTBEAT_MS = 5000;
const HEARTBEAT_LOST_MS = 3 * HEARTBEAT_MS;

export interface HubListener {
  /** Called with consecutive positions, in order. Must not throw or block. */
  onEvents(events: LoggedEvent[]): void;
  /** The hub's head moved without a batch (its first read of the log). */
  onAdvance?(): void;
  /** A token or user changed: recheck the caller if it is `userId`. */
  onAuthChange?(userId: string): void;
  /** A live-only event (never in the log), as it happens. Must not throw or block. */
  onLive?(event: LiveEvent): void;
  /** The hub is stopping. */
  onClose?(reason: Error): void;
  /** Events this listener holds, not yet sent. */
  buffered?(): number;
}

export interface HubOptions {
  db: Kysely<Database>;
  connectionString: string;
  log: Logger;
  /** Read the log at least this often even without a notification. */
  pollMs?: number;
  /** Rows per read. */
  pageSize?: number;
  /**
   * The process's token cache: told of every auth change heard on this
   * connection, and trusted only while the connection listens.
   */
  tokens?: TokenCache;
}

export class EventHub {
  /** The last position handed to listeners; null until the log was first read. */
  head: number | null = null;
  readonly #opts: Required<Omit<HubOptions, 'tokens'>> & Pick<HubOptions, 'tokens'>;
  readonly #listeners = new Set<HubListener>();
  #client: pg.Client | null = null;
  #stopped = false;
  #reading: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #failures = 0;
  #dispatched = 0;
  readonly #heartbeatId = randomUUID();
  #heartbeat: NodeJS.Timeout | null = null;
  /** When the current connection last delivered a notification (0: not yet). */
  #heardAt = 0;
  /** When the oldest heartbeat sent and not yet heard was sent (null: none). */
  #unheardSince: number | null = null;
  #sending = false;
  /** When the current connection attempt began. */
  #connectingSince = 0;

  constructor(opts: HubOptions) {
    this.#opts = { pollMs: 1000, pageSize: 1000, ...opts };
  }

  get subscriberCount(): number {
    return this.#listeners.size;
  }

  get dispatchedTotal(): number {
    return this.#dispatched;
  }

  get bufferedTotal(): number {
    let n = 0;
    for (const l of this.#listeners) n += l.buffered?.() ?? 0;
    return n;
  }

  /** Streams closed because their client could not keep up, or read nothing. */
  laggingClosed = 0;

  readonly #streamsByToken = new Map<string, number>();

  /**
   * Counts a stream against its token's cap in this process: a release
   * function (call it once the stream ends; calling twice is harmless), or
   * null when the token already holds `max` streams here.
   */
  acquireStream(tokenId: string, max: number): (() => void) | null {
    const held = this.#streamsByToken.get(tokenId) ?? 0;
    if (held >= max) return null;
    this.#streamsByToken.set(tokenId, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.#streamsByToken.get(tokenId) ?? 1) - 1;
      if (n <= 0) this.#streamsByToken.delete(tokenId);
      else this.#streamsByToken.set(tokenId, n);
    };
  }

  start(): void {
    this.#connect();
    this.#timer = setInterval(() => this.poke(), this.#opts.pollMs);
    this.#timer.unref();
    this.#heartbeat = setInterval(() => this.#checkHeartbeat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
    this.poke();
  }

  #checkHeartbeat(): void {
    const client = this.#client;
    if (!client) return; // between connections: #connect is at it
    const now = Date.now();
    const stalled = this.#heardAt === 0 ? now - this.#connectingSince : this.#unheardSince === null ? 0 : now - this.#unheardSince;
    if (stalled > HEARTBEAT_LOST_MS) {
      this.#opts.log.warn({ silentMs: stalled }, 'event hub: LISTEN connection delivers nothing, reconnecting');
      this.#drop(client);
      return;
    }
    if (this.#sending) return;
    this.#sending = true;
    const sentAt = Date.now();
    sql`select pg_notify(${HEARTBEAT_CHANNEL}, ${this.#heartbeatId})`
      .execute(this.#opts.db)
      .then(() => {
        if (this.#client === client && this.#unheardSince === null) this.#unheardSince = sentAt;
      })
      .catch(() => {})
      .finally(() => {
        this.#sending = false;
      });
  }

  /** Gives up on a connection that is no use: the socket goes at once, and #connect starts again. */
  #drop(client: pg.Client): void {
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    client.emit('error', new Error('LISTEN connection delivers nothing'));
  }

  /** The connection delivered a notification: it works. */
  #heard(client: pg.Client): void {
    if (this.#client !== client) return;
    const first = this.#heardAt === 0;
    this.#heardAt = Date.now();
    this.#unheardSince = null;
    if (first) this.#opts.tokens?.setTrusted(true);
  }

  add(listener: HubListener): () => void {
    if (this.#stopped) {
      // Shutting down: a stream that attaches now ends at once (and reconnects elsewhere).
      queueMicrotask(() => listener.onClose?.(this.#stopReason ?? new Error('the server is shutting down')));
      return () => {};
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reads the log now (coalesced: one read at a time, one more queued at most). */
  poke(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#reading) {
      this.#again = true;
      return this.#reading;
    }
    this.#reading = (async () => {
      do {
        this.#again = false;
        await this.#read();
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#reading = null;
    });
    return this.#reading;
  }

  async #read(): Promise<void> {
    const { db, pageSize, log } = this.#opts;
    try {
      if (this.head === null) {
        this.head = await logHead(db);
        for (const l of this.#listeners) l.onAdvance?.();
        return;
      }
      for (;;) {
        const rows = await db
          .selectFrom('events')
          .select(eventColumns)
          .where('position', '>', this.head)
          .orderBy('position')
          .limit(pageSize)
          .execute();
        if (rows.length === 0) break;
        const events = rows.map(loggedEvent);
        this.head = events[events.length - 1]!.position;
        this.#dispatched += events.length;
        for (const l of this.#listeners) l.onEvents(events);
        if (rows.length < pageSize) break;
      }
      if (this.#failures > 0) log.info('event hub: reading the log again');
      this.#failures = 0;
    } catch (err) {
      if (this.#failures++ === 0) log.warn({ err: brief(err) }, 'event hub: cannot read the log, retrying');
    }
  }

  #connect(): void {
    if (this.#stopped) return;
    const { connectionString, log } = this.#opts;
    const client = new pg.Client({
      connectionString,
      application_name: 'relaydesk-event-hub',
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 10_000,
    });
    this.#connectingSince = Date.now();
    const retry = () => {
      // Only the current connection reconnects ('error' and 'end' both come).
      if (this.#client !== client) return;
      this.#client = null;
      this.#heardAt = 0;
      this.#unheardSince = null;
      // Changes may go unheard until LISTEN is back: stop answering tokens from memory.
      this.#opts.tokens?.setTrusted(false);
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (this.#stopped) return;
      this.#reconnectTimer = setTimeout(() => {
        this.#reconnectTimer = null;
        this.#connect();
      }, 500);
      this.#reconnectTimer.unref();
    };
    client.on('error', (err) => {
      if (this.#client === client) log.warn({ err: brief(err) }, 'event hub: LISTEN connection lost, reconnecting');
      retry();
    });
    client.on('end', retry);
    client.on('notification', (msg) => {
      // Any notification proves the connection delivers: a heartbeat, this hub's or another's, is just one.
      this.#heard(client);
      if (msg.channel === EVENTS_CHANNEL) {
        void this.poke();
      } else if (msg.channel === LIVE_CHANNEL) {
        const e = parseLive(msg.payload);
        if (e) for (const l of this.#listeners) l.onLive?.(e);
      } else if (msg.channel === AUTH_CHANNEL && msg.payload) {
        this.#opts.tokens?.forgetUser(msg.payload);
        for (const l of this.#listeners) l.onAuthChange?.(msg.payload);
      }
    });
    this.#client = client;
    client
      .connect()
      .then(() => client.query(`listen ${EVENTS_CHANNEL}; listen ${AUTH_CHANNEL}; listen ${LIVE_CHANNEL}; listen ${HEARTBEAT_CHANNEL}`))
      .then(() => {
        if (this.#client !== client) return;
        // Trusted for tokens once a notification comes through: send one now.
        this.#checkHeartbeat();
        // Whatever was committed while not listening.
        void this.poke();
      })
      .catch(() => retry());
  }

  #stopReason: Error | null = null;

  async stop(reason: Error): Promise<void> {
    this.#stopped = true;
    this.#stopReason = reason;
    this.#opts.tokens?.setTrusted(false);
    if (this.#timer) clearInterval(this.#timer);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    for (const l of [...this.#listeners]) l.onClose?.(reason);
    this.#listeners.clear();
    await this.#reading;
    const c = this.#client;
    this.#client = null;
    c?.removeAllListeners('end');
    await c?.end().catch(() => {});
  }
}
