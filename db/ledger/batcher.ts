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
   * since its first item arrived, or as soon as `gatherItems` items wait. A lane whose windows
   * have lately brought less than half an item each does not wait (`MIN_YIELD`): the wait would
   * only add to the answer's time.
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
  /** When the item that found the lane's queue empty arrived: its window's start (gatherMs only). */
  openedAt: number;
  /** Items that arrived within gatherMs of it, after it (gatherMs only). */
  seen: number;
  /**
   * What a window has brought lately: the items that arrived within gatherMs after the first of
   * a queue, whether the lane waited for them or not (an exponential moving average; gatherMs only).
   */
  yield: number;
}

/**
 * The weight of each window in a lane's mean yield: about the last four count, so that the lane
 * stops waiting within a few windows of the traffic thinning out, and starts again as quickly
 * when it thickens.
 */
const YIELD_WEIGHT = 1 / 4;
/**
 * A free lane waits while its windows bring this many items each on average. What a wait
 * brings is counted, not guessed from the mean time between items: terminals sending at a
 * steady pace 5 ms apart (a lane at 200/s, the window 4 ms) never bring a second item within
 * the window, however close their mean gap is to it, and the wait added 4 ms to every answer for
 * batches of 1.0 (make bench at 200/s: p50 6.5-6.9 ms, against 3.6-3.8 at 100/s). Items arriving
 * at random with the same mean (a window of 4 ms, a mean gap of 5) bring 0.8 a window, and wait.
 */
const MIN_YIELD = 0.5;

/**
 * Group commit. An item posted while its lane has no batch in flight goes at once, or, when the
 * lane's windows have lately brought company (MIN_YIELD), after at most that with the items posted
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
    // yield 1: a new lane waits (the switch has just started; its traffic is not known yet), and
    // stops after three windows that bring nothing
    this.lanes = Array.from({ length: Math.max(1, options.concurrency ?? 1) }, () => ({ queue: [], inFlight: 0, originals: 0, timer: undefined, openedAt: Number.NaN, seen: 0, yield: 1 }));
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
        if (at - l.openedAt < this.gatherMs) l.seen++;
        else {
          // the last window is over: what it brought counts (a first window has nothing to count)
          if (!Number.isNaN(l.openedAt)) l.yield += (Math.min(l.seen, this.gatherItems - 1) - l.yield) * YIELD_WEIGHT;
          l.openedAt = Number.NaN;
        }
        if (l.queue.length === 0 && Number.isNaN(l.openedAt)) {
          l.openedAt = at;
          l.seen = 0;
        }
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
    if (l.inFlight === 0 && !waited && this.gatherMs > 0 && l.queue.length < this.gatherItems && l.yield >= MIN_YIELD) {
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
