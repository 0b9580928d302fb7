/**
 * The ledger's rules, once: pure functions that decide each item of a batch from a snapshot of
 * the rows it concerns. No I/O here. The posting (./posting.ts) reads and locks the rows, calls
 * decideBatch, and writes what it returns; the switch's early decline (switch/authorize/checks.ts)
 * calls staticVerdict over its cached rows, so a stale cache can slow a decline but never grant
 * an approval.
 *
 * One check per line, in DESIGN.md's order of checks (session, format, duplicate, terminal and
 * service point, card or code, status and expiry, flags, limits, balance); each returns a named
 * outcome (db/outcomes.ts), the first one wins. A fact that a view does not have (`undefined`:
 * the switch's cache knows no account, code or transfer target) skips the checks that need it;
 * `null` means the row does not exist.
 */
import type { ProfileRecord } from '../directory.js';
import type { Outcome } from '../outcomes.js';
import type { LedgerItem, LedgerOp } from './types.js';

// ------------------------------------------------------------------------------- the rows

export interface TerminalFacts {
  servicePointId: number;
  status: string;
  initialized: boolean;
}

export interface ServicePointFacts {
  id: number;
  status: string;
  virtualCardId: number | null;
}

export interface CardFacts {
  id: number;
  status: string;
  /** YYMM */
  expiry: string;
  clientId: number;
}

/** The profile's flags and validity as the switch caches them, and the limits the ledger reads. */
export interface ProfileFacts extends Omit<ProfileRecord, 'id'> {
  limitPerTxn?: number | null;
  limitDayAmount?: number | null;
  limitDayCount?: number | null;
  limitMonthAmount?: number | null;
  limitMonthCount?: number | null;
}

/**
 * The card's PIN as the posting reads it (the switch's cached view has none, so the PIN is
 * checked by the ledger only). Items of a batch that concern one card share one object, so each
 * sees the tries the earlier ones counted.
 */
export interface PinFacts {
  /** The profile requires the cardholder PIN. */
  required: boolean;
  /** The stored digest (hex), or null: no PIN set. */
  stored: string | null;
  /** Wrong tries in a row. */
  tries: number;
}

export interface CodeFacts {
  id: number;
  /** Redeemed before this batch. */
  used: boolean;
  /** ms since the epoch */
  expiresAt: number;
  amountMax: number;
  servicePointId: number | null;
}

export interface TargetFacts extends CardFacts {
  networkId: number | null;
}

/** What one item's checks look at. See the header for undefined and null. */
export interface ItemFacts {
  terminal: TerminalFacts | null | undefined;
  servicePoint: ServicePointFacts | null | undefined;
  /** The code typed in instead of a card (items with a codeHash). */
  code?: CodeFacts | null;
  /** The card that pays: the item's, or its code's. */
  card: CardFacts | null | undefined;
  profile: ProfileFacts | null | undefined;
  /** The network of the card's client (transfers). */
  networkId?: number | null;
  /** Currency of the card's account. */
  currency?: string;
  /** The transfer's target card. */
  target?: TargetFacts | null;
  /** Recharges: whether the card's client has a funding account. */
  hasFunding?: boolean;
  /** Currency of the account on the other side of the movement (virtual card, target, funding). */
  counterCurrency?: string | null;
  /** The movement's two sides are one account (a virtual card paying at its own service point). */
  selfMovement?: boolean;
  /** The card's PIN (undefined: not known to this view, not checked). */
  pin?: PinFacts;
}

// ------------------------------------------------------------------------------- the checks

/**
 * A terminal connection's session: the terminal it belongs to (`terminalId`, set as soon as a
 * sign-on arrives on it, so that no other DE41 can slip in while the sign-on is decided), and
 * whether that sign-on was approved. Sign-off, or a refused sign-on, leaves both empty.
 */
export interface SessionFacts {
  terminalId: string | null;
  signedOn: boolean;
  /**
   * Mutual TLS: the terminals the connection's client certificate names (its CN and DNS
   * SANs); undefined on a connection without one.
   */
  certified?: readonly string[];
}

/** What a message is to the session: a sign-on opens one, an echo needs none, anything else needs one. */
export type SessionMessage = 'sign_on' | 'echo' | 'other';

/**
 * The first check of every terminal message, before it is parsed: it must come from the
 * connection's terminal (`terminalId`: its DE41, padding removed), and, unless it is a sign-on
 * or an echo, on a connection where that terminal has signed on. Nothing refused here reaches
 * the ledger.
 */
export function sessionVerdict(message: SessionMessage, terminalId: string | undefined, s: SessionFacts): Outcome | undefined {
  if (s.certified !== undefined && message !== 'echo' && (terminalId === undefined || !s.certified.includes(terminalId))) return 'certificate_terminal_mismatch';
  if (s.terminalId !== null && terminalId !== s.terminalId) return 'session_terminal_mismatch';
  if (message === 'sign_on' || message === 'echo') return undefined;
  if (!s.signedOn) return 'no_session';
  return undefined;
}

const OPS: ReadonlySet<string> = new Set<LedgerOp>(['purchase', 'preauth', 'completion', 'reversal', 'inquiry', 'recharge', 'transfer', 'expire']);
/** Operations that credit the service point's virtual card. */
const CREDITS_SERVICE_POINT: ReadonlySet<string> = new Set<LedgerOp>(['purchase', 'preauth', 'completion']);
const PAYS: ReadonlySet<string> = new Set<LedgerOp>(['purchase', 'preauth']);
const MOVES_AMOUNT: ReadonlySet<string> = new Set<LedgerOp>(['purchase', 'preauth', 'recharge', 'transfer']);
export const CARD_OPS: ReadonlySet<string> = new Set<LedgerOp>(['purchase', 'preauth', 'inquiry', 'recharge', 'transfer']);
/** What a cardholder does at a terminal with a card, and proves with the card's PIN. */
const PIN_OPS: ReadonlySet<string> = new Set<LedgerOp>(['purchase', 'preauth', 'inquiry']);
/** Wrong PINs in a row that block a card's PIN (db/secrets.ts holds the same number for the back office). */
export const PIN_TRIES = 3;

export function operationVerdict(item: LedgerItem): Outcome | undefined {
  if (!OPS.has(item.op)) return 'unsupported_operation';
  return undefined;
}

/** Terminal messages only: who sent it, from where, and whether that place can take money. */
export function terminalVerdict(item: LedgerItem, f: Pick<ItemFacts, 'terminal' | 'servicePoint'>): Outcome | undefined {
  if (item.source !== 'terminal') return undefined;
  const t = f.terminal;
  const sp = f.servicePoint;
  if (t === undefined || sp === undefined) return undefined;
  if (t === null) return 'unknown_terminal';
  if (t.status !== 'active') return 'terminal_blocked';
  if (!t.initialized) return 'terminal_not_initialized';
  if (item.servicePointId === undefined || sp === null || sp.status !== 'active') return 'unknown_service_point';
  if (t.servicePointId !== sp.id) return 'terminal_not_at_service_point';
  if (CREDITS_SERVICE_POINT.has(item.op) && sp.virtualCardId === null) return 'no_virtual_card';
  if (item.op === 'recharge' || item.op === 'transfer') return 'operation_not_allowed';
  return undefined;
}

/**
 * A terminal that typed too many unknown transaction codes lately may not redeem codes until
 * `blockedUntil` (ms since the epoch; undefined: not blocked): online code guessing gets nowhere.
 */
export function codeGuessVerdict(item: LedgerItem, blockedUntil: number | undefined, nowMs: number): Outcome | undefined {
  if (item.codeHash === undefined || blockedUntil === undefined) return undefined;
  return nowMs < blockedUntil ? 'code_guessing' : undefined;
}

/** A transaction code typed in instead of a card. `usedInBatch`: redeemed by an earlier item. */
export function codeVerdict(item: LedgerItem, code: CodeFacts | null | undefined, usedInBatch: boolean, nowMs: number): Outcome | undefined {
  if (item.codeHash === undefined || code === undefined) return undefined;
  if (code === null) return 'unknown_code';
  if (code.used || usedInBatch) return 'code_used';
  if (code.expiresAt <= nowMs) return 'code_expired';
  if (code.servicePointId !== null && code.servicePointId !== item.servicePointId) return 'code_wrong_service_point';
  if (!PAYS.has(item.op)) return 'operation_not_allowed';
  return undefined;
}

/** Valid through the last day of its month (YYMM, 20YY): expired once today's month is past it. Runs twice a message. */
export function cardExpired(expiry: string, today: string): boolean {
  const card = 2000_00 + Number(expiry.slice(0, 4));
  const month = Number(today.slice(0, 4)) * 100 + Number(today.slice(5, 7));
  return month > card;
}

function outsideValidity(p: ProfileFacts, today: string): boolean {
  return (p.validFrom !== null && today < p.validFrom) || (p.validTo !== null && today > p.validTo);
}

/** A limit or fact that is there (neither null nor unknown). */
function given<T>(v: T | null | undefined): v is T {
  return v !== null && v !== undefined;
}

function serviceAllowed(item: LedgerItem, p: ProfileFacts): boolean {
  if (PAYS.has(item.op)) return item.codeHash !== undefined || p[item.service ?? 'fuel'] === true;
  if (item.op === 'inquiry' && item.source === 'terminal') return p.fuel || p.dotation || p.ticket;
  return true;
}

function flagAllows(item: LedgerItem, p: ProfileFacts): boolean {
  if (item.op === 'recharge') return p.recharge;
  if (item.op === 'transfer') return p.transfer;
  return true;
}

function outsideNetwork(card: CardFacts, networkId: number | null | undefined, target: TargetFacts): boolean {
  return card.clientId !== target.clientId && (networkId === null || networkId === undefined || networkId !== target.networkId);
}

/**
 * The cardholder PIN of a terminal's card payment or inquiry (DE52, as a digest), against the
 * card's: checked when the profile requires it or the terminal sent one for a card that has one.
 * The try that reaches PIN_TRIES wrong answers 75 at once.
 */
export function pinVerdict(item: LedgerItem, pin: PinFacts | undefined): Outcome | undefined {
  if (pin === undefined || item.source !== 'terminal' || !PIN_OPS.has(item.op) || item.codeHash !== undefined) return undefined;
  const presented = item.pinDigest !== undefined;
  if (!pin.required && !presented) return undefined;
  if (pin.stored === null) return pin.required ? 'pin_missing' : undefined;
  if (pin.tries >= PIN_TRIES) return 'pin_tries_exceeded';
  if (!presented) return 'pin_missing';
  if (item.pinDigest !== pin.stored) return pin.tries + 1 >= PIN_TRIES ? 'pin_tries_exceeded' : 'pin_wrong';
  return undefined;
}

/**
 * The checks of a card operation that no earlier item of a batch can change: the card, its
 * status and expiry, the profile's flags, the amount, the transfer target or funding account,
 * the currencies, the per-transaction limit.
 */
export function cardVerdict(item: LedgerItem, f: ItemFacts, today: string): Outcome | undefined {
  const card = f.card;
  const p = f.profile;
  const amount = item.amount ?? 0;
  if (card === undefined) return undefined;
  if (card === null || p === null) return 'unknown_card';
  if (card.status !== 'active') return 'card_restricted';
  if (cardExpired(card.expiry, today)) return 'card_expired';
  if (p !== undefined && outsideValidity(p, today)) return 'card_expired';
  if (item.cardExpiry !== undefined && item.cardExpiry !== card.expiry) return 'card_expiry_mismatch';
  const pin = pinVerdict(item, f.pin);
  if (pin !== undefined) return pin;
  if (item.currency !== undefined && f.currency !== undefined && item.currency !== f.currency) return 'currency_mismatch';
  if (p !== undefined && !serviceAllowed(item, p)) return 'service_not_allowed';
  if (p !== undefined && !flagAllows(item, p)) return 'operation_not_allowed';
  if (MOVES_AMOUNT.has(item.op) && !(amount > 0)) return 'invalid_amount';
  if (f.code && amount > f.code.amountMax) return 'code_amount_exceeded';
  if (item.op === 'transfer' && f.target === null) return 'unknown_card';
  if (item.op === 'transfer' && f.target && f.target.id === card.id) return 'invalid_transfer';
  if (item.op === 'transfer' && f.target && f.target.status !== 'active' && f.target.status !== 'blocked') return 'card_restricted';
  if (item.op === 'transfer' && f.target && outsideNetwork(card, f.networkId, f.target)) return 'transfer_outside_network';
  if (item.op === 'recharge' && f.hasFunding === false) return 'no_funding_account';
  if (given(f.counterCurrency) && f.currency !== undefined && f.counterCurrency !== f.currency) return 'currency_mismatch';
  if (f.selfMovement === true) return 'operation_not_allowed';
  if (PAYS.has(item.op) && given(p?.limitPerTxn) && amount > p.limitPerTxn) return 'limit_amount';
  return undefined;
}

/**
 * Everything that can be decided from rows alone, before any running state: what the switch
 * checks on its cached view (its facts lack accounts, codes and targets, so those checks are
 * skipped there), and what the posting checks first for every item.
 */
export function staticVerdict(item: LedgerItem, f: ItemFacts, today: string, nowMs: number, codeUsedInBatch = false): Outcome | undefined {
  if (item.preset !== undefined) return item.preset;
  const op = operationVerdict(item);
  if (op !== undefined) return op;
  const term = terminalVerdict(item, f);
  if (term !== undefined) return term;
  if (!CARD_OPS.has(item.op)) return undefined;
  const code = codeVerdict(item, f.code, codeUsedInBatch, nowMs);
  if (code !== undefined) return code;
  return cardVerdict(item, f, today);
}

// ------------------------------------------------------------------------------- a batch

/** A card or funding account as locked, then as the batch changes it. */
export interface AccountState {
  id: number;
  currency: string;
  balance: number;
  held: number;
  /** YYYY-MM-DD, or null before any use */
  usageDay: string | null;
  dayAmount: number;
  dayCount: number;
  /** YYYY-MM-01 */
  usageMonth: string | null;
  monthAmount: number;
  monthCount: number;
}

export interface HoldState {
  /** null: opened by this batch */
  id: number | null;
  accountId: number;
  amount: number;
  status: 'open' | 'completed' | 'reversed' | 'expired';
  expiresAt: number;
  closedBy: number | null;
}

/**
 * A journal row that an item refers to (the original of a key, of a completion, reversal or
 * expiry), from the journal or made by an earlier item of the batch. Items that refer to one row
 * share one object, so each sees what the earlier ones did to it.
 */
export interface JournalState {
  id: number;
  op: string;
  outcome: Outcome;
  amount: number;
  cardId: number | null;
  counterCardId: number | null;
  cardAccountId: number | null;
  counterAccountId: number | null;
  /** UTC date it was posted, YYYY-MM-DD */
  day: string;
  /** When it was posted, ms since the epoch. */
  postedMs: number;
  requestHash: string | null;
  approvalCode: string | null;
  available: number | null;
  reversedBy: number | null;
  hold: HoldState | null;
  /** Made by item `batchIndex` of this batch (written by the batch's insert, not updated). */
  batchIndex: number | null;
}

/** An item's rows, as read under the batch's locks. */
export interface ItemSnapshot {
  facts: ItemFacts;
  codeId: number | null;
  cardId: number | null;
  cardAccountId: number | null;
  /** The account credited by a purchase, preauth (virtual card) or transfer (target), debited by a recharge (funding). */
  counterCardId: number | null;
  counterAccountId: number | null;
  /** The journal row with this item's key (terminal, STAN, DE7), not itself a duplicate. */
  keyRow: JournalState | null;
  /** The journal row this item names (DE90 of a completion or reversal, or an expiry's journal id). */
  originalRow: JournalState | null;
  /**
   * Reversals: the last journal id its terminal's latest balanced reconciliation counted (null:
   * none), read after the batch's share lock on the terminal, which a reconciliation waits for.
   */
  reconciledUpTo?: number | null;
}

export interface BatchInput {
  items: readonly LedgerItem[];
  snapshots: readonly ItemSnapshot[];
  /** The journal id of each item, drawn from the sequence. */
  ids: readonly number[];
  /** Every account the batch locked, by id. */
  accounts: ReadonlyMap<number, AccountState>;
  now: Date;
  holdTtlMs: number;
  /** A reversal of an original older than this is refused (0: no window). */
  reversalWindowMs?: number;
}

/** What an item's journal row says. */
export interface ItemDecision {
  outcome: Outcome;
  duplicate: boolean;
  originalId: number | null;
  approvalCode: string | null;
  available: number | null;
  cardId: number | null;
  counterCardId: number | null;
  codeId: number | null;
  /** The movement: amount leaves debit and reaches credit. */
  debit: number | null;
  credit: number | null;
  entry: number | null;
  /** Set when a later item of the batch reversed this one. */
  reversedBy: number | null;
  /** The amount journaled when it is not the item's (an expiry journals its hold's). */
  amount: number | null;
}

export interface NewHold {
  journalId: number;
  hold: HoldState;
}

export interface BatchDecision {
  items: ItemDecision[];
  /** Accounts changed, with their state as locked. */
  changed: { before: AccountState; after: AccountState }[];
  newHolds: NewHold[];
  /** Holds of the journal closed by this batch. */
  closedHolds: HoldState[];
  /** Journal rows (not of this batch) reversed by it: [original id, reversal id]. */
  reversed: [number, number][];
  /** Codes redeemed: [code id, journal id]. */
  usedCodes: [number, number][];
  /** Cards whose PIN tries changed: their count after the batch, and the digest it was counted against. */
  pinTries: { cardId: number; tries: number; stored: string }[];
}

/** Outcomes reached before the PIN check: a right PIN behind one of them was not checked, and clears no tries. */
const BEFORE_PIN: ReadonlySet<Outcome> = new Set<Outcome>([
  'format_error', 'unsupported_message', 'system_error', 'unsupported_operation', 'duplicate_mismatch',
  'unknown_terminal', 'terminal_blocked', 'terminal_not_initialized', 'unknown_service_point', 'terminal_not_at_service_point', 'no_virtual_card',
  'unknown_code', 'code_guessing', 'code_used', 'code_expired', 'code_wrong_service_point',
  'unknown_card', 'card_restricted', 'card_expired', 'card_expiry_mismatch', 'pin_missing', 'pin_wrong', 'pin_tries_exceeded',
]);

/** An account the decision needs was not locked (a row appeared between the lock and the read): post the batch again. */
export class AccountNotLockedError extends Error {
  constructor(readonly accountId: number) {
    super(`account ${accountId} was not locked by the batch`);
    this.name = 'AccountNotLockedError';
  }
}

export function approvalCode(journalId: number): string {
  return String(journalId % 1_000_000).padStart(6, '0');
}

const DAY_MS = 86_400_000;
/** The last day utcDay gave: every message asks for it, and formatting a date cost 0.7 µs. */
let lastDay = Number.NaN;
let lastDayText = '';

/** The UTC day of `d`, 'YYYY-MM-DD'. */
export function utcDay(d: Date): string {
  const day = Math.floor(d.getTime() / DAY_MS);
  if (day !== lastDay) {
    lastDayText = d.toISOString().slice(0, 10); // throws for an invalid date, before anything is kept
    lastDay = day;
  }
  return lastDayText;
}

function key(item: LedgerItem): string | null {
  if (item.terminalId === undefined || item.stan === undefined || item.transmissionAt === undefined) return null;
  return `${item.terminalId}\u0000${item.stan}\u0000${item.transmissionAt}`;
}

function originalKey(item: LedgerItem): string | null {
  if (item.terminalId === undefined || item.original === undefined) return null;
  return `${item.terminalId}\u0000${item.original.stan}\u0000${item.original.transmissionAt}`;
}

const REVERSIBLE: ReadonlySet<string> = new Set(['purchase', 'preauth', 'completion', 'inquiry']);

/**
 * Decides a batch in arrival order: each item sees what the earlier ones did (balances, holds,
 * limits used, codes redeemed, originals reversed). Pure: the posting writes the result.
 */
export function decideBatch(input: BatchInput): BatchDecision {
  const { items, snapshots, ids, now } = input;
  const nowMs = now.getTime();
  const windowMs = input.reversalWindowMs ?? 0;
  const today = utcDay(now);
  const month = `${today.slice(0, 7)}-01`;
  const working = new Map<number, AccountState>();
  const account = (id: number | null): AccountState => {
    if (id === null) throw new Error('an item moved money without an account');
    let a = working.get(id);
    if (a === undefined) {
      const locked = input.accounts.get(id);
      if (locked === undefined) throw new AccountNotLockedError(id);
      a = { ...locked };
      working.set(id, a);
    }
    return a;
  };
  const available = (a: AccountState): number => a.balance - a.held;
  /** Limits used, rolled over to today and this month. */
  const usage = (a: AccountState): AccountState => {
    if (a.usageDay !== today) Object.assign(a, { usageDay: today, dayAmount: 0, dayCount: 0 });
    if (a.usageMonth !== month) Object.assign(a, { usageMonth: month, monthAmount: 0, monthCount: 0 });
    return a;
  };
  /** Gives back what a pre-authorization or purchase of `row` counted toward the limits. */
  const giveBack = (a: AccountState, row: JournalState, amount: number, count: number): void => {
    usage(a);
    if (row.day === today) {
      a.dayAmount -= amount;
      a.dayCount -= count;
    }
    if (`${row.day.slice(0, 7)}-01` === month) {
      a.monthAmount -= amount;
      a.monthCount -= count;
    }
  };

  const out: ItemDecision[] = [];
  /** The account of the card each item concerns (a completion's or reversal's is its original's). */
  const cardAccount: (number | null)[] = snapshots.map((x) => x.cardAccountId);
  /** ... and of the account on the other side of its movement (a completion's is its preauth's). */
  const counterAccount: (number | null)[] = snapshots.map((x) => x.counterAccountId);
  /** The hold item k opened (an approved pre-authorization). */
  const heldBy: (HoldState | undefined)[] = [];
  const batchRows = new Map<string, JournalState>();
  const usedCodes = new Set<number>();
  const result: BatchDecision = { items: out, changed: [], newHolds: [], closedHolds: [], reversed: [], usedCodes: [], pinTries: [] };
  const pinChanged = new Map<number, PinFacts>();

  for (let k = 0; k < items.length; k++) {
    const item = items[k];
    const s = snapshots[k];
    const id = ids[k];
    const d: ItemDecision = {
      outcome: 'approved',
      duplicate: false,
      originalId: null,
      approvalCode: null,
      available: null,
      cardId: s.cardId,
      counterCardId: null,
      codeId: s.codeId,
      debit: null,
      credit: null,
      entry: null,
      reversedBy: null,
      amount: null,
    };
    out.push(d);
    const move = (from: AccountState, to: AccountState, amount: number): void => {
      from.balance -= amount;
      to.balance += amount;
      d.debit = from.id;
      d.credit = to.id;
      d.entry = amount;
    };

    // 1. A duplicate of an earlier message: the original's answer, no effect.
    const k1 = key(item);
    const first = k1 === null ? null : (s.keyRow ?? batchRows.get(k1) ?? null);
    if (first !== null) {
      d.duplicate = true;
      d.originalId = first.id;
      if ((first.requestHash ?? null) !== (item.requestHash ?? null)) d.outcome = 'duplicate_mismatch';
      else {
        d.outcome = first.outcome;
        d.available = first.available;
        d.approvalCode = first.approvalCode;
      }
      continue;
    }

    d.outcome = decideItem();
    countPinTry();
    if (d.outcome !== 'approved') d.counterCardId = null;
    if (d.outcome === 'unknown_card') d.cardId = null;
    if (d.outcome === 'approved') d.approvalCode = approvalCode(id);
    if (k1 !== null) batchRows.set(k1, rowOf(k));

    function decideItem(): Outcome {
      const early = staticVerdict(item, s.facts, today, nowMs, s.codeId !== null && usedCodes.has(s.codeId));
      if (early !== undefined) return early;
      switch (item.op) {
        case 'completion':
          return completion();
        case 'reversal':
          return reversal();
        case 'expire':
          return expire();
        default:
          return cardOperation();
      }
    }

    /** A wrong PIN counts a try; a right one that was checked clears them (not once blocked). */
    function countPinTry(): void {
      const pin = s.facts.pin;
      if (pin === undefined || item.pinDigest === undefined || s.cardId === null || pin.stored === null || pin.tries >= PIN_TRIES) return;
      if (item.pinDigest !== pin.stored) {
        if (d.outcome !== 'pin_wrong' && d.outcome !== 'pin_tries_exceeded') return;
        pin.tries++;
      } else {
        if (pin.tries === 0 || BEFORE_PIN.has(d.outcome)) return;
        pin.tries = 0;
      }
      pinChanged.set(s.cardId, pin);
    }

    /** The row an item names: in the journal, or an earlier item of this batch. */
    function named(): JournalState | null {
      if (s.originalRow !== null) return s.originalRow;
      const ok = originalKey(item);
      return ok === null ? null : (batchRows.get(ok) ?? null);
    }

    function completion(): Outcome {
      const o = named();
      if (o === null) return 'original_not_found';
      d.originalId = o.id;
      const hold = o.hold;
      if (o.op !== 'preauth' || o.outcome !== 'approved' || hold === null || hold.status !== 'open') return 'original_not_found';
      const amount = item.amount ?? 0;
      if (amount > hold.amount) return 'invalid_amount';
      cardAccount[k] = o.cardAccountId;
      counterAccount[k] = o.counterAccountId;
      const a = account(o.cardAccountId);
      a.held -= hold.amount;
      if (amount > 0) move(a, account(o.counterAccountId), amount);
      giveBack(a, o, hold.amount - amount, 0);
      hold.status = 'completed';
      hold.closedBy = id;
      if (hold.id !== null) result.closedHolds.push(hold);
      d.cardId = o.cardId;
      d.counterCardId = o.counterCardId;
      d.available = a.balance - a.held;
      return 'approved';
    }

    function reversal(): Outcome {
      const o = named();
      if (o === null) return 'original_not_found';
      d.originalId = o.id;
      d.cardId = o.cardId;
      d.counterCardId = o.counterCardId;
      cardAccount[k] = o.cardAccountId;
      // An original of this batch is neither counted by a reconciliation nor old.
      if (o.batchIndex === null) {
        if (s.reconciledUpTo !== undefined && s.reconciledUpTo !== null && o.id <= s.reconciledUpTo) return 'reversal_after_reconciliation';
        if (windowMs > 0 && nowMs - o.postedMs > windowMs) return 'reversal_too_late';
      }
      const nothingToUndo =
        o.reversedBy !== null || o.outcome !== 'approved' || !REVERSIBLE.has(o.op) || (o.op === 'preauth' && (o.hold === null || o.hold.status !== 'open'));
      if (nothingToUndo) {
        // idempotent: acknowledged, nothing moves; the card's balance as it stands
        if (o.cardAccountId !== null) d.available = available(account(o.cardAccountId));
        return 'approved';
      }
      const a = o.cardAccountId === null ? null : account(o.cardAccountId);
      if (o.op === 'preauth' && a !== null && o.hold !== null) {
        a.held -= o.hold.amount;
        giveBack(a, o, o.amount, 1);
        o.hold.status = 'reversed';
        o.hold.closedBy = id;
        if (o.hold.id !== null) result.closedHolds.push(o.hold);
      } else if ((o.op === 'purchase' || o.op === 'completion') && o.amount > 0 && a !== null) {
        const v = account(o.counterAccountId);
        if (v.balance - v.held < o.amount) return 'insufficient_funds';
        move(v, a, o.amount);
        if (o.op === 'purchase') giveBack(a, o, o.amount, 1);
      }
      o.reversedBy = id;
      if (o.batchIndex === null) result.reversed.push([o.id, id]);
      else out[o.batchIndex].reversedBy = id;
      if (a !== null) d.available = a.balance - a.held;
      return 'approved';
    }

    function expire(): Outcome {
      const o = s.originalRow;
      // only a pre-authorization has a hold (a duplicate of one has none, and is no original)
      if (o === null || o.hold === null) return 'original_not_found';
      d.originalId = o.id;
      d.cardId = o.cardId;
      const hold = o.hold;
      cardAccount[k] = hold.accountId;
      if (hold.status !== 'open' || hold.expiresAt > nowMs) return 'original_not_found';
      d.amount = hold.amount;
      const a = account(hold.accountId);
      a.held -= hold.amount;
      giveBack(a, o, o.amount, 1);
      hold.status = 'expired';
      hold.closedBy = id;
      if (hold.id !== null) result.closedHolds.push(hold);
      d.available = a.balance - a.held;
      return 'approved';
    }

    function cardOperation(): Outcome {
      const codeId = s.codeId;
      const a = account(s.cardAccountId);
      const p = s.facts.profile;
      const amount = item.amount ?? 0;
      if (item.op === 'purchase' || item.op === 'preauth') {
        usage(a);
        if (given(p?.limitDayAmount) && a.dayAmount + amount > p.limitDayAmount) return 'limit_amount';
        if (given(p?.limitMonthAmount) && a.monthAmount + amount > p.limitMonthAmount) return 'limit_amount';
        if (given(p?.limitDayCount) && a.dayCount + 1 > p.limitDayCount) return 'limit_count';
        if (given(p?.limitMonthCount) && a.monthCount + 1 > p.limitMonthCount) return 'limit_count';
      }
      if ((item.op === 'purchase' || item.op === 'preauth' || item.op === 'transfer') && a.balance - a.held < amount) return 'insufficient_funds';
      switch (item.op) {
        case 'purchase':
        case 'transfer':
          move(a, account(s.counterAccountId), amount);
          break;
        case 'preauth': {
          a.held += amount;
          const hold: HoldState = { id: null, accountId: a.id, amount, status: 'open', expiresAt: nowMs + input.holdTtlMs, closedBy: null };
          result.newHolds.push({ journalId: id, hold });
          heldBy[k] = hold;
          break;
        }
        case 'recharge':
          move(account(s.counterAccountId), a, amount);
          break;
      }
      if (item.op === 'purchase' || item.op === 'preauth') {
        a.dayAmount += amount;
        a.dayCount += 1;
        a.monthAmount += amount;
        a.monthCount += 1;
      }
      if (codeId !== null) {
        usedCodes.add(codeId);
        result.usedCodes.push([codeId, id]);
      }
      d.counterCardId = s.counterCardId;
      d.available = a.balance - a.held;
      return 'approved';
    }
  }

  /** The journal row item k made, as later items of the batch see it. */
  function rowOf(k: number): JournalState {
    const d = out[k];
    const it = items[k];
    const newHold = heldBy[k] ?? null;
    return {
      id: ids[k],
      op: it.op,
      outcome: d.outcome,
      amount: Math.max(it.amount ?? 0, 0),
      cardId: d.cardId,
      counterCardId: d.counterCardId,
      cardAccountId: cardAccount[k],
      counterAccountId: d.outcome === 'approved' ? counterAccount[k] : null,
      day: today,
      postedMs: nowMs,
      requestHash: it.requestHash ?? null,
      approvalCode: d.approvalCode,
      available: d.available,
      reversedBy: null,
      hold: newHold,
      batchIndex: k,
    };
  }

  for (const [id, after] of working) {
    const before = input.accounts.get(id) as AccountState;
    if (
      after.balance !== before.balance ||
      after.held !== before.held ||
      after.usageDay !== before.usageDay ||
      after.usageMonth !== before.usageMonth ||
      after.dayAmount !== before.dayAmount ||
      after.dayCount !== before.dayCount ||
      after.monthAmount !== before.monthAmount ||
      after.monthCount !== before.monthCount
    ) {
      result.changed.push({ before, after });
    }
  }
  for (const [cardId, pin] of pinChanged) result.pinTries.push({ cardId, tries: pin.tries, stored: pin.stored as string });
  return result;
}
