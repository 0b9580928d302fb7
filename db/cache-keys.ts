/**
 * The Redis cache contract between the back office (which invalidates) and the switch
 * (which reads through): key names, the invalidation channel and its messages.
 *
 *   {prefix}card:{panKey}      card record (JSON), panKey = HMAC of the PAN, never the PAN
 *   {prefix}profile:{id}       card profile: flags and limits
 *   {prefix}terminal:{id}      terminal: service point, status
 *   {prefix}sp:{code}          service point by DE42 code: id, status, virtual card
 *   {prefix}gen:{kind}:{key}   generation of a key, incremented by every invalidation
 *   {prefix}invalidate         pub/sub channel: {"kind": ..., "key": ...} per change
 *
 * The generation closes the read-through race: the switch reads a key's generation together
 * with the key, reads PostgreSQL on a miss, and writes the record back only if the generation
 * has not moved meanwhile (an invalidation in between would otherwise be undone by a stale
 * write-back, until the TTL).
 */
import { createHmac } from 'node:crypto';

export type CacheKind = 'card' | 'profile' | 'terminal' | 'sp';

export interface Invalidation {
  kind: CacheKind;
  /** panKey for card, id for profile and terminal, code for sp. */
  key: string;
}

/** The PAN's stand-in in cache keys: HMAC-SHA256 under HASH_SECRET, hex. */
export function panKey(pan: string, secret: string): string {
  return createHmac('sha256', secret).update(`pan:${pan}`).digest('hex');
}

export function cacheKey(prefix: string, kind: CacheKind, key: string): string {
  return `${prefix}${kind}:${key}`;
}

export function generationKey(prefix: string, kind: CacheKind, key: string): string {
  return `${prefix}gen:${kind}:${key}`;
}

export function invalidationChannel(prefix: string): string {
  return `${prefix}invalidate`;
}

/** The least a Redis client must offer to invalidate (ioredis fits). */
export interface InvalidationTarget {
  del(...keys: string[]): Promise<number>;
  incr(key: string): Promise<number>;
  publish(channel: string, message: string): Promise<number>;
}

/**
 * Deletes the keys and publishes each change, before the caller answers: a switch process
 * then re-reads from PostgreSQL, and any near-cache drops its copy.
 */
export async function invalidate(redis: InvalidationTarget, prefix: string, changes: readonly Invalidation[]): Promise<void> {
  if (changes.length === 0) return;
  for (const c of changes) await redis.incr(generationKey(prefix, c.kind, c.key));
  await redis.del(...changes.map((c) => cacheKey(prefix, c.kind, c.key)));
  const channel = invalidationChannel(prefix);
  for (const c of changes) await redis.publish(channel, JSON.stringify(c));
}
