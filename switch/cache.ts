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
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { cacheKey, invalidationChannel, panKey, type CacheKind, type Invalidation } from '../db/cache-keys.js';
import {
  loadCardByPan,
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
  /** Commands connection; null runs without Redis (PostgreSQL only). */
  redis: Redis | null;
  /** A second connection for the invalidation subscription. */
  subscriber: Redis | null;
  prefix: string;
  secret: string;
  /** Redis TTL of records, seconds. */
  ttlSeconds: number;
  /** Near-cache TTL, ms (a safety net: invalidations are the rule); 0 disables the near cache. */
  nearTtlMs: number;
  nearMax: number;
  metrics?: CacheMetrics;
}

const FETCH_SCRIPT = `
local c = redis.call('GET', KEYS[1])
local t = redis.call('GET', KEYS[2])
local s = redis.call('GET', KEYS[3])
local p = false
if c and c ~= 'null' then
  local ok, card = pcall(cjson.decode, c)
  if ok and type(card) == 'table' and card.profileId then
    p = redis.call('GET', ARGV[1] .. 'profile:' .. tostring(card.profileId))
  end
end
return {c or false, t or false, s or false, p or false}
`;

type FetchCommand = (cardKey: string, terminalKey: string, spKey: string, prefix: string) => Promise<(string | null)[]>;

interface NearEntry {
  value: unknown;
  expires: number;
}

const MISSING = Symbol('missing');
type Maybe<T> = T | null | typeof MISSING;

export class DirectoryCache {
  private readonly near = new Map<string, NearEntry>();
  private nearUp = false;
  private redisHealthy: boolean;
  private fetch: FetchCommand | null = null;

  constructor(private readonly o: CacheOptions) {
    this.redisHealthy = o.redis !== null;
    if (o.redis) {
      o.redis.defineCommand('cynodFetch', { numberOfKeys: 3, lua: FETCH_SCRIPT });
      this.fetch = (o.redis as unknown as { cynodFetch: FetchCommand }).cynodFetch.bind(o.redis);
      o.redis.on('ready', () => this.setRedis(true));
      o.redis.on('close', () => this.setRedis(false));
    }
    o.metrics?.redisUp(this.redisHealthy);
  }

  /** Subscribes to invalidations; the near cache is used only while subscribed. */
  async start(): Promise<void> {
    const sub = this.o.subscriber;
    if (!sub || this.o.nearTtlMs <= 0) return;
    const channel = invalidationChannel(this.o.prefix);
    sub.on('message', (ch: string, message: string) => {
      if (ch === channel) this.onInvalidation(message);
    });
    // Whenever the subscription is (re)established, start from an empty near cache: messages
    // sent while it was down are lost.
    sub.on('ready', () => {
      void sub.subscribe(channel).then(
        () => {
          this.near.clear();
          this.nearUp = true;
        },
        () => (this.nearUp = false),
      );
    });
    sub.on('close', () => {
      this.nearUp = false;
      this.near.clear();
    });
    if (sub.status === 'ready') {
      await sub.subscribe(channel);
      this.near.clear();
      this.nearUp = true;
    }
  }

  get redisUp(): boolean {
    return this.redisHealthy;
  }

  private setRedis(up: boolean): void {
    if (this.redisHealthy !== up) {
      this.redisHealthy = up;
      this.o.metrics?.redisUp(up);
    }
  }

  private onInvalidation(message: string): void {
    try {
      const inv = JSON.parse(message) as Invalidation;
      this.near.delete(cacheKey(this.o.prefix, inv.kind, String(inv.key)));
    } catch {
      this.near.clear(); // an unreadable message: drop everything rather than keep something stale
    }
  }

  private key(kind: CacheKind, key: string): string {
    return cacheKey(this.o.prefix, kind, key);
  }

  private nearGet<T>(key: string): Maybe<T> {
    if (!this.nearUp) return MISSING;
    const e = this.near.get(key);
    if (e === undefined) return MISSING;
    if (e.expires < Date.now()) {
      this.near.delete(key);
      return MISSING;
    }
    return e.value as T | null;
  }

  private nearSet(key: string, value: unknown): void {
    if (!this.nearUp) return;
    if (this.near.size >= this.o.nearMax) {
      const oldest = this.near.keys().next().value;
      if (oldest !== undefined) this.near.delete(oldest);
    }
    this.near.set(key, { value, expires: Date.now() + this.o.nearTtlMs });
  }

  /** Everything an authorization needs, in one Redis round trip at most. `pan` absent for code transactions. */
  async lookup(terminalId: string, spCode: string, pan: string | undefined): Promise<AuthView> {
    const tKey = this.key('terminal', terminalId);
    const sKey = this.key('sp', spCode);
    const cKey = pan === undefined ? undefined : this.key('card', panKey(pan, this.o.secret));
    let terminal = this.nearGet<TerminalRecord>(tKey);
    let sp = this.nearGet<ServicePointRecord>(sKey);
    let card: Maybe<CardRecord> = cKey === undefined ? null : this.nearGet<CardRecord>(cKey);
    const profileKey = (c: CardRecord): string => this.key('profile', String(c.profileId));
    let profile: Maybe<ProfileRecord> = card === null ? null : card === MISSING ? MISSING : this.nearGet<ProfileRecord>(profileKey(card));
    const nearHit = terminal !== MISSING && sp !== MISSING && card !== MISSING && profile !== MISSING;
    this.o.metrics?.lookup('near', nearHit);
    if (!nearHit && this.fetch && this.redisHealthy) {
      try {
        const [c, t, s, p] = await this.fetch(cKey ?? this.key('card', '-'), tKey, sKey, this.o.prefix);
        if (terminal === MISSING && t !== null) terminal = this.remember(tKey, t);
        if (sp === MISSING && s !== null) sp = this.remember(sKey, s);
        if (card === MISSING && c !== null && cKey) {
          card = this.remember<CardRecord>(cKey, c);
          if (card === null) profile = null;
        }
        if (profile === MISSING && p !== null && card !== null && card !== MISSING) profile = this.remember(profileKey(card), p);
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
      card !== MISSING ? card : cKey !== undefined && pan !== undefined ? this.readThrough(cKey, () => loadCardByPan(db, pan)) : null,
    ]);
    let p2: ProfileRecord | null = null;
    if (c2 !== null) {
      p2 = profile !== MISSING && profile !== null ? profile : await this.readThrough(profileKey(c2), () => loadProfile(db, c2.profileId));
    }
    return { terminal: t2, servicePoint: s2, card: c2, profile: p2 };
  }

  private remember<T>(key: string, json: string): T | null {
    const v = JSON.parse(json) as T | null;
    this.nearSet(key, v);
    return v;
  }

  private async readThrough<T>(key: string, load: () => Promise<T | null>): Promise<T | null> {
    const v = await load();
    this.o.metrics?.lookup('db', v !== null);
    this.nearSet(key, v);
    if (this.o.redis && this.redisHealthy) {
      // Unknown keys are remembered briefly too, so a stream of unknown cards does not hit the database each time.
      const ttl = v === null ? Math.min(30, this.o.ttlSeconds) : this.o.ttlSeconds;
      this.o.redis.set(key, JSON.stringify(v), 'EX', ttl).catch(() => this.o.metrics?.redisError());
    }
    return v;
  }

  /** Drops a terminal's cached record (after this process changed it, e.g. a first sign-on). */
  async forgetTerminal(id: string): Promise<void> {
    const key = this.key('terminal', id);
    this.near.delete(key);
    if (this.o.redis && this.redisHealthy) await this.o.redis.del(key).catch(() => this.o.metrics?.redisError());
  }
}
