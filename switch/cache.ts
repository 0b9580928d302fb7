/**
 * The switch's view of terminals, service points, cards and profiles: an in-process near
 * cache, then Redis (one round trip per authorization: a script returns the card, its
 * profile, the terminal and the service point), then PostgreSQL on a miss (read through,
 * written back to Redis with a TTL).
 *
 * The back office deletes changed keys and publishes each change (db/cache-keys.ts); the
 * near cache drops what is published, and is only used while that subscription is up. With
 * Redis down, lookups go to PostgreSQL and the metrics say so. Approvals never rest on
 * this cache alone: the ledger re-checks everything it decides with under row locks.
 */
import type pg from 'pg';
import { cacheKey, generationKey, invalidationChannel, panKey, type CacheKind, type Invalidation } from '../db/cache-keys.js';
import type { CacheBackend } from './cache-backend.js';
import {
  loadCardByPanKey,
  loadProfile,
  loadServicePoint,
  loadTerminal,
  type CardRecord,
  type ProfileRecord,
  type ServicePointRecord,
  type TerminalRecord,
} from '../db/directory.js';

export interface AuthView {
  terminal: TerminalRecord | null;
  servicePoint: ServicePointRecord | null;
  card: CardRecord | null;
  profile: ProfileRecord | null;
}

export interface CacheMetrics {
  lookup(layer: 'near' | 'redis' | 'db', hit: boolean): void;
  redisError(): void;
  redisUp(up: boolean): void;
}

export interface CacheOptions {
  pool: pg.Pool;
  /** Redis, or the in-process stand-in; null runs with no shared cache (PostgreSQL only). */
  backend: CacheBackend | null;
  prefix: string;
  secret: string;
  /** Redis TTL of records, seconds. */
  ttlSeconds: number;
  /**
   * Near-cache TTL, ms (a safety net: invalidations are the rule); 0 disables the near cache.
   * An entry lives between half of it and all of it, drawn at random: entries filled together (a
   * warm-up, a restart) would otherwise all expire in the same instant, and every message of
   * that moment would wait for Redis.
   */
  nearTtlMs: number;
  nearMax: number;
  metrics?: CacheMetrics;
  /** The clock (tests). */
  now?: () => number;
}

/** What a near-cache write must find unchanged: invalidations of the key, and full clears. */
interface NearStamp {
  epoch: number;
  gen: number;
}

interface NearEntry {
  value: unknown;
  expires: number;
}

const MISSING = Symbol('missing');
type Maybe<T> = T | null | typeof MISSING;

export class DirectoryCache {
  private readonly near = new Map<string, NearEntry>();
  /** Read-throughs in flight, by key: concurrent misses of one key share one database read. */
  private readonly loading = new Map<string, Promise<unknown>>();
  /** Invalidations seen per key, and full clears: a load that started before one must not fill the near cache. */
  private readonly nearGens = new Map<string, number>();
  private nearEpoch = 0;
  /** Every invalidation seen, any key. */
  private nearInvalidations = 0;
  private nearUp = false;
  private readonly backend: CacheBackend | null;
  private readonly now: () => number;

  constructor(private readonly o: CacheOptions) {
    this.backend = o.backend;
    this.now = o.now ?? Date.now;
    o.backend?.onHealth((up) => o.metrics?.redisUp(up));
    o.metrics?.redisUp(o.backend?.healthy ?? false);
  }

  /** Subscribes to invalidations; the near cache is used only while subscribed. */
  async start(): Promise<void> {
    if (!this.backend || this.o.nearTtlMs <= 0) return;
    await this.backend.subscribe(invalidationChannel(this.o.prefix), {
      message: (m) => this.onInvalidation(m),
      ready: () => {
        this.clearNear();
        this.nearUp = true;
      },
      lost: () => {
        this.nearUp = false;
        this.clearNear();
      },
    });
  }

  get redisUp(): boolean {
    return this.backend?.healthy ?? false;
  }

  private get shared(): CacheBackend | null {
    return this.backend && this.backend.healthy ? this.backend : null;
  }

  private onInvalidation(message: string): void {
    try {
      const inv = JSON.parse(message) as Invalidation;
      const key = cacheKey(this.o.prefix, inv.kind, String(inv.key));
      this.near.delete(key);
      if (this.nearGens.size > 100_000) this.clearNear(); // bounded: a clear also stops stale fills
      this.nearGens.set(key, (this.nearGens.get(key) ?? 0) + 1);
      this.nearInvalidations++;
    } catch {
      this.clearNear(); // an unreadable message: drop everything rather than keep something stale
    }
  }

  private clearNear(): void {
    this.near.clear();
    this.nearGens.clear();
    this.nearEpoch++;
  }

  private stamp(key: string): NearStamp {
    return { epoch: this.nearEpoch, gen: this.nearGens.get(key) ?? 0 };
  }

  private key(kind: CacheKind, key: string): string {
    return cacheKey(this.o.prefix, kind, key);
  }

  private nearGet<T>(key: string): Maybe<T> {
    if (!this.nearUp) return MISSING;
    const e = this.near.get(key);
    if (e === undefined) return MISSING;
    if (e.expires < this.now()) {
      this.near.delete(key);
      return MISSING;
    }
    return e.value as T | null;
  }

  private nearSet(key: string, value: unknown, since: NearStamp): void {
    if (!this.nearUp || since.epoch !== this.nearEpoch || since.gen !== (this.nearGens.get(key) ?? 0)) return;
    if (this.near.size >= this.o.nearMax) {
      const oldest = this.near.keys().next().value;
      if (oldest !== undefined) this.near.delete(oldest);
    }
    this.near.set(key, { value, expires: this.now() + this.o.nearTtlMs * (0.5 + 0.5 * Math.random()) });
  }

  /** HMACs of recently seen PANs (an HMAC per message was a visible share of the switch's CPU). */
  private readonly panKeys = new Map<string, { redis: string; hex: string }>();

  /** The PAN's lookup key (hex, as in cards.pan_key) and its Redis key. */
  private cardKey(pan: string): { redis: string; hex: string } {
    let k = this.panKeys.get(pan);
    if (k === undefined) {
      if (this.panKeys.size >= 100_000) this.panKeys.clear();
      const hex = panKey(pan, this.o.secret);
      k = { redis: this.key('card', hex), hex };
      this.panKeys.set(pan, k);
    }
    return k;
  }

  /** Everything an authorization needs, in one Redis round trip at most. `pan` absent for code transactions. */
  async lookup(terminalId: string, spCode: string, pan: string | undefined): Promise<AuthView> {
    const tKey = this.key('terminal', terminalId);
    const sKey = this.key('sp', spCode);
    const cardRef = pan === undefined ? undefined : this.cardKey(pan);
    const cKey = cardRef?.redis;
    let terminal = this.nearGet<TerminalRecord>(tKey);
    let sp = this.nearGet<ServicePointRecord>(sKey);
    let card: Maybe<CardRecord> = cKey === undefined ? null : this.nearGet<CardRecord>(cKey);
    const profileKey = (c: CardRecord): string => this.key('profile', String(c.profileId));
    let profile: Maybe<ProfileRecord> = card === null ? null : card === MISSING ? MISSING : this.nearGet<ProfileRecord>(profileKey(card));
    const nearHit = terminal !== MISSING && sp !== MISSING && card !== MISSING && profile !== MISSING;
    this.o.metrics?.lookup('near', nearHit);
    // Everything in the near cache (the usual case): answer without further promises.
    if (terminal !== MISSING && sp !== MISSING && card !== MISSING && profile !== MISSING && (card === null || profile !== null)) {
      return { terminal, servicePoint: sp, card, profile };
    }
    const shared = this.shared;
    if (!nearHit && shared) {
      try {
        const stamps = { t: this.stamp(tKey), s: this.stamp(sKey), c: cKey ? this.stamp(cKey) : undefined, seen: this.nearInvalidations };
        // The card's record, read from Redis, names its profile: read that too unless the near
        // cache has it (the usual case), which is then taken from there.
        let fetchedCard: CardRecord | null | undefined;
        const wantProfile = (json: string): string | undefined => {
          if (profile !== MISSING) return undefined;
          fetchedCard = JSON.parse(json) as CardRecord | null;
          if (fetchedCard === null || typeof fetchedCard.profileId !== 'number') return undefined;
          const pKey = profileKey(fetchedCard);
          const near = this.nearGet<ProfileRecord>(pKey);
          if (near === MISSING) return pKey;
          profile = near;
          return undefined;
        };
        const [c, t, s, p] = await shared.fetch(cKey ?? this.key('card', '-'), tKey, sKey, wantProfile);
        if (terminal === MISSING && t !== null) terminal = this.remember(tKey, t, stamps.t);
        if (sp === MISSING && s !== null) sp = this.remember(sKey, s, stamps.s);
        if (card === MISSING && c !== null && cKey && stamps.c) {
          card = fetchedCard !== undefined ? this.keep(cKey, fetchedCard, stamps.c) : this.remember<CardRecord>(cKey, c, stamps.c);
          if (card === null) profile = null;
        }
        if (profile === MISSING && p !== null && card !== null && card !== MISSING) {
          // The profile key was not known before the fetch: keep it only if nothing at all was invalidated meanwhile.
          const pKey = profileKey(card);
          const stamp = stamps.seen === this.nearInvalidations ? this.stamp(pKey) : { epoch: -1, gen: -1 };
          profile = this.remember(pKey, p, stamp);
        }
        this.o.metrics?.lookup('redis', t !== null && s !== null && (cKey === undefined || c !== null));
      } catch {
        this.o.metrics?.redisError();
      }
    }
    // Read through: whatever is still missing comes from PostgreSQL and is written back.
    const db = this.o.pool;
    const [t2, s2, c2] = await Promise.all([
      terminal === MISSING ? this.readThrough(tKey, () => loadTerminal(db, terminalId)) : terminal,
      sp === MISSING ? this.readThrough(sKey, () => loadServicePoint(db, spCode)) : sp,
      card !== MISSING ? card : cardRef !== undefined ? this.readThrough(cardRef.redis, () => loadCardByPanKey(db, cardRef.hex)) : null,
    ]);
    let p2: ProfileRecord | null = null;
    if (c2 !== null) {
      p2 = profile !== MISSING && profile !== null ? profile : await this.readThrough(profileKey(c2), () => loadProfile(db, c2.profileId));
    }
    return { terminal: t2, servicePoint: s2, card: c2, profile: p2 };
  }

  private remember<T>(key: string, json: string, since: NearStamp): T | null {
    return this.keep(key, JSON.parse(json) as T | null, since);
  }

  private keep<T>(key: string, v: T | null, since: NearStamp): T | null {
    this.nearSet(key, v, since);
    return v;
  }

  /**
   * Loads from PostgreSQL and writes back to Redis and the near cache, unless the key was
   * invalidated while loading (the generation moved): then the next lookup reads again.
   */
  private readThrough<T>(key: string, load: () => Promise<T | null>): Promise<T | null> {
    // A burst of messages for a key that is not cached (a cold start, an invalidation) would
    // otherwise send one query each and queue for the pool's connections ahead of the ledger.
    const inFlight = this.loading.get(key) as Promise<T | null> | undefined;
    if (inFlight !== undefined) return inFlight;
    const p = this.readThroughOnce(key, load).finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }

  private async readThroughOnce<T>(key: string, load: () => Promise<T | null>): Promise<T | null> {
    const since = this.stamp(key);
    const kind = key.slice(this.o.prefix.length, key.indexOf(':', this.o.prefix.length)) as CacheKind;
    const genKey = generationKey(this.o.prefix, kind, key.slice(this.o.prefix.length + kind.length + 1));
    let gen: string | null | undefined;
    const shared = this.shared;
    if (shared) {
      gen = await shared.get(genKey).catch(() => {
        this.o.metrics?.redisError();
        return undefined;
      });
    }
    const v = await load();
    this.o.metrics?.lookup('db', v !== null);
    this.nearSet(key, v, since);
    if (gen !== undefined && shared) {
      // Unknown keys are remembered briefly too, so a stream of unknown cards does not hit the database each time.
      const ttl = v === null ? Math.min(30, this.o.ttlSeconds) : this.o.ttlSeconds;
      shared.storeIfGeneration(key, genKey, JSON.stringify(v), gen ?? '0', ttl).catch(() => this.o.metrics?.redisError());
    }
    return v;
  }

  /** Drops a terminal's cached record (after this process changed it, e.g. a first sign-on). */
  async forgetTerminal(id: string): Promise<void> {
    const key = this.key('terminal', id);
    this.near.delete(key);
    this.nearGens.set(key, (this.nearGens.get(key) ?? 0) + 1);
    const shared = this.shared;
    if (shared) {
      await shared.incr(generationKey(this.o.prefix, 'terminal', id)).catch(() => this.o.metrics?.redisError());
      await shared.del(key).catch(() => this.o.metrics?.redisError());
    }
  }
}
