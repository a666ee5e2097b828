// A process's memory of which bearer token belongs to which caller, so a
// request is authenticated without a database round trip.
//
// It is only trusted while the process hears every change: a token revoked,
// a user deactivated, demoted or given a new password is announced with
// NOTIFY (announceAuthChange) at commit, and the process's listener forgets
// that user's entries. While the listener is down, nothing is cached or
// served from the cache (a change may go unheard), and on its return the
// cache starts empty. Entries also expire after `ttlMs`, a backstop for a
// change made behind the API's back (hand-written SQL), and with the token's
// own expiry.
//
// A lookup that read the database before an invalidation and finishes after
// it must not put back what was just forgotten: entries are stored only if no
// invalidation happened since the lookup began (`generation`).
import type { SessionUser } from '../caller.ts';

interface Entry {
  user: SessionUser;
  /** The token's own expiry (ms since the epoch), or null for an API token. */
  tokenExpiresAt: number | null;
  /** When this entry stops being trusted (ms since the epoch). */
  staleAt: number;
  /** Last time `last_used_at` was recorded, as far as this process knows. */
  lastUsedAt: number | null;
}

/** A cached caller; `lastUsedAt` is the caller's to update when it records a use. */
export interface CachedCaller {
  readonly user: SessionUser;
  lastUsedAt: number | null;
}

export class TokenCache {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  /** Keyed by the token's SHA-256 (hex): the plaintext is never kept. */
  readonly #entries = new Map<string, Entry>();
  #trusted = false;
  #generation = 0;
  /** Tokens answered from memory. */
  hits = 0;
  /** Tokens that needed a database lookup. */
  misses = 0;

  /** `ttlMs` 0 switches caching off. */
  constructor(ttlMs: number, maxEntries = 50_000) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  /** Taken before a database lookup and handed to `set`. */
  get generation(): number {
    return this.#generation;
  }

  get(tokenHash: string, now = Date.now()): CachedCaller | undefined {
    const e = this.#trusted && this.#ttlMs > 0 ? this.#entries.get(tokenHash) : undefined;
    if (!e) {
      this.misses++;
      return undefined;
    }
    if (now >= e.staleAt || (e.tokenExpiresAt !== null && now >= e.tokenExpiresAt)) {
      this.#entries.delete(tokenHash);
      this.misses++;
      return undefined;
    }
    this.hits++;
    return e;
  }

  set(tokenHash: string, generation: number, v: { user: SessionUser; tokenExpiresAt: Date | null; lastUsedAt: number | null }, now = Date.now()): void {
    if (!this.#trusted || this.#ttlMs === 0 || generation !== this.#generation) return;
    if (this.#entries.size >= this.#maxEntries) {
      // Oldest first (a Map keeps insertion order): a bound, not an LRU; a
      // busy process refills what it needs in one lookup each.
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(tokenHash, {
      user: v.user,
      tokenExpiresAt: v.tokenExpiresAt?.getTime() ?? null,
      staleAt: now + this.#ttlMs,
      lastUsedAt: v.lastUsedAt,
    });
  }

  /** A user's tokens or permissions changed. */
  forgetUser(userId: string): void {
    this.#generation++;
    for (const [k, e] of this.#entries) if (e.user.id === userId) this.#entries.delete(k);
  }

  /** Forgets everything (a change this process made itself, known before its NOTIFY comes back). */
  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }

  /** Whether changes are being heard: the cache is used only while they are. */
  setTrusted(trusted: boolean): void {
    if (trusted === this.#trusted) return;
    this.#trusted = trusted;
    this.clear();
  }
}
