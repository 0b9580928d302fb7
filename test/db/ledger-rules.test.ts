// The ledger's rules alone (db/ledger/rules.ts): no database. Each check answers its outcome on
// the smallest case that reaches it, the order of the checks is the documented one, and a batch
// is decided in arrival order (a later item sees what the earlier ones did).
import t from 'tap';
import fc from 'fast-check';
import {
  AccountNotLockedError,
  cardExpired,
  codeGuessVerdict,
  decideBatch,
  sessionVerdict,
  staticVerdict,
  utcDay,
  type AccountState,
  type ItemFacts,
  type ItemSnapshot,
  type JournalState,
} from '../../db/ledger/rules.js';
import type { LedgerItem } from '../../db/ledger.js';
import { OUTCOME_CODES, answerCode } from '../../db/outcome-codes.js';

const NOW = new Date('2026-12-03T10:00:00Z');
const TODAY = '2026-12-03';

const facts = (over: Partial<ItemFacts> = {}): ItemFacts => ({
  terminal: { servicePointId: 1, status: 'active', initialized: true },
  servicePoint: { id: 1, status: 'active', virtualCardId: 50 },
  card: { id: 10, status: 'active', expiry: '9912', clientId: 1 },
  profile: { fuel: true, dotation: false, ticket: false, transfer: true, recharge: true, validFrom: null, validTo: null, limitPerTxn: 1_000 },
  networkId: 7,
  currency: '952',
  counterCurrency: '952',
  ...over,
});

const purchase = (over: Partial<LedgerItem> = {}): LedgerItem => ({
  op: 'purchase',
  source: 'terminal',
  terminalId: 'TPE00001',
  stan: '000001',
  transmissionAt: '1203100000',
  cardId: 10,
  servicePointId: 1,
  amount: 100,
  currency: '952',
  service: 'fuel',
  requestHash: 'aa',
  ...over,
});

const verdict = (item: LedgerItem, f: ItemFacts = facts()): string | undefined => staticVerdict(item, f, TODAY, NOW.getTime());

t.test('each check, on the smallest case that reaches it', async (t) => {
  const code = { id: 3, used: false, expiresAt: NOW.getTime() + 60_000, amountMax: 500, servicePointId: null };
  const cases: [string, LedgerItem, ItemFacts][] = [
    ['unsupported_operation', purchase({ op: 'refund' as LedgerItem['op'] }), facts()],
    ['unknown_terminal', purchase(), facts({ terminal: null })],
    ['terminal_blocked', purchase(), facts({ terminal: { servicePointId: 1, status: 'blocked', initialized: true } })],
    ['terminal_not_initialized', purchase(), facts({ terminal: { servicePointId: 1, status: 'active', initialized: false } })],
    ['unknown_service_point', purchase(), facts({ servicePoint: null })],
    ['unknown_service_point', purchase(), facts({ servicePoint: { id: 1, status: 'closed', virtualCardId: 50 } })],
    ['unknown_service_point', purchase({ servicePointId: undefined }), facts()],
    ['terminal_not_at_service_point', purchase(), facts({ terminal: { servicePointId: 2, status: 'active', initialized: true } })],
    ['no_virtual_card', purchase(), facts({ servicePoint: { id: 1, status: 'active', virtualCardId: null } })],
    ['operation_not_allowed', purchase({ op: 'transfer' }), facts()],
    ['operation_not_allowed', purchase({ op: 'recharge' }), facts()],
    ['unknown_code', purchase({ codeHash: 'ab' }), facts({ code: null })],
    ['code_used', purchase({ codeHash: 'ab' }), facts({ code: { ...code, used: true } })],
    ['code_expired', purchase({ codeHash: 'ab' }), facts({ code: { ...code, expiresAt: NOW.getTime() } })],
    ['code_wrong_service_point', purchase({ codeHash: 'ab' }), facts({ code: { ...code, servicePointId: 2 } })],
    ['operation_not_allowed', purchase({ op: 'inquiry', codeHash: 'ab' }), facts({ code })],
    ['unknown_card', purchase(), facts({ card: null })],
    ['unknown_card', purchase(), facts({ profile: null })],
    ['card_restricted', purchase(), facts({ card: { id: 10, status: 'opposed', expiry: '9912', clientId: 1 } })],
    ['card_expired', purchase(), facts({ card: { id: 10, status: 'active', expiry: '2611', clientId: 1 } })],
    ['card_expired', purchase(), facts({ profile: { ...facts().profile!, validTo: '2026-12-02' } })],
    ['card_expired', purchase(), facts({ profile: { ...facts().profile!, validFrom: '2026-12-04' } })],
    ['card_expiry_mismatch', purchase({ cardExpiry: '9911' }), facts()],
    ['card_expired', purchase({ cardExpiry: '9911' }), facts({ card: { id: 10, status: 'active', expiry: '2611', clientId: 1 } })],
    ['currency_mismatch', purchase({ currency: '978' }), facts()],
    ['service_not_allowed', purchase({ service: 'ticket' }), facts()],
    ['service_not_allowed', purchase({ op: 'inquiry', amount: 0 }), facts({ profile: { ...facts().profile!, fuel: false } })],
    ['operation_not_allowed', purchase({ op: 'recharge', source: 'backoffice' }), facts({ profile: { ...facts().profile!, recharge: false }, hasFunding: true })],
    ['operation_not_allowed', purchase({ op: 'transfer', source: 'backoffice', toCardId: 11 }), facts({ profile: { ...facts().profile!, transfer: false } })],
    ['invalid_amount', purchase({ amount: 0 }), facts()],
    ['invalid_amount', purchase({ amount: undefined }), facts()],
    ['code_amount_exceeded', purchase({ codeHash: 'ab', amount: 501 }), facts({ code })],
    ['unknown_card', purchase({ op: 'transfer', source: 'backoffice', toCardId: 11 }), facts({ target: null })],
    ['invalid_transfer', purchase({ op: 'transfer', source: 'backoffice', toCardId: 10 }), facts({ target: { id: 10, status: 'active', expiry: '9912', clientId: 1, networkId: 7 } })],
    ['card_restricted', purchase({ op: 'transfer', source: 'backoffice', toCardId: 11 }), facts({ target: { id: 11, status: 'cancelled', expiry: '9912', clientId: 1, networkId: 7 } })],
    ['transfer_outside_network', purchase({ op: 'transfer', source: 'backoffice', toCardId: 11 }), facts({ target: { id: 11, status: 'active', expiry: '9912', clientId: 2, networkId: 8 } })],
    ['transfer_outside_network', purchase({ op: 'transfer', source: 'backoffice', toCardId: 11 }), facts({ networkId: null, target: { id: 11, status: 'active', expiry: '9912', clientId: 2, networkId: null } })],
    ['no_funding_account', purchase({ op: 'recharge', source: 'backoffice' }), facts({ hasFunding: false })],
    ['currency_mismatch', purchase(), facts({ counterCurrency: '978' })],
    ['operation_not_allowed', purchase(), facts({ selfMovement: true })],
    ['limit_amount', purchase({ amount: 1_001 }), facts()],
  ];
  for (const [want, item, f] of cases) t.equal(verdict(item, f), want, `${want}: ${item.op}${item.codeHash ? ' by code' : ''}`);
  t.equal(verdict(purchase()), undefined, 'a purchase that passes them all');
  t.equal(verdict(purchase({ op: 'transfer', source: 'backoffice', toCardId: 11 }), facts({ target: { id: 11, status: 'blocked', expiry: '9912', clientId: 2, networkId: 7 } })), undefined, 'to a blocked card of the network');
  t.equal(verdict(purchase({ preset: 'format_error', terminalId: 'NOPE' }), facts({ terminal: null })), 'format_error', 'a preset comes first');
});

t.test('the first failing check wins, in the documented order', async (t) => {
  const bad = facts({
    terminal: { servicePointId: 1, status: 'blocked', initialized: false },
    card: { id: 10, status: 'blocked', expiry: '0001', clientId: 1 },
    profile: { ...facts().profile!, fuel: false },
  });
  t.equal(verdict(purchase({ amount: 0 }), bad), 'terminal_blocked');
  t.equal(verdict(purchase({ amount: 0 }), { ...bad, terminal: facts().terminal }), 'card_restricted');
  t.equal(verdict(purchase({ amount: 0 }), { ...bad, terminal: facts().terminal, card: { ...facts().card!, expiry: '0001' } }), 'card_expired');
  t.equal(verdict(purchase({ amount: 0 }), { ...bad, terminal: facts().terminal, card: facts().card }), 'service_not_allowed');
  t.equal(verdict(purchase({ amount: 0 }), facts()), 'invalid_amount');
});

t.test('the session comes first: the connection\'s terminal, signed on', async (t) => {
  const none = { terminalId: null, signedOn: false };
  const signingOn = { terminalId: 'TPE00001', signedOn: false };
  const open = { terminalId: 'TPE00001', signedOn: true };
  t.equal(sessionVerdict('other', 'TPE00001', none), 'no_session', 'a transaction on a connection that never signed on');
  t.equal(sessionVerdict('other', 'TPE00001', signingOn), 'no_session', '... or whose sign-on is not answered yet');
  t.equal(sessionVerdict('other', 'TPE00001', open), undefined, 'the session\'s terminal');
  t.equal(sessionVerdict('other', 'TPE00002', open), 'session_terminal_mismatch', 'another DE41 on a signed-on connection');
  t.equal(sessionVerdict('other', undefined, open), 'session_terminal_mismatch', 'no DE41 on a signed-on connection');
  t.equal(sessionVerdict('sign_on', 'TPE00002', signingOn), 'session_terminal_mismatch', 'another terminal signing on while one does');
  t.equal(sessionVerdict('echo', 'TPE00002', open), 'session_terminal_mismatch', 'an echo of another terminal on a signed-on connection');
  t.equal(sessionVerdict('sign_on', 'TPE00001', none), undefined, 'a sign-on needs no session');
  t.equal(sessionVerdict('sign_on', 'TPE00001', open), undefined, 'a sign-on again on its session');
  t.equal(sessionVerdict('echo', 'TPE00009', none), undefined, 'an echo needs no session');
  t.equal(sessionVerdict('other', 'TPE00002', signingOn), 'session_terminal_mismatch', 'the terminal is checked before the session is');
  const certified = { terminalId: null, signedOn: false, certified: ['TPE00001'] };
  t.equal(sessionVerdict('sign_on', 'TPE00001', certified), undefined, "mutual TLS: a sign-on of the certificate's terminal");
  t.equal(sessionVerdict('sign_on', 'TPE00002', certified), 'certificate_terminal_mismatch', '... of another one: refused');
  t.equal(sessionVerdict('other', undefined, certified), 'certificate_terminal_mismatch', '... a message without DE41 too');
  t.equal(sessionVerdict('echo', 'TPE00002', certified), undefined, 'an echo names no one');
  t.equal(sessionVerdict('other', 'TPE00001', { ...certified, terminalId: 'TPE00001', signedOn: true }), undefined, 'then its session as usual');
});

t.test('a terminal blocked for code guessing may not redeem codes until the block ends', async (t) => {
  const redemption = purchase({ cardId: undefined, codeHash: 'h' });
  const now = NOW.getTime();
  t.equal(codeGuessVerdict(redemption, undefined, now), undefined, 'not blocked');
  t.equal(codeGuessVerdict(redemption, now + 1, now), 'code_guessing', 'blocked');
  t.equal(codeGuessVerdict(redemption, now, now), undefined, 'the block is over');
  t.equal(codeGuessVerdict(purchase(), now + 1, now), undefined, 'a card payment is not a redemption');
});

t.test('what a view does not know is left to the ledger', async (t) => {
  // the switch's cache: no account, code or target facts
  const cached: ItemFacts = { terminal: facts().terminal, servicePoint: facts().servicePoint, card: facts().card, profile: { ...facts().profile!, limitPerTxn: undefined } };
  t.equal(verdict(purchase({ currency: '978', amount: 5_000 }), cached), undefined, 'currency and per-transaction limit need the ledger');
  t.equal(verdict(purchase({ codeHash: 'ab', cardId: undefined }), { ...cached, card: undefined, profile: undefined }), undefined, 'a code is checked by the ledger');
  t.equal(verdict(purchase({ op: 'completion' }), { ...cached, card: null }), undefined, 'a completion is not a card operation');
  t.equal(verdict(purchase({ op: 'reversal' }), { ...cached, terminal: null }), 'unknown_terminal', 'but its terminal is checked');
  t.equal(verdict(purchase({ source: 'backoffice', op: 'recharge' }), { ...facts(), terminal: null, hasFunding: true }), undefined, 'the back office has no terminal');
});

t.test('a card is valid through the last day of its month', async (t) => {
  t.equal(cardExpired('2612', '2026-12-31'), false);
  t.equal(cardExpired('2612', '2027-01-01'), true);
  t.equal(cardExpired('2611', '2026-11-30'), false);
  t.equal(cardExpired('2611', '2026-12-01'), true);
  t.equal(cardExpired('9912', '2026-12-03'), false);
  t.equal(cardExpired('0001', '2000-01-31'), false);
  t.equal(cardExpired('0001', '2000-02-01'), true);
  // against the calendar: expired from the first day of the month after the card's
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 1, max: 12 }), fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }), (yy, mm, d) => {
      const expiry = String(yy).padStart(2, '0') + String(mm).padStart(2, '0');
      const today = d.toISOString().slice(0, 10);
      const firstAfter = new Date(Date.UTC(2000 + yy, mm, 1)).toISOString().slice(0, 10);
      return cardExpired(expiry, today) === firstAfter <= today;
    }),
    { numRuns: 2_000 },
  );
});

// ------------------------------------------------------------------------------- batches

const account = (id: number, balance: number, over: Partial<AccountState> = {}): AccountState => ({
  id,
  currency: '952',
  balance,
  held: 0,
  usageDay: null,
  dayAmount: 0,
  dayCount: 0,
  usageMonth: null,
  monthAmount: 0,
  monthCount: 0,
  ...over,
});

const snap = (over: Partial<ItemSnapshot> = {}): ItemSnapshot => ({
  facts: facts(),
  codeId: null,
  cardId: 10,
  cardAccountId: 100,
  counterCardId: 50,
  counterAccountId: 500,
  keyRow: null,
  originalRow: null,
  ...over,
});

const reversalOf = (stan: string, over: Partial<LedgerItem> = {}): LedgerItem =>
  purchase({ op: 'reversal', mti: '0400', cardId: undefined, amount: 0, original: { stan, transmissionAt: '1203100000' }, ...over });

t.test('the UTC day, kept from one call to the next, changes at midnight UTC', async (t) => {
  t.equal(utcDay(new Date('2026-12-31T23:59:59.999Z')), '2026-12-31');
  t.equal(utcDay(new Date('2026-12-31T12:00:00Z')), '2026-12-31');
  t.equal(utcDay(new Date('2027-01-01T00:00:00Z')), '2027-01-01', 'the next day, at its first millisecond');
  t.equal(utcDay(new Date('2026-12-31T23:59:59.999Z')), '2026-12-31', 'and back: a clock set back gives its own day');
  t.equal(utcDay(new Date('2027-01-01T01:00:00+02:00')), '2026-12-31', 'the day in UTC, whatever the offset written');
  t.throws(() => utcDay(new Date('not a date')), RangeError);
  t.equal(utcDay(new Date('2027-01-01T00:00:00Z')), '2027-01-01', 'an invalid date keeps nothing');
  fc.assert(fc.property(fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }), (d) => utcDay(d) === d.toISOString().slice(0, 10)));
});

t.test('in arrival order: a later item sees the balance, limits and codes the earlier ones used', async (t) => {
  const items = [purchase({ stan: '1', amount: 600 }), purchase({ stan: '2', amount: 600 }), purchase({ stan: '3', amount: 400 })];
  const accounts = new Map([
    [100, account(100, 1_000)],
    [500, account(500, 0)],
  ]);
  const d = decideBatch({ items, snapshots: items.map(() => snap()), ids: [1, 2, 3], accounts, now: NOW, holdTtlMs: 1 });
  t.same(d.items.map((x) => x.outcome), ['approved', 'insufficient_funds', 'approved']);
  t.same(d.items.map((x) => x.available), [400, null, 0]);
  t.same(d.items.map((x) => x.approvalCode), ['000001', null, '000003']);
  const byId = new Map(d.changed.map((c) => [c.after.id, c.after]));
  t.same([byId.get(100)?.balance, byId.get(500)?.balance], [0, 1_000], 'one change per account, with the sums');
  t.same([byId.get(100)?.dayAmount, byId.get(100)?.dayCount, byId.get(100)?.usageDay], [1_000, 2, TODAY], 'limits used count the approvals only');
  t.same(accounts.get(100)?.balance, 1_000, 'the locked state is left as read');
  const codeFacts = facts({ code: { id: 3, used: false, expiresAt: NOW.getTime() + 1_000, amountMax: 500, servicePointId: null } });
  const twice = [purchase({ stan: '4', codeHash: 'ab', amount: 10 }), purchase({ stan: '5', codeHash: 'ab', amount: 600 })];
  const c = decideBatch({ items: twice, snapshots: twice.map(() => snap({ facts: codeFacts, codeId: 3 })), ids: [4, 5], accounts, now: NOW, holdTtlMs: 1 });
  t.same(c.items.map((x) => x.outcome), ['approved', 'code_used'], 'a code once in a batch, before its ceiling is looked at');
  t.same(c.usedCodes, [[3, 4]]);
});

t.test('a duplicate of a journal row is never an original: a reversal in its batch undoes the row once', async (t) => {
  // P (journal row 7) approved earlier; then one batch: an inquiry, P again, a reversal of P
  const p: JournalState = {
    id: 7,
    op: 'purchase',
    outcome: 'approved',
    amount: 1_000,
    cardId: 10,
    counterCardId: 50,
    cardAccountId: 100,
    counterAccountId: 500,
    day: TODAY,
    postedMs: NOW.getTime(),
    requestHash: 'aa',
    approvalCode: '000007',
    available: 48_900,
    reversedBy: null,
    hold: null,
    batchIndex: null,
  };
  const accounts = new Map([
    [100, account(100, 48_900)],
    [500, account(500, 1_000)],
  ]);
  let balance = 48_900;
  for (let round = 0; round < 5; round++) {
    const items = [purchase({ op: 'inquiry', stan: `9${round}`, amount: 0 }), purchase({ stan: '000001', amount: 1_000 }), reversalOf('000001', { stan: `8${round}` })];
    const snapshots = [snap(), snap({ keyRow: p }), snap({ originalRow: p, cardId: null, cardAccountId: null, counterAccountId: null, counterCardId: null })];
    const d = decideBatch({ items, snapshots, ids: [20 + 3 * round, 21 + 3 * round, 22 + 3 * round], accounts, now: NOW, holdTtlMs: 1 });
    t.same(d.items.map((x) => [x.outcome, x.duplicate, x.originalId]), [
      ['approved', false, null],
      ['approved', true, 7],
      ['approved', false, 7],
    ]);
    for (const c of d.changed) accounts.set(c.after.id, c.after);
    balance = accounts.get(100)!.balance;
    t.same(d.reversed, round === 0 ? [[7, 22]] : [], round === 0 ? 'P is marked reversed' : 'nothing is marked again');
  }
  t.equal(balance, 49_900, 'P refunded once in five rounds');
});

t.test('an original and its completion or reversal in one batch', async (t) => {
  const accounts = new Map([
    [100, account(100, 5_000)],
    [500, account(500, 0)],
  ]);
  const items = [
    purchase({ stan: '1', amount: 700 }),
    purchase({ stan: '2', op: 'preauth', amount: 1_000 }),
    reversalOf('1', { stan: '3' }),
    purchase({ stan: '4', op: 'completion', cardId: undefined, amount: 600, original: { stan: '2', transmissionAt: '1203100000' } }),
    reversalOf('1', { stan: '5' }),
    purchase({ stan: '6', op: 'completion', cardId: undefined, amount: 1, original: { stan: '2', transmissionAt: '1203100000' } }),
  ];
  const bare = snap({ cardId: null, cardAccountId: null, counterCardId: null, counterAccountId: null });
  const d = decideBatch({ items, snapshots: [snap(), snap(), bare, bare, bare, bare], ids: [1, 2, 3, 4, 5, 6], accounts, now: NOW, holdTtlMs: 60_000 });
  t.same(d.items.map((x) => x.outcome), ['approved', 'approved', 'approved', 'approved', 'approved', 'original_not_found']);
  t.equal(d.items[0].reversedBy, 3, 'the purchase is written reversed by the batch');
  t.same(d.newHolds.map((h) => [h.journalId, h.hold.status, h.hold.closedBy]), [[2, 'completed', 4]], 'the hold is written completed');
  const after = new Map(d.changed.map((c) => [c.after.id, c.after]));
  t.same([after.get(100)?.balance, after.get(100)?.held, after.get(500)?.balance], [4_400, 0, 600]);
  t.same([after.get(100)?.dayAmount, after.get(100)?.dayCount], [600, 1], 'the reversed purchase gives its use back, the completion counts its final amount');
  t.same([d.items[2].debit, d.items[2].credit, d.items[2].entry], [500, 100, 700], 'the refund goes from the virtual card back to the card');
});

t.test('a completion reversed in its own batch gives the final amount back', async (t) => {
  const accounts = new Map([
    [100, account(100, 5_000)],
    [500, account(500, 0)],
  ]);
  const items = [
    purchase({ stan: '1', op: 'preauth', amount: 1_000 }),
    purchase({ stan: '2', op: 'completion', cardId: undefined, amount: 600, original: { stan: '1', transmissionAt: '1203100000' } }),
    reversalOf('2', { stan: '3' }),
  ];
  const bare = snap({ cardId: null, cardAccountId: null, counterCardId: null, counterAccountId: null });
  const d = decideBatch({ items, snapshots: [snap(), bare, bare], ids: [1, 2, 3], accounts, now: NOW, holdTtlMs: 60_000 });
  t.same(d.items.map((x) => x.outcome), ['approved', 'approved', 'approved']);
  t.same([d.items[2].debit, d.items[2].credit, d.items[2].entry], [500, 100, 600]);
  const after = new Map(d.changed.map((c) => [c.after.id, c.after]));
  t.same([after.get(100)?.balance, after.get(100)?.held], [5_000, 0]);
  t.notOk(after.has(500), 'the virtual card got 600 and gave it back: no change to write');
  t.equal(d.items[2].available, 5_000);
});

t.test('a refund the credited account cannot pay is declined, nothing moves', async (t) => {
  const p: JournalState = {
    id: 7, op: 'purchase', outcome: 'approved', amount: 1_000, cardId: 10, counterCardId: 50, cardAccountId: 100, counterAccountId: 500,
    day: TODAY, postedMs: NOW.getTime(), requestHash: 'aa', approvalCode: '000007', available: 0, reversedBy: null, hold: null, batchIndex: null,
  };
  const accounts = new Map([
    [100, account(100, 0)],
    [500, account(500, 999)],
  ]);
  const d = decideBatch({ items: [reversalOf('000001', { stan: '2' })], snapshots: [snap({ originalRow: p })], ids: [9], accounts, now: NOW, holdTtlMs: 1 });
  t.equal(d.items[0].outcome, 'insufficient_funds');
  t.same([d.changed, d.reversed, p.reversedBy], [[], [], null]);
});

t.test('a reversal after its terminal reconciled the original, or past the window, is refused (12) and moves nothing', async (t) => {
  const original = (postedMs: number): JournalState => ({
    id: 7, op: 'purchase', outcome: 'approved', amount: 1_000, cardId: 10, counterCardId: 50, cardAccountId: 100, counterAccountId: 500,
    day: TODAY, postedMs, requestHash: 'aa', approvalCode: '000007', available: 0, reversedBy: null, hold: null, batchIndex: null,
  });
  const run = (p: JournalState, reconciledUpTo: number | null, reversalWindowMs: number): string => {
    const accounts = new Map([
      [100, account(100, 0)],
      [500, account(500, 5_000)],
    ]);
    const d = decideBatch({ items: [reversalOf('000001', { stan: '2' })], snapshots: [snap({ originalRow: p, reconciledUpTo })], ids: [9], accounts, now: NOW, holdTtlMs: 1, reversalWindowMs });
    if (d.items[0].outcome !== 'approved') t.same([d.changed, d.reversed, p.reversedBy], [[], [], null], 'nothing moves');
    return d.items[0].outcome;
  };
  const day = 24 * 3600_000;
  t.equal(run(original(NOW.getTime() - 1_000), null, day), 'approved', 'within the window, not reconciled');
  t.equal(run(original(NOW.getTime() - 1_000), 7, day), 'reversal_after_reconciliation', 'the reconciliation counted it');
  t.equal(run(original(NOW.getTime() - 1_000), 6, day), 'approved', 'the reconciliation stopped before it');
  t.equal(run(original(NOW.getTime() - day - 1), null, day), 'reversal_too_late', 'a millisecond past the window');
  t.equal(run(original(NOW.getTime() - day), null, day), 'approved', 'at the window');
  t.equal(run(original(NOW.getTime() - 30 * day), null, 0), 'approved', 'no window');
  t.equal(OUTCOME_CODES.reversal_after_reconciliation, '12');
  t.equal(OUTCOME_CODES.reversal_too_late, '12');
});

t.test('a hold expires once, and only when due', async (t) => {
  const hold = { id: 4, accountId: 100, amount: 300, status: 'open' as const, expiresAt: NOW.getTime() - 1, closedBy: null };
  const pre: JournalState = {
    id: 7, op: 'preauth', outcome: 'approved', amount: 300, cardId: 10, counterCardId: 50, cardAccountId: 100, counterAccountId: 500,
    day: TODAY, postedMs: NOW.getTime(), requestHash: 'aa', approvalCode: '000007', available: 700, reversedBy: null, hold, batchIndex: null,
  };
  const accounts = new Map([[100, account(100, 1_000, { held: 300, usageDay: TODAY, dayAmount: 300, dayCount: 1, usageMonth: '2026-12-01', monthAmount: 300, monthCount: 1 })]]);
  const expire: LedgerItem = { op: 'expire', source: 'system', originalJournalId: 7 };
  const d = decideBatch({ items: [expire, expire], snapshots: [snap({ originalRow: pre }), snap({ originalRow: pre })], ids: [8, 9], accounts, now: NOW, holdTtlMs: 1 });
  t.same(d.items.map((x) => x.outcome), ['approved', 'original_not_found']);
  t.same([d.changed[0].after.held, d.changed[0].after.dayAmount, d.changed[0].after.dayCount], [0, 0, 0], 'released, its use given back');
  t.same(d.closedHolds.map((h) => [h.id, h.status, h.closedBy]), [[4, 'expired', 8]]);
  t.equal(d.items[0].amount, 300, 'journaled with the hold amount');
  const early = { ...pre, hold: { ...hold, expiresAt: NOW.getTime() + 1 } };
  t.equal(decideBatch({ items: [expire], snapshots: [snap({ originalRow: early })], ids: [10], accounts, now: NOW, holdTtlMs: 1 }).items[0].outcome, 'original_not_found', 'not yet due');
});

t.test('an account the batch did not lock stops the decision (the batch is posted again)', async (t) => {
  t.throws(() => decideBatch({ items: [purchase()], snapshots: [snap()], ids: [1], accounts: new Map(), now: NOW, holdTtlMs: 1 }), AccountNotLockedError);
});

t.test('cardholder PIN: tries counted across a batch, cleared by a right PIN that was checked, never once blocked', async (t) => {
  const run = (pin: { required: boolean; stored: string | null; tries: number }, digests: (string | undefined)[], balance = 10_000): { outcomes: string[]; tries: number[] } => {
    const shared = { ...pin };
    const items = digests.map((pinDigest, i) => purchase({ stan: String(i + 1), pinDigest }));
    const accounts = new Map([
      [100, account(100, balance)],
      [500, account(500, 0)],
    ]);
    const d = decideBatch({ items, snapshots: items.map(() => snap({ facts: facts({ pin: shared }) })), ids: items.map((_, i) => 10 + i), accounts, now: NOW, holdTtlMs: 1 });
    return { outcomes: d.items.map((x) => x.outcome), tries: d.pinTries.map((p) => p.tries) };
  };
  const set = { required: true, stored: 'aa', tries: 0 };
  t.same(run(set, ['bb', 'bb', 'bb', 'aa']), { outcomes: ['pin_wrong', 'pin_wrong', 'pin_tries_exceeded', 'pin_tries_exceeded'], tries: [3] }, 'three wrong in one batch block it');
  t.same(run({ ...set, tries: 2 }, ['aa']), { outcomes: ['approved'], tries: [0] }, 'a right PIN clears them');
  t.same(run({ ...set, tries: 2 }, ['aa'], 0), { outcomes: ['insufficient_funds'], tries: [0] }, '... also when a later check declines');
  t.same(run({ ...set, tries: 3 }, ['aa']), { outcomes: ['pin_tries_exceeded'], tries: [] }, 'blocked: nothing changes');
  t.same(run(set, [undefined]), { outcomes: ['pin_missing'], tries: [] }, 'required and missing: 55, no try');
  t.same(run({ ...set, required: false }, [undefined]), { outcomes: ['approved'], tries: [] }, 'not required, none sent: not checked');
  t.same(run({ ...set, required: false }, ['bb']), { outcomes: ['pin_wrong'], tries: [1] }, 'not required, one sent: checked');
  t.same(run({ required: false, stored: null, tries: 0 }, ['bb']), { outcomes: ['approved'], tries: [] }, 'no PIN set and not required: not checked');
  t.same(run({ ...set, stored: null }, ['aa']), { outcomes: ['pin_missing'], tries: [] }, 'required, none set on the card: 55');
  t.equal(answerCode('pin_wrong', 'inquiry'), answerCode('unknown_card', 'inquiry'), 'an inquiry: a wrong PIN answers as an unknown card');
  t.equal(answerCode('pin_wrong', 'purchase'), '55');
  t.equal(answerCode('pin_tries_exceeded', 'purchase'), '75');
});
