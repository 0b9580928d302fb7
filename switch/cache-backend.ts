/**
 * Where the switch's shared cache lives: Redis (the rule), or an in-process map with the same
 * interface when no Redis is available (`REDIS_URL=memory://`: one process only — the demo
 * runs its back office in the same process, so its invalidations still reach the switch).
 * The cache contract (keys, generations, invalidation channel) is db/cache-keys.ts.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { InvalidationTarget } from '../db/cache-keys.js';

export interface CacheBackend extends InvalidationTarget {
  readonly kind: 'redis' | 'memory';
  readonly healthy: boolean;
  /**
   * Card, terminal and service point records in one round trip (MGET), then the card's profile
   * record when `profileKey`, given the card's record, names one to read: the caller's near cache
   * lacks it, which is rare (a network has a few profiles, each used by many cards).
   */
  fetch(cardKey: string, terminalKey: string, spKey: string, profileKey: (card: string) => string | undefined): Promise<FetchedRecords>;
  get(key: string): Promise<string | null>;
  /** SET key value EX ttl, only if the key's generation is still `gen` (db/cache-keys.ts). */
  storeIfGeneration(key: string, genKey: string, value: string, gen: string, ttlSeconds: number): Promise<void>;
  ping(): Promise<string>;
  /** Called with true/false when the backend comes up or goes down. */
  onHealth(cb: (up: boolean) => void): void;
  /** Invalidation messages; `ready` after each (re)subscription, `lost` when it dropped. */
  subscribe(channel: string, on: { message(m: string): void; ready(): void; lost(): void }): Promise<void>;
  close(): void;
}

/** Card, terminal, service point and profile records as stored (JSON), null where absent. */
export type FetchedRecords = [card: string | null, terminal: string | null, servicePoint: string | null, profile: string | null];

const STORE_SCRIPT = `
if (redis.call('GET', KEYS[2]) or '0') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
  return 1
end
return 0
`;

type StoreCommand = (key: string, genKey: string, value: string, gen: string, ttl: number) => Promise<number>;

export class RedisBackend implements CacheBackend {
  readonly kind = 'redis' as const;
  private up: boolean;
  private readonly storeCmd: StoreCommand;

  /** `subscriber`: a second connection for the invalidation subscription (a subscribed connection runs nothing else). */
  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis | null,
  ) {
    this.up = redis.status === 'ready';
    redis.defineCommand('cynodStore', { numberOfKeys: 2, lua: STORE_SCRIPT });
    const commands = redis as unknown as { cynodStore: StoreCommand };
    this.storeCmd = commands.cynodStore.bind(redis);
    redis.on('ready', () => (this.up = true));
    redis.on('close', () => (this.up = false));
  }

  get healthy(): boolean {
    return this.up;
  }

  onHealth(cb: (up: boolean) => void): void {
    this.redis.on('ready', () => cb(true));
    this.redis.on('close', () => cb(false));
  }

  // An MGET, not a script that also read the profile named inside the card's JSON: decoding that
  // JSON in Lua made each lookup cost Redis 19-29 µs of CPU, an MGET of three keys costs it a few.
  async fetch(cardKey: string, terminalKey: string, spKey: string, profileKey: (card: string) => string | undefined): Promise<FetchedRecords> {
    const [c, t, s] = await this.redis.mget(cardKey, terminalKey, spKey);
    const pKey = c === null || c === undefined ? undefined : profileKey(c);
    const p = pKey === undefined ? null : await this.redis.get(pKey);
    return [c ?? null, t ?? null, s ?? null, p];
  }

  get(key: string): Promise<string | null> {
    return this.redis.get(key);
  }

  async storeIfGeneration(key: string, genKey: string, value: string, gen: string, ttlSeconds: number): Promise<void> {
    await this.storeCmd(key, genKey, value, gen, ttlSeconds);
  }

  del(...keys: string[]): Promise<number> {
    return this.redis.del(...keys);
  }

  incr(key: string): Promise<number> {
    return this.redis.incr(key);
  }

  publish(channel: string, message: string): Promise<number> {
    return this.redis.publish(channel, message);
  }

  ping(): Promise<string> {
    return this.redis.ping();
  }

  async subscribe(channel: string, on: { message(m: string): void; ready(): void; lost(): void }): Promise<void> {
    const sub = this.subscriber;
    if (!sub) return;
    sub.on('message', (ch: string, m: string) => {
      if (ch === channel) on.message(m);
    });
    // Whenever the subscription is (re)established the caller starts from scratch: messages sent
    // while it was down are lost.
    sub.on('ready', () => void sub.subscribe(channel).then(() => on.ready(), () => on.lost()));
    sub.on('close', () => on.lost());
    if (sub.status === 'ready') {
      await sub.subscribe(channel);
      on.ready();
    }
  }

  close(): void {
    this.redis.disconnect();
    this.subscriber?.disconnect();
  }
}

/** An in-process stand-in for Redis: keys with TTLs, generations, pub/sub within the process. */
export class MemoryBackend implements CacheBackend {
  readonly kind = 'memory' as const;
  readonly healthy = true;
  private readonly data = new Map<string, { value: string; expires: number }>();
  private readonly bus = new EventEmitter();

  constructor(private readonly maxKeys = 1_000_000) {
    this.bus.setMaxListeners(0);
  }

  private read(key: string): string | null {
    const e = this.data.get(key);
    if (!e) return null;
    if (e.expires < Date.now()) {
      this.data.delete(key);
      return null;
    }
    return e.value;
  }

  private write(key: string, value: string, ttlSeconds: number): void {
    if (this.data.size >= this.maxKeys) this.data.delete(this.data.keys().next().value as string);
    this.data.set(key, { value, expires: Date.now() + ttlSeconds * 1000 });
  }

  onHealth(): void {}

  async fetch(cardKey: string, terminalKey: string, spKey: string, profileKey: (card: string) => string | undefined): Promise<FetchedRecords> {
    const c = this.read(cardKey);
    const pKey = c === null ? undefined : profileKey(c);
    return [c, this.read(terminalKey), this.read(spKey), pKey === undefined ? null : this.read(pKey)];
  }

  async get(key: string): Promise<string | null> {
    return this.read(key);
  }

  async storeIfGeneration(key: string, genKey: string, value: string, gen: string, ttlSeconds: number): Promise<void> {
    if ((this.read(genKey) ?? '0') === gen) this.write(key, value, ttlSeconds);
  }

  async del(...keys: string[]): Promise<number> {
    let n = 0;
    for (const k of keys) if (this.data.delete(k)) n++;
    return n;
  }

  async incr(key: string): Promise<number> {
    const n = Number(this.read(key) ?? '0') + 1;
    this.write(key, String(n), 86_400 * 365);
    return n;
  }

  async publish(channel: string, message: string): Promise<number> {
    const n = this.bus.listenerCount(channel);
    this.bus.emit(channel, message);
    return n;
  }

  async ping(): Promise<string> {
    return 'PONG';
  }

  async subscribe(channel: string, on: { message(m: string): void; ready(): void; lost(): void }): Promise<void> {
    this.bus.on(channel, (m: string) => on.message(m));
    on.ready();
  }

  close(): void {
    this.bus.removeAllListeners();
    this.data.clear();
  }
}
