/**
 * The ledger's posting API. `Ledger.post` sends a batch of operations to the SQL function
 * ledger_post_arrays (006_ledger_post_entries_in_journal.sql, its lookups revised in
 * 007_ledger_post_lookups_per_item.sql; ledger_post, its JSON form, came first in 002_ledger.sql): one statement, one round trip, one transaction, an outcome per item. `LedgerBatcher` is group commit on top: concurrent callers' items ride in the
 * same batch, and each caller gets its own result once the batch has committed.
 */
import type pg from 'pg';
import { isOutcome, type Outcome } from './outcomes.js';

export type LedgerOp = 'purchase' | 'preauth' | 'completion' | 'reversal' | 'inquiry' | 'recharge' | 'transfer' | 'record';
export type TerminalService = 'fuel' | 'dotation' | 'ticket';

export interface LedgerItem {
  op: LedgerOp;
  source: 'terminal' | 'backoffice';
  terminalId?: string;
  stan?: string;
  /** DE7 as received (MMDDhhmmss). With terminal and STAN, the duplicate key. */
  transmissionAt?: string;
  mti?: string;
  cardId?: number;
  /** SHA-256 (hex) of a transaction code typed in instead of a card. */
  codeHash?: string;
  /** Service point of the message (DE42). */
  servicePointId?: number;
  /** Transfer target. */
  toCardId?: number;
  /** Minor units. */
  amount?: number;
  currency?: string;
  service?: TerminalService;
  /** Completion/reversal: the original's STAN and DE7 (DE90), same terminal. */
  original?: { stan: string; transmissionAt: string };
  /** SHA-256 (hex) of the request's content: a duplicate with other content is refused. */
  requestHash?: string;
  /** An outcome decided before the ledger (a decline): journaled as is, without effect. */
  preset?: Outcome;
  userId?: number;
  note?: string;
}

export interface LedgerResult {
  outcome: Outcome;
  journalId: number;
  approvalCode: string | null;
  /** Available balance (balance minus holds) of the holder's account after the item, when known. */
  available: number | null;
  /** A repeat or duplicate of an earlier message: the outcome is the original's. */
  duplicate: boolean;
  /** The original a completion, reversal or duplicate refers to. */
  originalId: number | null;
}

interface Row {
  i: number;
  outcome: string;
  journal_id: number;
  approval_code: string | null;
  available: number | null;
  duplicate: boolean;
  original_id: number | null;
}

/** Retryable: a concurrent batch took a duplicate key first, deadlock, serialization. */
const RETRYABLE = new Set(['23505', '40P01', '40001']);
const MAX_ATTEMPTS = 5;
/** duplicate_prepared_statement, invalid_sql_statement_name */
const PREPARED_STATEMENT_LOST = new Set(['42P05', '26000']);

/** The database could not be reached or the connection broke: nothing was posted. */
export class LedgerUnavailableError extends Error {
  constructor(override readonly cause: unknown) {
    super(`ledger unavailable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'LedgerUnavailableError';
  }
}

export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | undefined;
  if (!err) return false;
  const code = err.code ?? '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004'].includes(code) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(err.message ?? '')
  );
}

/** The fields of a batch, in the order of ledger_post_arrays's parameters. */
export const COLUMNS = [
  'op', 'src', 'term', 'stan', 'dt', 'mti', 'card', 'code', 'sp', 'to', 'amt', 'cur', 'svc', 'ostan', 'odt', 'rh', 'preset', 'usr', 'note',
] as const;

const QUOTED = /["\\]/g;

/** A text element of an array literal: always quoted (so that "NULL" stays a string), `"` and `\` escaped. */
function textElement(v: string | undefined): string {
  if (v === undefined) return 'NULL';
  return '"' + (v.indexOf('"') < 0 && v.indexOf('\\') < 0 ? v : v.replace(QUOTED, '\\$&')) + '"';
}

/** A bigint element: its digits; absent, NaN or infinite is NULL (as JSON would have it). */
function intElement(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? 'NULL' : String(v);
}

/**
 * The batch as ledger_post_arrays's parameters: one PostgreSQL array literal per field (COLUMNS),
 * an element per item, or null for a field no item has. Written out directly rather than through
 * node-pg's array serializer (which quotes and escapes every element with two regular
 * expressions): this runs for every message.
 */
export function toColumns(items: readonly LedgerItem[]): (string | null)[] {
  const cols = new Array<string>(COLUMNS.length).fill('');
  const used = new Array<boolean>(COLUMNS.length).fill(false);
  const put = (c: number, element: string, present: boolean): void => {
    cols[c] += (cols[c].length === 0 ? '{' : ',') + element;
    if (present) used[c] = true;
  };
  for (const it of items) {
    put(0, textElement(it.op), true);
    put(1, textElement(it.source), true);
    put(2, textElement(it.terminalId), it.terminalId !== undefined);
    put(3, textElement(it.stan), it.stan !== undefined);
    put(4, textElement(it.transmissionAt), it.transmissionAt !== undefined);
    put(5, textElement(it.mti), it.mti !== undefined);
    put(6, intElement(it.cardId), it.cardId !== undefined);
    put(7, textElement(it.codeHash), it.codeHash !== undefined);
    put(8, intElement(it.servicePointId), it.servicePointId !== undefined);
    put(9, intElement(it.toCardId), it.toCardId !== undefined);
    put(10, intElement(it.amount), it.amount !== undefined);
    put(11, textElement(it.currency), it.currency !== undefined);
    put(12, textElement(it.service), it.service !== undefined);
    put(13, textElement(it.original?.stan), it.original !== undefined);
    put(14, textElement(it.original?.transmissionAt), it.original !== undefined);
    put(15, textElement(it.requestHash), it.requestHash !== undefined);
    put(16, textElement(it.preset), it.preset !== undefined);
    put(17, intElement(it.userId), it.userId !== undefined);
    put(18, textElement(it.note), it.note !== undefined);
  }
  return cols.map((c, i) => (used[i] ? c + '}' : null));
}

const PARAMS = COLUMNS.map((_, i) => `$${i + 1}`).join(', ');
/** The call of the posting function, COLUMNS as $1..$19 (toColumns gives the values). */
export const POST = `SELECT * FROM ledger_post_arrays(${PARAMS})`;
const POST_AT = `SELECT * FROM ledger_post_arrays(${PARAMS}, $${COLUMNS.length + 1})`;

export class Ledger {
  private named = true;

  constructor(private readonly pool: pg.Pool) {}

  /**
   * Posts a batch in one transaction and one round trip; results in item order.
   * Throws LedgerUnavailableError when the database cannot be reached (nothing posted).
   */
  async post(items: readonly LedgerItem[], now?: Date): Promise<LedgerResult[]> {
    if (items.length === 0) return [];
    const cols: unknown[] = toColumns(items);
    const text = now ? POST_AT : POST;
    const values = now ? [...cols, now] : cols;
    for (let attempt = 1; ; attempt++) {
      try {
        // Named: each connection parses and plans the call once, not at every batch.
        const res = await this.pool.query<Row>(this.named ? { name: now ? 'ledger_post_arrays_at' : 'ledger_post_arrays', text, values } : { text, values });
        return toResults(res.rows, items.length);
      } catch (e) {
        if (isConnectionError(e)) throw new LedgerUnavailableError(e);
        const code = (e as { code?: string }).code ?? '';
        // The server lost the named statement: PGlite (the embedded demo database) does after an
        // error, a pooler or DEALLOCATE can too. From then on, parse at every call (nothing was
        // posted by the failed call).
        if (this.named && PREPARED_STATEMENT_LOST.has(code)) {
          this.named = false;
          attempt--;
          continue;
        }
        if (RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) continue;
        throw e;
      }
    }
  }
}

function toResults(rows: Row[], n: number): LedgerResult[] {
  if (rows.length !== n) throw new Error(`ledger_post returned ${rows.length} results for ${n} items`);
  const out = new Array<LedgerResult>(n);
  for (const r of rows) {
    if (!isOutcome(r.outcome)) throw new Error(`ledger_post returned unknown outcome ${r.outcome}`);
    out[r.i] = {
      outcome: r.outcome,
      journalId: r.journal_id,
      approvalCode: r.approval_code,
      available: r.available,
      duplicate: r.duplicate,
      originalId: r.original_id,
    };
  }
  return out;
}

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
  /** Called after each batch with its size and duration. */
  onBatch?: (size: number, ms: number, error?: unknown) => void;
}

interface Pending {
  item: LedgerItem;
  resolve: (r: LedgerResult) => void;
  reject: (e: unknown) => void;
}

interface Lane {
  queue: Pending[];
  inFlight: number;
  /** Queued items that refer to an original (completions, reversals). */
  originals: number;
}

/**
 * Group commit. An item posted while its lane has no batch in flight goes at once (no added
 * latency at low load); items posted while it has one wait and leave together in the next
 * batch (or in a second one beside it, past `overflowAt`). A batch that fails for a reason
 * other than the database being unreachable is split and retried in halves, so one bad item
 * fails alone.
 */
export class LedgerBatcher {
  private readonly lanes: Lane[];
  private readonly maxBatch: number;
  private readonly overflowAt: number;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly ledger: Ledger,
    private readonly options: BatcherOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    this.overflowAt = options.overflowAt ?? 0;
    this.lanes = Array.from({ length: Math.max(1, options.concurrency ?? 1) }, () => ({ queue: [], inFlight: 0, originals: 0 }));
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
      l.queue.push({ item, resolve, reject });
      if (item.original !== undefined) l.originals++;
      this.pump(l);
    });
  }

  /** Resolves when nothing is queued or in flight. */
  drain(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private pump(l: Lane): void {
    if (l.queue.length === 0 || l.inFlight >= 2) return;
    if (l.inFlight === 1 && !this.mayOverflow(l)) return;
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
