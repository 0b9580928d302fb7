/**
 * A reference ledger for the model-based test (ledger-model.test.ts), written from the ledger's
 * rules (as docs/architecture.md and db/ledger/rules.ts' header state them), not from the implementation: plain maps of terminals,
 * service points, cards, profiles, accounts, holds, journal rows and transaction codes. `post`
 * takes the same items as `Ledger.post` (and the journal ids the database gave them: an id is
 * an identifier, not a decision) and says, per item, what the rules say; the state changes as
 * the rules say.
 *
 * Where the rules leave a value open, the model says `undefined` ("any"), and the comparison
 * skips it.
 */
import type { LedgerItem } from '../../db/ledger.js';
import type { Outcome } from '../../db/outcomes.js';

/** The new `expire` op (a system item naming the pre-authorization's journal row). */
export type ModelItem = Omit<LedgerItem, 'op' | 'source'> & {
  op: LedgerItem['op'] | 'expire';
  source: LedgerItem['source'] | 'system';
  originalJournalId?: number;
};

/**
 * Rules the new ledger adds (NEW in the specification); each can be switched off to compare the
 * model with today's ledger (the PL/pgSQL function of migration 007).
 */
export interface Rules {
  /** terminal_not_initialized */
  terminalInitialized: boolean;
  /** currency_mismatch on the counter account (virtual card, transfer target, funding account) */
  counterCurrency: boolean;
  /** `available` only on approvals (today's ledger also gives it on declined inquiries) */
  availableOnlyApproved: boolean;
  /** a refund the credited account cannot cover is declined insufficient_funds */
  refundGuard: boolean;
  /** reversal_too_late: a reversal of an original posted longer ago than this (0: none) */
  reversalWindowMs: number;
}

export const SPEC_RULES: Rules = { terminalInitialized: true, counterCurrency: true, availableOnlyApproved: true, refundGuard: true, reversalWindowMs: 24 * 3_600_000 };
export const LEGACY_RULES: Rules = { terminalInitialized: false, counterCurrency: false, availableOnlyApproved: false, refundGuard: false, reversalWindowMs: 0 };

export interface MTerminal {
  id: string;
  servicePointId: number;
  status: 'active' | 'blocked';
  initialized: boolean;
}

export interface MServicePoint {
  id: number;
  active: boolean;
  virtualCardId: number | null;
}

export interface MClient {
  id: number;
  networkId: number | null;
  fundingAccountId: number | null;
}

export interface MProfile {
  id: number;
  fuel: boolean;
  dotation: boolean;
  ticket: boolean;
  transfer: boolean;
  recharge: boolean;
  limitPerTxn: number | null;
  limitDayAmount: number | null;
  limitDayCount: number | null;
  limitMonthAmount: number | null;
  limitMonthCount: number | null;
  /** YYYY-MM-DD */
  validFrom: string | null;
  validTo: string | null;
}

export interface MCard {
  id: number;
  accountId: number;
  clientId: number;
  profileId: number;
  status: 'active' | 'blocked' | 'opposed' | 'cancelled';
  /** YYMM */
  expiry: string;
  isVirtual: boolean;
}

export interface MAccount {
  id: number;
  kind: 'card' | 'service_point' | 'funding';
  currency: string;
  balance: number;
  held: number;
  /** YYYY-MM-DD / YYYY-MM the usage counts belong to */
  usageDay: string | null;
  dayAmount: number;
  dayCount: number;
  usageMonth: string | null;
  monthAmount: number;
  monthCount: number;
}

export interface MCode {
  id: number;
  hash: string;
  cardId: number;
  amountMax: number;
  /** ms since the epoch */
  expiresAt: number;
  servicePointId: number | null;
  used: boolean;
}

export interface MHold {
  journalId: number;
  accountId: number;
  amount: number;
  status: 'open' | 'completed' | 'reversed' | 'expired';
  expiresAt: number;
}

export interface MJournal {
  id: number;
  op: string;
  outcome: Outcome;
  duplicateOf: number | null;
  /** The original of an approved completion or reversal (undefined: the rules do not say). */
  originalId: number | null | undefined;
  requestHash: string | null;
  available: number | null | undefined;
  approvalCode: string | null;
  /** Whether a reversal undid it (undefined: not compared, nothing to undo). */
  reversed: boolean | undefined;
  /** Holder card (undefined: the rules do not say) and credited card. */
  cardId: number | null | undefined;
  counterCardId: number | null;
  amount: number;
  /** YYYY-MM-DD of `now` when posted */
  day: string;
  /** `now` when posted, ms */
  postedMs: number;
}

export interface ModelState {
  terminals: Map<string, MTerminal>;
  servicePoints: Map<number, MServicePoint>;
  clients: Map<number, MClient>;
  profiles: Map<number, MProfile>;
  cards: Map<number, MCard>;
  accounts: Map<number, MAccount>;
  codes: Map<string, MCode>;
  holds: Map<number, MHold>;
  journal: Map<number, MJournal>;
  /** (terminal, STAN, DE7) → the journal id of that key's original */
  keys: Map<string, number>;
}

export function emptyState(): ModelState {
  return {
    terminals: new Map(),
    servicePoints: new Map(),
    clients: new Map(),
    profiles: new Map(),
    cards: new Map(),
    accounts: new Map(),
    codes: new Map(),
    holds: new Map(),
    journal: new Map(),
    keys: new Map(),
  };
}

export interface Expected {
  outcome: Outcome;
  duplicate: boolean;
  /** undefined: not compared */
  originalId: number | null | undefined;
  available: number | null | undefined;
  approvalCode: string | null;
}

export const HOLD_TTL_MS = 2 * 3600 * 1000;

const TERMINAL_OPS = new Set(['purchase', 'preauth', 'completion', 'reversal', 'inquiry', 'recharge', 'transfer', 'expire']);
const REVERSIBLE = new Set(['purchase', 'preauth', 'completion', 'inquiry']);

export function dayOf(now: Date): string {
  return now.toISOString().slice(0, 10);
}

export function keyOf(terminalId: string | undefined, stan: string | undefined, dt: string | undefined): string | null {
  return terminalId !== undefined && stan !== undefined && dt !== undefined ? `${terminalId}|${stan}|${dt}` : null;
}

export function approvalCodeOf(journalId: number): string {
  return String(journalId % 1_000_000).padStart(6, '0');
}

/** Valid through the last day of month 20YY-MM: expired once `today` reaches the next month. */
function cardExpired(expiry: string, today: string): boolean {
  const yy = 2000 + Number(expiry.slice(0, 2));
  const mm = Number(expiry.slice(2, 4));
  const next = mm === 12 ? `${yy + 1}-01-01` : `${yy}-${String(mm + 1).padStart(2, '0')}-01`;
  return next <= today;
}

export class LedgerModel {
  constructor(
    public state: ModelState,
    readonly rules: Rules,
  ) {}

  clone(): LedgerModel {
    return new LedgerModel(structuredClone(this.state), this.rules);
  }

  private rollOver(a: MAccount, today: string): void {
    if (a.usageDay !== today) {
      a.usageDay = today;
      a.dayAmount = 0;
      a.dayCount = 0;
    }
    const month = today.slice(0, 7);
    if (a.usageMonth !== month) {
      a.usageMonth = month;
      a.monthAmount = 0;
      a.monthCount = 0;
    }
  }

  /** Usage given back (or corrected) for an operation made on `day`: amount and count, today's and this month's only. */
  private adjustUsage(a: MAccount, day: string, today: string, amount: number, count: number): void {
    this.rollOver(a, today);
    if (day === today) {
      a.dayAmount += amount;
      a.dayCount += count;
    }
    if (day.slice(0, 7) === today.slice(0, 7)) {
      a.monthAmount += amount;
      a.monthCount += count;
    }
  }

  private cardAccount(cardId: number | null | undefined): MAccount | undefined {
    if (cardId === null || cardId === undefined) return undefined;
    const c = this.state.cards.get(cardId);
    return c ? this.state.accounts.get(c.accountId) : undefined;
  }

  private availableOf(cardId: number | null | undefined): number | undefined {
    const a = this.cardAccount(cardId);
    return a ? a.balance - a.held : undefined;
  }

  /** Decides a batch, item by item in order, each seeing the earlier ones' effects. */
  post(items: readonly ModelItem[], now: Date, journalIds: readonly number[]): Expected[] {
    const out: Expected[] = [];
    for (let k = 0; k < items.length; k++) out.push(this.postOne(items[k], now, journalIds[k]));
    return out;
  }

  private postOne(it: ModelItem, now: Date, id: number): Expected {
    const s = this.state;
    const today = dayOf(now);
    const key = keyOf(it.terminalId, it.stan, it.transmissionAt);
    const rh = it.requestHash?.toLowerCase() ?? null;
    const row: MJournal = {
      id,
      op: it.op,
      outcome: 'approved',
      duplicateOf: null,
      originalId: null,
      requestHash: rh,
      available: null,
      approvalCode: null,
      reversed: undefined,
      cardId: undefined,
      counterCardId: null,
      amount: Math.max(it.amount ?? 0, 0),
      day: today,
      postedMs: now.getTime(),
    };
    s.journal.set(id, row);

    // 1. duplicate
    const origId = key !== null ? s.keys.get(key) : undefined;
    if (origId !== undefined) {
      const o = s.journal.get(origId)!;
      row.duplicateOf = origId;
      row.originalId = undefined;
      if (o.requestHash !== rh) {
        row.outcome = 'duplicate_mismatch';
      } else {
        row.outcome = o.outcome;
        row.available = o.available;
        row.approvalCode = o.approvalCode;
      }
      return { outcome: row.outcome, duplicate: true, originalId: origId, available: row.available, approvalCode: row.approvalCode };
    }
    if (key !== null) s.keys.set(key, id);

    const decide = (): Outcome => this.decide(it, now, today, row);
    const outcome = it.preset ?? decide();
    row.outcome = outcome;
    if (outcome === 'approved') {
      row.approvalCode = approvalCodeOf(id);
    } else {
      row.available = this.rules.availableOnlyApproved ? null : undefined;
      // a declined completion or reversal may or may not name the original it found
      row.originalId = it.op === 'completion' || it.op === 'reversal' || it.op === 'expire' ? undefined : null;
    }
    return { outcome, duplicate: false, originalId: row.originalId, available: row.available, approvalCode: row.approvalCode };
  }

  /** Rules 3-7 for an item that is neither a duplicate nor preset; sets the row's card, available, original. */
  private decide(it: ModelItem, now: Date, today: string, row: MJournal): Outcome {
    const s = this.state;
    // the row's card, unless the rules below say otherwise: the item's card when it exists
    row.cardId = it.cardId !== undefined && s.cards.has(it.cardId) ? it.cardId : it.codeHash === undefined ? null : undefined;

    // 3. operation
    if (!TERMINAL_OPS.has(it.op)) return 'unsupported_operation';

    // 4. terminal
    if (it.source === 'terminal') {
      const t = it.terminalId === undefined ? undefined : s.terminals.get(it.terminalId);
      if (!t) return 'unknown_terminal';
      if (t.status !== 'active') return 'terminal_blocked';
      if (this.rules.terminalInitialized && !t.initialized) return 'terminal_not_initialized';
      const sp = it.servicePointId === undefined ? undefined : s.servicePoints.get(it.servicePointId);
      if (!sp || !sp.active) return 'unknown_service_point';
      if (t.servicePointId !== sp.id) return 'terminal_not_at_service_point';
      if ((it.op === 'purchase' || it.op === 'preauth' || it.op === 'completion') && sp.virtualCardId === null) return 'no_virtual_card';
      if (it.op === 'recharge' || it.op === 'transfer') return 'operation_not_allowed';
    }

    if (it.op === 'completion' || it.op === 'reversal') return this.completionOrReversal(it, now, today, row);
    if (it.op === 'expire') return this.expire(it, now, today, row);
    return this.cardOperation(it, now, today, row);
  }

  private completionOrReversal(it: ModelItem, now: Date, today: string, row: MJournal): Outcome {
    const s = this.state;
    const okey = it.original ? keyOf(it.terminalId, it.original.stan, it.original.transmissionAt) : null;
    const oid = okey === null ? undefined : s.keys.get(okey);
    if (oid === undefined) return 'original_not_found';
    const o = s.journal.get(oid)!;
    // the row's card and credited card are the original's (a declined original's card is not named by the rules)
    row.cardId = o.outcome === 'approved' ? o.cardId : undefined;
    const hold = s.holds.get(oid);
    if (it.op === 'completion') {
      if (o.op !== 'preauth' || o.outcome !== 'approved' || !hold || hold.status !== 'open') return 'original_not_found';
      const amount = it.amount ?? 0;
      if (amount > hold.amount) return 'invalid_amount';
      const a = s.accounts.get(hold.accountId)!;
      a.held -= hold.amount;
      if (amount > 0) {
        const v = this.cardAccount(o.counterCardId)!;
        a.balance -= amount;
        v.balance += amount;
      }
      this.adjustUsage(a, o.day, today, amount - hold.amount, 0);
      hold.status = 'completed';
      row.counterCardId = o.counterCardId;
      row.originalId = oid;
      row.reversed = amount > 0 ? false : undefined;
      row.available = a.balance - a.held;
      return 'approved';
    }
    // reversal
    if (this.rules.reversalWindowMs > 0 && now.getTime() - o.postedMs > this.rules.reversalWindowMs) return 'reversal_too_late';
    const approvedNothing = (): Outcome => {
      row.originalId = oid;
      // the card of a declined original is not named by the rules
      row.available = o.outcome === 'approved' ? this.availableOf(o.cardId) : undefined;
      return 'approved';
    };
    if (o.reversed === true || o.outcome !== 'approved' || !REVERSIBLE.has(o.op)) return approvedNothing();
    if (o.op === 'preauth' && (!hold || hold.status !== 'open')) return approvedNothing();
    if (o.op === 'inquiry' || o.amount === 0 || o.reversed === undefined) {
      // nothing moves (an inquiry, a completion of 0): approved; whether it is marked is not compared
      o.reversed = undefined;
      return approvedNothing();
    }
    const a = this.cardAccount(o.cardId)!;
    if (o.op === 'preauth') {
      a.held -= hold!.amount;
      hold!.status = 'reversed';
      this.adjustUsage(a, o.day, today, -o.amount, -1);
    } else {
      const v = this.cardAccount(o.counterCardId)!;
      if (this.rules.refundGuard && v.balance - v.held < o.amount) {
        row.originalId = undefined;
        return 'insufficient_funds';
      }
      v.balance -= o.amount;
      a.balance += o.amount;
      if (o.op === 'purchase') this.adjustUsage(a, o.day, today, -o.amount, -1);
    }
    o.reversed = true;
    row.counterCardId = o.counterCardId;
    row.originalId = oid;
    row.available = a.balance - a.held;
    return 'approved';
  }

  private expire(it: ModelItem, now: Date, today: string, row: MJournal): Outcome {
    const s = this.state;
    row.originalId = undefined;
    const hold = it.originalJournalId === undefined ? undefined : s.holds.get(it.originalJournalId);
    if (!hold || hold.status !== 'open' || hold.expiresAt > now.getTime()) return 'original_not_found';
    const o = s.journal.get(hold.journalId)!;
    const a = s.accounts.get(hold.accountId)!;
    a.held -= hold.amount;
    hold.status = 'expired';
    this.adjustUsage(a, o.day, today, -hold.amount, -1);
    row.cardId = o.cardId;
    // the rules do not name the value of `available` for a system item
    row.available = undefined;
    return 'approved';
  }

  private cardOperation(it: ModelItem, now: Date, today: string, row: MJournal): Outcome {
    const s = this.state;
    const amount = it.amount ?? 0;
    let code: MCode | undefined;
    let cardId = it.cardId;
    if (it.codeHash !== undefined) {
      code = s.codes.get(it.codeHash.toLowerCase());
      if (!code) return 'unknown_code';
      row.cardId = code.cardId;
      if (code.used) return 'code_used';
      if (code.expiresAt <= now.getTime()) return 'code_expired';
      if (code.servicePointId !== null && code.servicePointId !== it.servicePointId) return 'code_wrong_service_point';
      if (it.op !== 'purchase' && it.op !== 'preauth') return 'operation_not_allowed';
      cardId = code.cardId;
    }
    const card = cardId === undefined ? undefined : s.cards.get(cardId);
    if (!card) {
      row.cardId = null;
      return 'unknown_card';
    }
    row.cardId = card.id;
    const profile = s.profiles.get(card.profileId)!;
    const acct = s.accounts.get(card.accountId)!;
    if (card.status !== 'active') return 'card_restricted';
    if (cardExpired(card.expiry, today)) return 'card_expired';
    if ((profile.validFrom !== null && today < profile.validFrom) || (profile.validTo !== null && today > profile.validTo)) return 'card_expired';
    if (it.currency !== undefined && it.currency !== acct.currency) return 'currency_mismatch';
    const buying = it.op === 'purchase' || it.op === 'preauth';
    if (buying && !code && !profile[it.service ?? 'fuel']) return 'service_not_allowed';
    if (it.op === 'inquiry' && it.source === 'terminal' && !(profile.fuel || profile.dotation || profile.ticket)) return 'service_not_allowed';
    if (it.op === 'recharge' && !profile.recharge) return 'operation_not_allowed';
    if (it.op === 'transfer' && !profile.transfer) return 'operation_not_allowed';
    if ((buying || it.op === 'recharge' || it.op === 'transfer') && amount <= 0) return 'invalid_amount';
    if (code && amount > code.amountMax) return 'code_amount_exceeded';
    // the account credited or debited against the card
    let counter: MAccount | undefined;
    let counterCardId: number | null = null;
    if (it.op === 'transfer') {
      const target = it.toCardId === undefined ? undefined : s.cards.get(it.toCardId);
      if (!target) return 'unknown_card';
      if (target.id === card.id) return 'invalid_transfer';
      if (target.status !== 'active' && target.status !== 'blocked') return 'card_restricted';
      const from = s.clients.get(card.clientId)!;
      const to = s.clients.get(target.clientId)!;
      if (from.id !== to.id && (from.networkId === null || from.networkId !== to.networkId)) return 'transfer_outside_network';
      counter = s.accounts.get(target.accountId);
      counterCardId = target.id;
    }
    if (it.op === 'recharge') {
      const funding = s.clients.get(card.clientId)!.fundingAccountId;
      if (funding === null) return 'no_funding_account';
      counter = s.accounts.get(funding);
    }
    if (buying) {
      // the service point's virtual card (a back-office purchase names none: the rules do not say)
      const sp = it.servicePointId === undefined ? undefined : s.servicePoints.get(it.servicePointId);
      counterCardId = sp?.virtualCardId ?? null;
      counter = this.cardAccount(counterCardId);
    }
    if (this.rules.counterCurrency && counter && counter.currency !== acct.currency) return 'currency_mismatch';
    if (buying && profile.limitPerTxn !== null && amount > profile.limitPerTxn) return 'limit_amount';
    this.rollOver(acct, today);
    if (buying) {
      if (
        (profile.limitDayAmount !== null && acct.dayAmount + amount > profile.limitDayAmount) ||
        (profile.limitMonthAmount !== null && acct.monthAmount + amount > profile.limitMonthAmount)
      )
        return 'limit_amount';
      if ((profile.limitDayCount !== null && acct.dayCount + 1 > profile.limitDayCount) || (profile.limitMonthCount !== null && acct.monthCount + 1 > profile.limitMonthCount))
        return 'limit_count';
    }
    if ((buying || it.op === 'transfer') && acct.balance - acct.held < amount) return 'insufficient_funds';

    // approved
    if (it.op === 'purchase' || it.op === 'transfer') {
      acct.balance -= amount;
      counter!.balance += amount;
    } else if (it.op === 'preauth') {
      acct.held += amount;
      s.holds.set(row.id, { journalId: row.id, accountId: acct.id, amount, status: 'open', expiresAt: now.getTime() + HOLD_TTL_MS });
    } else if (it.op === 'recharge') {
      acct.balance += amount;
      counter!.balance -= amount;
    }
    if (buying) {
      acct.dayAmount += amount;
      acct.dayCount += 1;
      acct.monthAmount += amount;
      acct.monthCount += 1;
      row.reversed = false;
    }
    if (code) code.used = true;
    row.counterCardId = counterCardId;
    row.available = acct.balance - acct.held;
    return 'approved';
  }
}
