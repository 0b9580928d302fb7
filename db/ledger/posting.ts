/**
 * Posting a batch: one transaction, two round trips (./wire.ts).
 *   1. Set the transaction's planner settings (unless its connection has them: ./sql.ts
 *      SETTINGS); lock the batch's accounts in id order (by the ids its items' hints name, when
 *      all have one: `LockedBy`); read every row its items concern and
 *      draw their journal ids; read the journal rows they refer to (originals, repeats:
 *      LOOKUPS_AFTER_CONFLICT).
 *   2. Decide the items in arrival order in TypeScript (./rules.ts).
 *   3. One statement writes the journal, accounts, holds, reversal marks and codes, and the
 *      round's Sync commits. An item's result is returned only once the commit has answered.
 */
import type pg from 'pg';
import { isRepeat } from '../../protocol/mti.js';
import type { Outcome } from '../outcomes.js';
import { isOutcome } from '../outcomes.js';
import {
  AccountNotLockedError,
  decideBatch,
  type AccountState,
  type BatchDecision,
  type HoldState,
  type ItemSnapshot,
  type JournalState,
  type PinFacts,
} from './rules.js';
import { LOCK_BY_ID, PROFILES_BY_ID, PROFILE_FIELDS, ROW_TYPES, SETTINGS, SETTINGS_IN_FORCE, WRITE_PART_TYPES, TERMINAL_LOCK, journalStatement, lockStatement, readStatement, writeStatement, type Built, type RowType } from './sql.js';
import { binaryArray, binaryRecordArray, type AttributeType } from './params.js';
import { connectionOf, exchangeTransport, forgetPrepared, type Transport, type WireStatement } from './wire.js';
import { LedgerUnavailableError, isConnectionError, type LedgerItem, type LedgerResult } from './types.js';

/** How long a pre-authorization holds its amount before the sweep releases it. */
export const HOLD_TTL_MS = 2 * 60 * 60 * 1000;
/** A reversal of an original older than this is refused (12). */
export const REVERSAL_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Retryable: a concurrent batch took a duplicate key first, deadlock, serialization, a row that appeared between lock and read. */
const RETRYABLE = new Set(['23505', '40P01', '40001']);
const MAX_ATTEMPTS = 5;
/**
 * A batch looks up in the journal only the keys it must: the originals its completions and
 * reversals name, and the keys of repeats (an odd MTI origin digit, 0201, 0401). Any other
 * message is new unless a terminal sends the same key twice, which the journal's unique key
 * (journal_terminal_key) stops: the batch is rolled back and posted again looking up every key,
 * and so are the batches after it, this many, so that a terminal resending its messages costs
 * one attempt more in that many batches, not one in each. Not looking up a key that is not there
 * saves a statement and an index probe per item (make bench-ledger: 7-9% of PostgreSQL's CPU).
 */
const LOOKUPS_AFTER_CONFLICT = 64;
const UNIQUE_VIOLATION = '23505';
/** duplicate_prepared_statement, invalid_sql_statement_name */
const PREPARED_STATEMENT_LOST = new Set(['42P05', '26000']);

interface AccountRow {
  id: number;
  currency: string;
  balance: number;
  held: number;
  usage_day: string | null;
  day_amount: number;
  day_count: number;
  usage_month: string | null;
  month_amount: number;
  month_count: number;
}

interface ItemRow {
  k: number;
  jid: number;
  t_sp: number | null;
  t_status: string | null;
  t_init: boolean | null;
  sp_id: number | null;
  sp_status: string | null;
  v_card: number | null;
  v_acct: number | null;
  q_id: number | null;
  q_card: number | null;
  q_used: boolean | null;
  q_expires: number | null;
  q_max: number | null;
  q_sp: number | null;
  c_id: number | null;
  c_acct: number | null;
  c_client: number | null;
  c_status: string | null;
  c_expiry: string | null;
  c_network: number | null;
  fuel: boolean;
  dotation: boolean;
  ticket: boolean;
  transfer: boolean;
  recharge: boolean;
  limit_per_txn: number | null;
  limit_day_amount: number | null;
  limit_day_count: number | null;
  limit_month_amount: number | null;
  limit_month_count: number | null;
  valid_from: string | null;
  valid_to: string | null;
  x_id: number | null;
  x_acct: number | null;
  x_client: number | null;
  x_status: string | null;
  x_network: number | null;
  f_acct: number | null;
  r_upto: number | null;
  pin_required: boolean | null;
  c_pin: string | null;
  c_pin_tries: number | null;
  /** The card's profile id, when the profiles come from their own statement (joined there by it, joinProfiles). */
  c_profile: number | null;
}

interface JournalRow {
  id: number;
  op: string;
  outcome: string;
  amount: number;
  terminal_id: string | null;
  stan: string | null;
  transmission_at: string | null;
  duplicate_of: number | null;
  card_id: number | null;
  counter_card_id: number | null;
  card_acct: number | null;
  counter_acct: number | null;
  day: string;
  posted_ms: number;
  request_hash: string | null;
  approval_code: string | null;
  available_after: number | null;
  reversed_by: number | null;
  h_id: number | null;
  h_acct: number | null;
  h_amount: number | null;
  h_status: HoldState['status'] | null;
  h_expires: number | null;
}

const QUOTED = /["\\]/g;

/**
 * A PostgreSQL array literal of the values, written out here rather than by node-pg (which
 * quotes and escapes every element with regular expressions, a quarter of the Node side's cost
 * of a batch of 100): text always quoted (so that "NULL" stays a string), `"` and `\` escaped;
 * null and undefined are NULL. Numbers are safe integers, written as digits.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += ',';
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new RangeError(`ledger: ${v} is not a safe integer`);
      out += String(v);
    } else {
      const text = String(v);
      out += '"' + (text.indexOf('"') < 0 && text.indexOf('\\') < 0 ? text : text.replace(QUOTED, '\\$&')) + '"';
    }
  }
  return out + '}';
}

/** Each row type's attribute types, in order (./sql.ts ROW_TYPES). */
const ATTRIBUTE_TYPES = Object.fromEntries(Object.entries(ROW_TYPES).map(([name, attrs]) => [name, attrs.map(([, t]) => t)])) as Record<RowType, AttributeType[]>;
/**
 * The server no longer has a row type as this process knows it: the schema's types were made
 * again under a running ledger (a schema reset), so a prepared statement names a type that is
 * gone ("cache lookup failed", internal_error) or a parameter names another OID (datatype_mismatch,
 * on servers that check it). The OIDs are read again and the statements prepared again.
 */
function rowTypeLost(e: unknown): boolean {
  const { code, message } = e as { code?: string; message?: string };
  return code === '42804' || (code === 'XX000' && /^cache lookup failed for type \d+$/.test(message ?? ''));
}

type RowOids = Record<RowType, number>;

/** The OIDs of the schema's row types, which the binary parameters name (./params.ts binaryRecordArray). */
async function rowOids(client: pg.PoolClient): Promise<RowOids> {
  const names = Object.keys(ROW_TYPES) as RowType[];
  const r = await client.query<Record<string, number>>(`SELECT ${names.map((n) => `'${n}'::regtype::oid::int AS ${n}`).join(', ')}`);
  return Object.fromEntries(names.map((n) => [n, r.rows[0][n]])) as RowOids;
}

const rows = (type: RowType, values: readonly (readonly unknown[])[], oids: RowOids): Buffer => binaryRecordArray(values, ATTRIBUTE_TYPES[type], oids[type]);

const keyOf = (t: string, s: string, d: string): string => `${t}\u0000${s}\u0000${d}`;

const statement = (b: Built, values: (string | Buffer | null)[] = []): WireStatement => ({ name: b.name, text: b.text, values, columns: b.columns });
const SETTINGS_STATEMENT = statement(SETTINGS);

/** Per connection: whether it started with the ledger's planner settings (db/pool.ts `ledger`), asked once. */
const settingsOf = new WeakMap<object, boolean>();

async function hasSettings(client: pg.PoolClient): Promise<boolean> {
  const con = connectionOf(client) ?? client;
  let has = settingsOf.get(con);
  if (has === undefined) {
    has = (await client.query<{ ok: boolean }>(SETTINGS_IN_FORCE)).rows[0].ok === true;
    settingsOf.set(con, has);
  }
  return has;
}

/**
 * How an attempt found the accounts it locked: by its items' hints (types.ts `accountHint`);
 * by hints that fell short, the read naming an account they left out (the attempt starts over,
 * through the cards); through the cards, service points, codes and originals (./sql.ts
 * lockStatement).
 */
export type LockedBy = 'hint' | 'hint_missed' | 'cards';

/** Items whose accounts a hint may name: the others' are found through what they refer to. */
const HINTED_OPS: ReadonlySet<string> = new Set(['purchase', 'preauth', 'inquiry']);

/** The ids the hints of a batch name, sorted, or null when an item that needs accounts has none. */
function hintedAccounts(items: readonly LedgerItem[]): number[] | null {
  const ids = new Set<number>();
  for (const it of items) {
    if (it.preset !== undefined) continue;
    const hint = it.accountHint;
    if (hint === undefined || hint.length === 0 || !HINTED_OPS.has(it.op) || it.cardId === undefined || it.codeHash !== undefined || it.original !== undefined) return null;
    for (const id of hint) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * The profiles the items' hints name (types.ts `profileHint`), sorted, or null when an item whose
 * card the read looks up has none, or when a code names the card: the read then joins each card's
 * profile.
 */
function hintedProfiles(items: readonly LedgerItem[]): number[] | null {
  const ids = new Set<number>();
  for (const it of items) {
    if (it.codeHash !== undefined) return null;
    if (it.cardId === undefined) continue;
    if (it.profileHint === undefined) return null;
    ids.add(it.profileHint);
  }
  return [...ids].sort((a, b) => a - b);
}

/** A card's profile was not among those the hints named (the card changed profile): post the batch again, without hints. */
export class ProfileNotReadError extends Error {
  constructor(readonly profileId: number | null) {
    super(`profile ${String(profileId)} was not read by the batch`);
    this.name = 'ProfileNotReadError';
  }
}

/** Sets each read row's profile fields from the profiles read by id, as the read would have joined them. */
function joinProfiles(rows: ItemRow[], profiles: readonly Record<string, unknown>[]): void {
  const byId = new Map<number, Record<string, unknown>>();
  for (const p of profiles) byId.set(p.id as number, p);
  for (const r of rows) {
    if (r.c_id === null) continue;
    const p = r.c_profile === null ? undefined : byId.get(r.c_profile);
    if (p === undefined) throw new ProfileNotReadError(r.c_profile);
    const row = r as unknown as Record<string, unknown>;
    for (const f of PROFILE_FIELDS) row[f] = p[f];
  }
}

export class Ledger {
  /** Called at each attempt with how its accounts were locked (the switch counts them). */
  onLock: ((by: LockedBy) => void) | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly holdTtlMs = HOLD_TTL_MS,
    /** 0: no window. */
    private readonly reversalWindowMs = REVERSAL_WINDOW_MS,
    /** How a batch's two rounds reach PostgreSQL (./wire.ts); another one only to compare. */
    private readonly transport: Transport = exchangeTransport,
  ) {}

  /** Batches left that look up every item's key (LOOKUPS_AFTER_CONFLICT). */
  private lookupEveryKey = 0;
  /** The row types' OIDs in the pool's schema, read at the first batch. */
  private oids: RowOids | undefined;

  /**
   * Posts a batch in one transaction; results in item order, each only after the commit.
   * Throws LedgerUnavailableError when the database cannot be reached (nothing posted, or, if the
   * connection broke during COMMIT, not known: the caller answers as for a failure, 91).
   */
  async post(items: readonly LedgerItem[], now: Date = new Date()): Promise<LedgerResult[]> {
    if (items.length === 0) return [];
    const lookupEveryKey = this.lookupEveryKey > 0;
    if (lookupEveryKey) this.lookupEveryKey--;
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (e) {
        throw new LedgerUnavailableError(e);
      }
      let broken: unknown;
      // A connection that ends while checked out emits 'error' on the client besides failing its
      // queries: without a listener that would be an uncaught exception.
      const onError = (e: Error): void => {
        broken = e;
      };
      client.on('error', onError);
      try {
        this.oids ??= await rowOids(client);
        // a retry never trusts the hints: whatever made the first attempt fail, the second finds its accounts through the cards
        return await this.attempt(client, items, now, lookupEveryKey || attempt > 1, this.oids, await hasSettings(client), attempt === 1);
      } catch (e) {
        if (isConnectionError(e)) {
          broken = e;
          throw new LedgerUnavailableError(e);
        }
        const code = (e as { code?: string }).code ?? '';
        if (code === UNIQUE_VIOLATION) this.lookupEveryKey = LOOKUPS_AFTER_CONFLICT;
        if (rowTypeLost(e) && attempt < MAX_ATTEMPTS) {
          this.oids = undefined;
          forgetPrepared(client);
          continue;
        }
        // The server lost a named statement (a pooler or DEALLOCATE can do that) or has one this
        // process did not know of: prepare them again on that connection (nothing was posted).
        if (PREPARED_STATEMENT_LOST.has(code) && attempt < MAX_ATTEMPTS) {
          forgetPrepared(client);
          continue;
        }
        if ((RETRYABLE.has(code) || e instanceof AccountNotLockedError || e instanceof ProfileNotReadError) && attempt < MAX_ATTEMPTS) continue;
        throw e;
      } finally {
        client.off('error', onError);
        client.release(broken instanceof Error ? broken : undefined);
      }
    }
  }

  /** `settled`: the connection has the planner settings already (./sql.ts SETTINGS); `hints`: the items' account hints may be used. */
  private async attempt(client: pg.PoolClient, items: readonly LedgerItem[], now: Date, everyKey: boolean, oids: RowOids, settled: boolean, hints: boolean): Promise<LedgerResult[]> {
    const reads = this.reads(items, everyKey, oids, hints);
    const first = settled ? [reads.lock] : [SETTINGS_STATEMENT, reads.lock];
    const lockAt = first.length - 1;
    if (reads.terminals !== null) first.push(reads.terminals);
    const readAt = first.length;
    first.push(reads.read);
    if (reads.journal !== null) first.push(reads.journal);
    const profilesAt = first.length;
    if (reads.profiles !== null) first.push(reads.profiles);
    const rounds = this.transport(client, first);
    let decided: { ids: number[]; decision: BatchDecision };
    try {
      const all = await rounds.first;
      const [locked, read] = [all[lockAt], all[readAt]];
      const journal = reads.journal === null ? undefined : all[readAt + 1];
      if (reads.profiles !== null) joinProfiles(read.rows as unknown as ItemRow[], all[profilesAt].rows);
      decided = this.decide(items, locked.rows as unknown as AccountRow[], read.rows as unknown as ItemRow[], (journal?.rows ?? []) as unknown as JournalRow[], now, reads.byHint);
      this.onLock?.(reads.byHint ? 'hint' : 'cards');
      const write = writeValues(items, decided.ids, decided.decision, now, oids);
      await rounds.commit([statement(write.statement, write.values)]);
    } catch (e) {
      // Anything thrown before the commit was sent leaves the transaction open: end it.
      rounds.abandon();
      if (reads.byHint && e instanceof AccountNotLockedError) this.onLock?.('hint_missed');
      throw e;
    }
    return results(decided.ids, decided.decision);
  }

  /** The reads of a batch's first round trip; `everyKey`: look up every item's own key, not only repeats' (LOOKUPS_AFTER_CONFLICT). */
  private reads(
    items: readonly LedgerItem[],
    everyKey: boolean,
    oids: RowOids,
    hints: boolean,
  ): { lock: WireStatement; byHint: boolean; terminals: WireStatement | null; read: WireStatement; journal: WireStatement | null; profiles: WireStatement | null } {
    const cards = new Set<number>();
    const codes = new Set<string>();
    const servicePoints = new Set<number>();
    const recharged = new Set<number>();
    const oTerm: string[] = [];
    const oStan: string[] = [];
    const oDt: string[] = [];
    const reversing = new Set<string>();
    const expiring = new Set<number>();
    const kTerm: string[] = [];
    const kStan: string[] = [];
    const kDt: string[] = [];
    const keys = new Set<string>();
    const addKey = (t: string, s: string, d: string): void => {
      const k = keyOf(t, s, d);
      if (keys.has(k)) return;
      keys.add(k);
      kTerm.push(t);
      kStan.push(s);
      kDt.push(d);
    };
    const n = items.length;
    // ledger_item rows: op, terminal, service point, card, code hash, transfer target
    const itemRows = new Array<unknown[]>(n);
    let transfers = false;
    let recharges = false;
    for (let k = 0; k < n; k++) {
      const it = items[k];
      itemRows[k] = [it.op, it.terminalId ?? null, it.servicePointId ?? null, it.cardId ?? null, it.codeHash ?? null, it.toCardId ?? null];
      if (it.op === 'transfer') transfers = true;
      else if (it.op === 'recharge') recharges = true;
      // the item's own key: a repeat's always, every key after a conflict (LOOKUPS_AFTER_CONFLICT)
      if ((everyKey || (it.mti !== undefined && isRepeat(it.mti))) && it.terminalId !== undefined && it.stan !== undefined && it.transmissionAt !== undefined) {
        addKey(it.terminalId, it.stan, it.transmissionAt);
      }
      if (it.preset !== undefined) continue;
      if (it.cardId !== undefined) cards.add(it.cardId);
      if (it.toCardId !== undefined && it.op === 'transfer') cards.add(it.toCardId);
      if (it.codeHash !== undefined) codes.add(it.codeHash);
      if (it.servicePointId !== undefined && (it.op === 'purchase' || it.op === 'preauth')) servicePoints.add(it.servicePointId);
      if (it.op === 'recharge' && it.cardId !== undefined) recharged.add(it.cardId);
      if (it.original !== undefined && it.terminalId !== undefined && (it.op === 'completion' || it.op === 'reversal')) {
        oTerm.push(it.terminalId);
        oStan.push(it.original.stan);
        oDt.push(it.original.transmissionAt);
        addKey(it.terminalId, it.original.stan, it.original.transmissionAt);
        if (it.op === 'reversal') reversing.add(it.terminalId);
      }
      if (it.op === 'expire' && it.originalJournalId !== undefined) expiring.add(it.originalJournalId);
    }
    const journalValues: Buffer[] = [];
    if (kTerm.length > 0) journalValues.push(binaryArray(kTerm, 'text'), binaryArray(kStan, 'text'), binaryArray(kDt, 'text'));
    if (expiring.size > 0) journalValues.push(binaryArray([...expiring], 'bigint'));
    const hinted = hints ? hintedAccounts(items) : null;
    let lock: WireStatement;
    if (hinted !== null) lock = statement(LOCK_BY_ID, [binaryArray(hinted, 'bigint')]);
    else {
      const lockValues = [binaryArray([...cards], 'bigint')];
      if (codes.size > 0) lockValues.push(binaryArray([...codes], 'text'));
      if (servicePoints.size > 0) lockValues.push(binaryArray([...servicePoints], 'bigint'));
      if (recharged.size > 0) lockValues.push(binaryArray([...recharged], 'bigint'));
      if (oTerm.length > 0) lockValues.push(binaryArray(oTerm, 'text'), binaryArray(oStan, 'text'), binaryArray(oDt, 'text'));
      if (expiring.size > 0) lockValues.push(binaryArray([...expiring], 'bigint'));
      lock = statement(lockStatement({ codes: codes.size > 0, servicePoints: servicePoints.size > 0, recharges: recharged.size > 0, originals: oTerm.length > 0, expiring: expiring.size > 0 }), lockValues);
    }
    // a retry never trusts the hints (post): its read joins each card's profile
    const profiles = hints ? hintedProfiles(items) : null;
    const read = readStatement({ codes: codes.size > 0, transfers, recharges, reversals: reversing.size > 0, profiles: profiles === null });
    return {
      lock,
      byHint: hinted !== null,
      terminals: reversing.size === 0 ? null : statement(TERMINAL_LOCK, [binaryArray([...reversing].sort(), 'text')]),
      read: statement(read, [rows('ledger_item', itemRows, oids)]),
      // nothing to look up in the journal (back-office items only): no statement
      journal: journalValues.length === 0 ? null : statement(journalStatement({ keys: kTerm.length > 0, expiring: expiring.size > 0 }), journalValues),
      profiles: profiles === null ? null : statement(PROFILES_BY_ID, [binaryArray(profiles, 'bigint')]),
    };
  }

  /** `byHint`: the accounts were locked by the items' hints, so every account the read names for an item must be among them. */
  private decide(items: readonly LedgerItem[], locked: AccountRow[], rows: ItemRow[], journal: JournalRow[], now: Date, byHint: boolean): { ids: number[]; decision: BatchDecision } {
    if (rows.length !== items.length) throw new Error(`ledger read ${rows.length} rows for ${items.length} items`);
    const accounts = new Map<number, AccountState>();
    for (const a of locked) {
      accounts.set(a.id, {
        id: a.id,
        currency: a.currency,
        balance: a.balance,
        held: a.held,
        usageDay: a.usage_day,
        dayAmount: a.day_amount,
        dayCount: a.day_count,
        usageMonth: a.usage_month,
        monthAmount: a.month_amount,
        monthCount: a.month_count,
      });
    }
    // One object per journal row, shared by every item that refers to it.
    const byId = new Map<number, JournalState>();
    const byKey = new Map<string, JournalState>();
    for (const j of journal) {
      const state = journalState(j);
      byId.set(j.id, state);
      // a key names its original, never a duplicate of it (an expiry may name a duplicate's id)
      if (j.duplicate_of === null && j.terminal_id !== null && j.stan !== null && j.transmission_at !== null) {
        byKey.set(keyOf(j.terminal_id, j.stan, j.transmission_at), state);
      }
    }
    const ids = new Array<number>(items.length);
    const snapshots = new Array<ItemSnapshot>(items.length);
    /** One PIN state per card, shared by the batch's items (rules.ts counts tries on it). */
    const pins = new Map<number, PinFacts>();
    // the read's rows come in no promised order (./sql.ts readStatement): each goes to its item by k
    const byItem = new Array<ItemRow | undefined>(items.length);
    for (const r of rows) {
      const k = Number(r.k) - 1;
      if (!(k >= 0 && k < items.length) || byItem[k] !== undefined) throw new Error(`ledger read item ${r.k} of ${items.length} twice or out of range`);
      byItem[k] = r;
    }
    for (let k = 0; k < items.length; k++) {
      const r = byItem[k] as ItemRow; // every k once: rows.length === items.length, none out of range or twice
      ids[k] = r.jid;
      snapshots[k] = snapshot(items[k], r, accounts, byId, byKey, pins, byHint);
    }
    return { ids, decision: decideBatch({ items, snapshots, ids, accounts, now, holdTtlMs: this.holdTtlMs, reversalWindowMs: this.reversalWindowMs }) };
  }
}

function journalState(j: JournalRow): JournalState {
  const hold: HoldState | null =
    j.h_id === null
      ? null
      : { id: j.h_id, accountId: j.h_acct as number, amount: j.h_amount as number, status: j.h_status as HoldState['status'], expiresAt: j.h_expires as number, closedBy: null };
  return {
    id: j.id,
    op: j.op,
    outcome: (isOutcome(j.outcome) ? j.outcome : 'system_error') as Outcome,
    amount: j.amount,
    cardId: j.card_id,
    counterCardId: j.counter_card_id,
    cardAccountId: j.card_acct,
    counterAccountId: j.counter_acct,
    day: j.day,
    postedMs: j.posted_ms,
    requestHash: j.request_hash,
    approvalCode: j.approval_code,
    available: j.available_after,
    reversedBy: j.reversed_by,
    hold,
    batchIndex: null,
  };
}

/**
 * `byHint`: the batch locked its accounts by hints, which may be stale or wrong: an account the
 * read names for an item that the hints left out fails the attempt (AccountNotLockedError, and
 * the batch starts over through the cards) before any rule runs, so that no check is decided
 * on a snapshot without it (the card account's currency, say).
 */
function snapshot(
  it: LedgerItem,
  r: ItemRow,
  accounts: Map<number, AccountState>,
  byId: Map<number, JournalState>,
  byKey: Map<string, JournalState>,
  pins: Map<number, PinFacts>,
  byHint: boolean,
): ItemSnapshot {
  let counterCardId: number | null = null;
  let counterAccountId: number | null = null;
  if (it.op === 'purchase' || it.op === 'preauth') {
    counterCardId = r.v_card;
    counterAccountId = r.v_acct;
  } else if (it.op === 'transfer') {
    counterCardId = r.x_id;
    counterAccountId = r.x_acct;
  } else if (it.op === 'recharge') {
    counterAccountId = r.f_acct;
  }
  if (byHint && it.preset === undefined) {
    if (r.c_acct !== null && !accounts.has(r.c_acct)) throw new AccountNotLockedError(r.c_acct);
    if (counterAccountId !== null && !accounts.has(counterAccountId)) throw new AccountNotLockedError(counterAccountId);
  }
  const currency = r.c_acct === null ? undefined : accounts.get(r.c_acct)?.currency;
  const counterCurrency = counterAccountId === null ? null : (accounts.get(counterAccountId)?.currency ?? null);
  let originalRow: JournalState | null = null;
  if ((it.op === 'completion' || it.op === 'reversal') && it.original !== undefined && it.terminalId !== undefined) {
    originalRow = byKey.get(keyOf(it.terminalId, it.original.stan, it.original.transmissionAt)) ?? null;
  } else if (it.op === 'expire' && it.originalJournalId !== undefined) {
    originalRow = byId.get(it.originalJournalId) ?? null;
  }
  let pin: PinFacts | undefined;
  if (r.c_id !== null) {
    pin = pins.get(r.c_id);
    if (pin === undefined) {
      pin = { required: r.pin_required === true, stored: r.c_pin, tries: r.c_pin_tries ?? 0 };
      pins.set(r.c_id, pin);
    }
  }
  const keyRow =
    it.terminalId !== undefined && it.stan !== undefined && it.transmissionAt !== undefined ? (byKey.get(keyOf(it.terminalId, it.stan, it.transmissionAt)) ?? null) : null;
  return {
    facts: {
      terminal: r.t_status === null ? null : { servicePointId: r.t_sp as number, status: r.t_status, initialized: r.t_init === true },
      servicePoint: r.sp_id === null ? null : { id: r.sp_id, status: r.sp_status as string, virtualCardId: r.v_card },
      code: it.codeHash === undefined ? undefined : r.q_id === null ? null : { id: r.q_id, used: r.q_used === true, expiresAt: r.q_expires as number, amountMax: r.q_max as number, servicePointId: r.q_sp },
      card: r.c_id === null ? null : { id: r.c_id, status: r.c_status as string, expiry: r.c_expiry as string, clientId: r.c_client as number },
      profile:
        r.c_id === null
          ? null
          : {
              fuel: r.fuel,
              dotation: r.dotation,
              ticket: r.ticket,
              transfer: r.transfer,
              recharge: r.recharge,
              validFrom: r.valid_from,
              validTo: r.valid_to,
              limitPerTxn: r.limit_per_txn,
              limitDayAmount: r.limit_day_amount,
              limitDayCount: r.limit_day_count,
              limitMonthAmount: r.limit_month_amount,
              limitMonthCount: r.limit_month_count,
            },
      networkId: r.c_network,
      currency,
      target: it.op !== 'transfer' ? undefined : r.x_id === null ? null : { id: r.x_id, status: r.x_status as string, expiry: '', clientId: r.x_client as number, networkId: r.x_network },
      hasFunding: it.op === 'recharge' ? r.f_acct !== null : undefined,
      counterCurrency,
      pin,
      selfMovement: counterAccountId !== null && counterAccountId === r.c_acct,
    },
    codeId: r.q_id,
    cardId: r.c_id,
    cardAccountId: r.c_acct,
    counterCardId,
    counterAccountId,
    keyRow,
    originalRow,
    reconciledUpTo: r.r_upto,
  };
}

function results(ids: number[], d: BatchDecision): LedgerResult[] {
  return d.items.map((x, k) => ({
    outcome: x.outcome,
    journalId: ids[k],
    approvalCode: x.approvalCode,
    available: x.available,
    duplicate: x.duplicate,
    originalId: x.originalId,
  }));
}

/** The write statement for the parts the batch has, and its values (sql.ts, writeStatement). */
function writeValues(items: readonly LedgerItem[], ids: number[], d: BatchDecision, now: Date, oids: RowOids): { statement: Built; values: (string | Buffer)[] } {
  const n = items.length;
  // journal_row rows: JOURNAL_COLUMNS' order
  const journal = new Array<unknown[]>(n);
  for (let k = 0; k < n; k++) {
    const it = items[k];
    const x = d.items[k];
    journal[k] = [
      ids[k],
      it.op,
      it.source,
      x.outcome,
      it.terminalId ?? null,
      it.servicePointId ?? null,
      it.stan ?? null,
      it.transmissionAt ?? null,
      it.mti ?? null,
      x.cardId,
      x.counterCardId,
      x.codeId,
      x.amount ?? Math.max(it.amount ?? 0, 0),
      it.currency ?? null,
      it.service ?? null,
      x.duplicate ? null : x.originalId,
      x.duplicate ? x.originalId : null,
      x.reversedBy,
      it.requestHash ?? null,
      x.approvalCode,
      x.available,
      it.userId ?? null,
      it.note ?? null,
      x.debit,
      x.credit,
      x.entry,
    ];
  }
  // account_change rows
  const acc = d.changed.map(({ before, after }) => [
    after.id,
    after.balance - before.balance,
    after.held - before.held,
    after.usageDay,
    after.dayAmount,
    after.dayCount,
    after.usageMonth,
    after.monthAmount,
    after.monthCount,
  ]);
  const hn: unknown[][] = [[], [], [], [], [], []];
  for (const { journalId, hold } of d.newHolds) {
    hn[0].push(journalId);
    hn[1].push(hold.accountId);
    hn[2].push(hold.amount);
    hn[3].push(hold.status);
    hn[4].push(hold.closedBy);
    hn[5].push(new Date(hold.expiresAt).toISOString());
  }
  const hc: unknown[][] = [[], [], []];
  for (const h of d.closedHolds) {
    hc[0].push(h.id);
    hc[1].push(h.status);
    hc[2].push(h.closedBy);
  }
  const rv: unknown[][] = [[], []];
  for (const [o, b] of d.reversed) {
    rv[0].push(o);
    rv[1].push(b);
  }
  const q: unknown[][] = [[], []];
  for (const [c, j] of d.usedCodes) {
    q[0].push(c);
    q[1].push(j);
  }
  const pt: unknown[][] = [[], [], []];
  for (const p of d.pinTries) {
    pt[0].push(p.cardId);
    pt[1].push(p.tries);
    pt[2].push(p.stored);
  }
  const parts = { accounts: acc.length > 0, newHolds: hn[0].length > 0, closedHolds: hc[0].length > 0, reversed: rv[0].length > 0, codes: q[0].length > 0, pins: pt[0].length > 0 };
  // binary arrays (./params.ts), but dates and times, written as text
  const values: (string | Buffer)[] = [now.toISOString(), rows('journal_row', journal, oids)];
  const typed = (arrays: unknown[][], types: readonly string[]): void => {
    for (let i = 0; i < arrays.length; i++) {
      const t = types[i];
      values.push(t === 'bigint' || t === 'int' || t === 'text' ? binaryArray(arrays[i], t) : arrayLiteral(arrays[i]));
    }
  };
  if (parts.accounts) values.push(rows('account_change', acc, oids));
  if (parts.newHolds) typed(hn, WRITE_PART_TYPES.newHolds);
  if (parts.closedHolds) typed(hc, WRITE_PART_TYPES.closedHolds);
  if (parts.reversed) typed(rv, WRITE_PART_TYPES.reversed);
  if (parts.codes) typed(q, WRITE_PART_TYPES.codes);
  if (parts.pins) typed(pt, WRITE_PART_TYPES.pins);
  return { statement: writeStatement(parts), values };
}
