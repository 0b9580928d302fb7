/**
 * Group commit on top of the posting: concurrent callers' items ride in the same batch, and each
 * caller gets its own result once the batch has committed.
 */
import type { Ledger } from './posting.js';
import { LedgerUnavailableError, type LedgerItem, type LedgerResult } from './types.js';

export interface BatcherOptions {
  /** Most items per batch (default 500). */
  maxBatch?: number;
  /**
   * Lanes, each with one batch in flight (default 1). An item goes to the lane its caller
   * names (modulo the count): the switch names the terminal's service point, so one
   * terminal's messages stay in order and concurrent batches rarely wait for each other's
   * locks on a service point's receiving account.
   */
  concurrency?: number;
  /**
   * A second batch in flight on a lane when this many items wait behind the first (0: never).
   * Items that refer to an original (completions, reversals) wait for the lane to be empty.
   */
  overflowAt?: number;
  /**
   * How long, in ms, an item may wait for others when its lane is free (0: it leaves at once).
   * A batch's fixed cost (statements started, a commit flushed) is most of a small batch's cost,
   * so at a low rate a short wait pays back in CPU: the batch leaves when this time has passed
   * since its first item arrived, or as soon as `gatherItems` items wait. A lane whose items
   * arrive on average more than two windows apart does not wait (`WAIT_WITHIN`): the wait would
   * bring less than half an item and only add to the answer's time.
   */
  gatherMs?: number;
  /** A free lane's queue leaves without waiting once this many items wait (default 32). */
  gatherItems?: number;
  /** The clock, in ms (default performance.now; tests give their own). */
  now?: () => number;
  /** Called after each batch with its size and duration. */
  onBatch?: (size: number, ms: number, error?: unknown) => void;
}

interface Pending {
  item: LedgerItem;
  /** performance.now() when it was posted. */
  at: number;
  resolve: (r: LedgerResult) => void;
  reject: (e: unknown) => void;
}

interface Lane {
  queue: Pending[];
  inFlight: number;
  /** Queued items that refer to an original (completions, reversals). */
  originals: number;
  /** Set while a free lane waits for more items (gatherMs). */
  timer: NodeJS.Timeout | undefined;
  /** When the lane's last item arrived (gatherMs only). */
  lastAt: number;
  /** The mean time between its items' arrivals, ms (an exponential moving average; gatherMs only). */
  gap: number;
}

/**
 * The weight of each new interval in a lane's mean gap: about the last eight arrivals count, so
 * that the lane stops waiting within a few items of the traffic thinning out, and starts again
 * as quickly when it thickens.
 */
const GAP_WEIGHT = 1 / 8;
/**
 * An interval counts as at most this many windows: after a quiet minute the mean is "rare", not
 * a minute, and a few close arrivals bring it back under the window.
 */
const GAP_CAP = 4;
/**
 * A free lane waits while its mean gap is under this many windows. Measured on the bench fleet
 * (docs/architecture.md, "Gathering"): at 100/s (a gap of 10 ms, the window 4 ms) not waiting
 * halves the median answer time; at 300/s a threshold of one window left batches of one often
 * enough to cost more CPU and time than it saved, two windows did not.
 */
const WAIT_WITHIN = 2;

/**
 * Group commit. An item posted while its lane has no batch in flight goes at once, or, when the
 * lane's items arrive less than two windows apart on average, after at most that with the items posted
 * meanwhile; items posted while it has one wait and leave
 * together in the next batch (or in a second one beside it, past `overflowAt`). A batch that fails for a reason
 * other than the database being unreachable is split and retried in halves, so one bad item
 * fails alone.
 */
export class LedgerBatcher {
  private readonly lanes: Lane[];
  private readonly maxBatch: number;
  private readonly overflowAt: number;
  private readonly gatherMs: number;
  private readonly gatherItems: number;
  private readonly now: () => number;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly ledger: Ledger,
    private readonly options: BatcherOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    this.overflowAt = options.overflowAt ?? 0;
    this.gatherMs = Math.max(0, options.gatherMs ?? 0);
    // a batch never holds more than maxBatch: waiting for more than that gains nothing
    this.gatherItems = Math.max(1, Math.min(options.gatherItems ?? 32, this.maxBatch));
    this.now = options.now ?? (() => performance.now());
    // gap 0: a new lane waits (the switch has just started; its traffic is not known yet)
    this.lanes = Array.from({ length: Math.max(1, options.concurrency ?? 1) }, () => ({ queue: [], inFlight: 0, originals: 0, timer: undefined, lastAt: Number.NaN, gap: 0 }));
  }

  /** Items waiting for a batch. */
  get queued(): number {
    let n = 0;
    for (const l of this.lanes) n += l.queue.length;
    return n;
  }

  private get idle(): boolean {
    for (const l of this.lanes) if (l.inFlight > 0 || l.queue.length > 0) return false;
    return true;
  }

  /** `lane`: any non-negative integer; items with the same one are posted in order. */
  post(item: LedgerItem, lane = 0): Promise<LedgerResult> {
    const l = this.lanes[(lane >>> 0) % this.lanes.length];
    return new Promise<LedgerResult>((resolve, reject) => {
      let at = 0;
      if (this.gatherMs > 0) {
        at = this.now();
        const since = at - l.lastAt;
        if (since >= 0) l.gap += (Math.min(since, GAP_CAP * this.gatherMs) - l.gap) * GAP_WEIGHT;
        l.lastAt = at;
      }
      l.queue.push({ item, at, resolve, reject });
      if (item.original !== undefined) l.originals++;
      this.pump(l);
    });
  }

  /** Resolves when nothing is queued or in flight. */
  drain(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(l: Lane, waited = false): void {
    if (l.queue.length === 0 || l.inFlight >= 2) return;
    if (l.inFlight === 1 && !this.mayOverflow(l)) return;
    if (l.inFlight === 0 && !waited && this.gatherMs > 0 && l.queue.length < this.gatherItems && l.gap < WAIT_WITHIN * this.gatherMs) {
      const left = this.gatherMs - (this.now() - l.queue[0].at);
      if (left > 0) {
        l.timer ??= setTimeout(() => {
          l.timer = undefined;
          this.pump(l, true);
        }, left);
        return;
      }
    }
    if (l.timer !== undefined) {
      clearTimeout(l.timer);
      l.timer = undefined;
    }
    // The whole queue leaves as it is when it fits (no copy); otherwise its first maxBatch items.
    const batch = l.queue.length <= this.maxBatch ? l.queue : l.queue.splice(0, this.maxBatch);
    if (batch === l.queue) {
      l.queue = [];
      l.originals = 0;
    } else if (l.originals > 0) {
      for (const p of batch) if (p.item.original !== undefined) l.originals--;
    }
    l.inFlight++;
    void this.run(batch).then((settle) => {
      l.inFlight--;
      if (l.queue.length > 0) {
        // The lane's next batch leaves before this one's callers are answered, so that
        // PostgreSQL works on it while this process encodes and writes the answers: the pool
        // sends a query from process.nextTick, which runs after every promise continuation, so
        // the answers wait for the next turn of the event loop.
        this.pump(l);
        setImmediate(settle);
      } else {
        settle();
        if (this.idle) for (const w of this.idleWaiters.splice(0)) w();
      }
    });
  }

  /**
   * A second batch beside the lane's first: only past the threshold, and only when none of its
   * items refers to an original (a completion or reversal could otherwise run before the batch
   * holding its original commits). A repeat of an item in flight is safe: the journal's unique
   * key stops the later batch, which starts over and then finds the original.
   */
  private mayOverflow(l: Lane): boolean {
    if (this.overflowAt <= 0 || l.queue.length < this.overflowAt) return false;
    if (l.originals === 0) return true;
    // The batch would be the whole queue, which holds one; otherwise look at its first maxBatch.
    if (l.queue.length <= this.maxBatch) return false;
    for (let i = 0; i < this.maxBatch; i++) if (l.queue[i].item.original !== undefined) return false;
    return true;
  }

  /**
   * Posts a batch; resolves, once it has committed (or failed for good), to the function that
   * hands each caller its result, so that the lane can be given its next batch first. A batch
   * that fails for another reason than the database being unreachable is split in halves, posted
   * in order while the lane stays taken (an item may refer to an earlier one: a reversal of a
   * purchase), each half's callers answered at once.
   */
  private async run(batch: Pending[]): Promise<() => void> {
    const started = performance.now();
    try {
      const results = await this.ledger.post(batch.map((p) => p.item));
      this.options.onBatch?.(batch.length, performance.now() - started);
      return () => {
        for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
      };
    } catch (e) {
      this.options.onBatch?.(batch.length, performance.now() - started, e);
      if (e instanceof LedgerUnavailableError || batch.length === 1) {
        return () => {
          for (const p of batch) p.reject(e);
        };
      }
      const half = batch.length >> 1;
      (await this.run(batch.slice(0, half)))();
      return this.run(batch.slice(half));
    }
  }
}
