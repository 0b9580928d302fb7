/**
 * Cache invalidation for back-office writes (the contract is db/cache-keys.ts).
 *
 * A write that changes something the switch caches invalidates twice around its commit:
 *  1. before COMMIT, inside the transaction: DEL + PUBLISH. If Redis cannot be reached the
 *     transaction rolls back and the API answers 503 with committed=false: nothing changed,
 *     so no stale record can be left behind.
 *  2. after COMMIT: DEL + PUBLISH again, so a switch that re-read the old row between the
 *     first invalidation and the commit drops it. If Redis fails just then (it was up a
 *     millisecond earlier), the change stays committed and the API answers 503 with
 *     committed=true, saying the cache could not be invalidated: the caller must not take
 *     it for a success, and repeating the operation invalidates again.
 * Both steps are bounded by a timeout, so a hung Redis never holds row locks for long.
 */
import { cacheKey, invalidate, panKey, type CacheKind, type Invalidation, type InvalidationTarget } from '../db/cache-keys.js';

export class CacheUnavailableError extends Error {
  constructor(
    /** True when the database change was committed before the failure. */
    readonly committed: boolean,
    readonly kinds: CacheKind[],
    override readonly cause: unknown,
  ) {
    super(
      committed
        ? `the change was committed but the cache could not be invalidated (${kinds.join(', ')}): the switch may use the old record until Redis is back and the operation is repeated`
        : `the cache could not be invalidated (Redis unreachable), so nothing was changed; retry when Redis is back`,
    );
    this.name = 'CacheUnavailableError';
  }
}

export class CacheInvalidator {
  constructor(
    private readonly target: InvalidationTarget,
    readonly prefix: string,
    private readonly secret: string,
    private readonly timeoutMs: number,
  ) {}

  /** A card by its PAN (hashed here, as the switch does). */
  card(pan: string): Invalidation {
    return this.cardByKey(panKey(pan, this.secret));
  }

  /** A card by its lookup key (store.Card's panKey: the same HMAC, read from the row). */
  cardByKey(panKeyHex: string): Invalidation {
    return { kind: 'card', key: panKeyHex };
  }

  profile(id: number): Invalidation {
    return { kind: 'profile', key: String(id) };
  }

  terminal(id: string): Invalidation {
    return { kind: 'terminal', key: id };
  }

  servicePoint(code: string): Invalidation {
    return { kind: 'sp', key: code };
  }

  /** The Redis key of a change (for tests and logs). */
  keyOf(change: Invalidation): string {
    return cacheKey(this.prefix, change.kind, change.key);
  }

  /** Step 1, inside the transaction: a failure rolls the change back. */
  beforeCommit(changes: readonly Invalidation[]): Promise<void> {
    return this.run(changes, false);
  }

  /** Step 2, after the commit: a failure is reported as committed. */
  afterCommit(changes: readonly Invalidation[]): Promise<void> {
    return this.run(changes, true);
  }

  private async run(changes: readonly Invalidation[], committed: boolean): Promise<void> {
    if (changes.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        invalidate(this.target, this.prefix, changes),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
    } catch (e) {
      throw new CacheUnavailableError(committed, [...new Set(changes.map((c) => c.kind))], e);
    } finally {
      clearTimeout(timer);
    }
  }
}
