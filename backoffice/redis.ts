/**
 * The back office's Redis client: fail fast rather than queue. With no offline queue and
 * one try per command, a write made while Redis is down fails at once (and answers 503)
 * instead of waiting for a reconnection while it holds row locks.
 */
import { Redis } from 'ioredis';

export interface RedisOptions {
  url: string;
  commandTimeoutMs: number;
  onError?: (e: Error) => void;
}

export function createRedis(o: RedisOptions): Redis {
  const redis = new Redis(o.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: o.commandTimeoutMs,
    connectTimeout: Math.max(o.commandTimeoutMs, 1000),
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on('error', o.onError ?? (() => {}));
  return redis;
}

/** Connects now; a Redis that is down is not fatal (writes then answer 503 until it is back). */
export async function connectRedis(redis: Redis): Promise<boolean> {
  try {
    await redis.connect();
    return true;
  } catch {
    return false;
  }
}

/** Deletes every key under `prefix` (SCAN, not KEYS: the server keeps answering); returns how many. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}
