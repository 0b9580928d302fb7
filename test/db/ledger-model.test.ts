// A model-based property test of the ledger against the real PostgreSQL: random sequences of
// terminal and back-office operations over a small world, posted in random batches by two
// ledgers on two pools (two switch processes), sometimes concurrently; every result is checked
// against a reference ledger written from the rules (ledger-model.ts), and after each sequence
// the database's balances, holds, journal and codes equal the model's and checkLedger is ok.
//
// LEDGER_MODEL_RUNS (sequences, default 200), LEDGER_MODEL_LENGTH (rounds per sequence, default
// 10), LEDGER_MODEL_SEED and LEDGER_MODEL_PATH (replay a failure: fast-check prints both),
// LEDGER_MODEL_RULES: spec (default: the rules of the new ledger), legacy (the rules of today's
// PL/pgSQL ledger: no terminal_not_initialized, no counter-account currency check, no expire op,
// available on declined inquiries, no refund guard), legacy-nobug (legacy, and no batch holds a
// duplicate of a journal row before a completion or reversal of that row, nor a repeat in the
// other process, whose commit first makes the batch's retry hold one: the known bug of migration
// 007).
import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { TestContext } from '../helpers/tap.js';
import { testDb, DATABASE_URL } from '../helpers/db.js';
import { createPool } from '../../db/pool.js';
// The ledger's public API: the one line to change if it moves.
import { Ledger, type LedgerItem, type LedgerResult } from '../../db/ledger.js';
import { exchangeTransport, type Transport } from '../../db/ledger/wire.js';
import { PROFILES_BY_ID } from '../../db/ledger/sql.js';
import * as store from '../../db/store.js';
import { PanVault } from '../../db/pan-vault.js';
import { HASH_SECRET, KEK } from '../helpers/switch.js';
import { codeHash } from '../../db/secrets.js';
import { checkLedger } from '../../db/check.js';
import {
  LEGACY_RULES,
  LedgerModel,
  SPEC_RULES,
  emptyState,
  keyOf,
  type Expected,
  type MProfile,
  type ModelItem,
  type ModelState,
} from './ledger-model.js';

const RUNS = Number(process.env.LEDGER_MODEL_RUNS ?? 200);
const LENGTH = Number(process.env.LEDGER_MODEL_LENGTH ?? 10);
const SEED = process.env.LEDGER_MODEL_SEED === undefined ? undefined : Number(process.env.LEDGER_MODEL_SEED);
const PATH = process.env.LEDGER_MODEL_PATH;
const MODE = process.env.LEDGER_MODEL_RULES ?? 'spec';
if (!['spec', 'legacy', 'legacy-nobug'].includes(MODE)) throw new Error(`LEDGER_MODEL_RULES: spec, legacy or legacy-nobug, not ${MODE}`);
const RULES = MODE === 'spec' ? SPEC_RULES : LEGACY_RULES;
const SECRET = 'ledger-model-test-secret';
const UNKNOWN_CARD = 999_999;
const UNKNOWN_CODE_HASH = 'ab'.repeat(32);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Sequences start near the end of January 2031 (a month rollover, card C expiring 3101). */
const EPOCH = Date.UTC(2031, 0, 29, 0, 0, 0);

// ------------------------------------------------------------------ the world

interface SimWorld {
  /** The model of the world with every balance at 0: each sequence starts from a copy. */
  template: ModelState;
  /** Terminals by role: 3 usable (service points 1, 2, and 3 without a virtual card), blocked, never initialized, unknown. */
  terminals: string[];
  terminalSp: Map<string, number>;
  sps: number[];
  /** Holder cards: A, B, C (expires 3101), L (limited profile), E (expired), F (currency 978), S (same network), O (outside). */
  cards: number[];
  virtualCards: number[];
  /** The profile each card starts with and goes back to after a virtualization. */
  homeProfile: Map<number, number>;
  virtualization: number;
  /** Cards of the client that owns the virtualization profile. */
  virtualizable: Set<number>;
  accounts: number[];
}

function profileOf(p: store.CardProfile): MProfile {
  return {
    id: p.id,
    fuel: p.fuel,
    dotation: p.dotation,
    ticket: p.ticket,
    transfer: p.transfer,
    recharge: p.recharge,
    limitPerTxn: p.limit_per_txn,
    limitDayAmount: p.limit_day_amount,
    limitDayCount: p.limit_day_count,
    limitMonthAmount: p.limit_month_amount,
    limitMonthCount: p.limit_month_count,
    validFrom: p.valid_from,
    validTo: p.valid_to,
  };
}

async function buildWorld(pool: pg.Pool): Promise<SimWorld> {
  const vault = new PanVault(KEK, HASH_SECRET);
  const s = emptyState();
  const network = await store.createNetwork(pool, { code: 'NET1', name: 'Network 1' });
  const main = await store.createClient(pool, { code: 'MAIN', name: 'Main client', networkId: network.id });
  const sibling = await store.createClient(pool, { code: 'SIBLING', name: 'Sibling', networkId: network.id });
  const outsider = await store.createClient(pool, { code: 'OUTSIDER', name: 'Outsider' });
  for (const c of [main, sibling, outsider]) {
    s.clients.set(c.id, { id: c.id, networkId: c.network_id, fundingAccountId: c.funding_account_id });
    s.accounts.set(c.funding_account_id, account(c.funding_account_id, 'funding', '952'));
  }
  const member = (clientId: number) => store.createMember(pool, { clientId, name: 'Driver' });
  const [mMain, mSibling, mOutsider] = [await member(main.id), await member(sibling.id), await member(outsider.id)];
  const profiles = {
    fuel: await store.createProfile(pool, { clientId: main.id, code: 'FUEL', name: 'Fuel', fuel: true, dotation: true, transfer: true, recharge: true }),
    virtual: await store.createProfile(pool, { clientId: main.id, code: 'VIRTUAL', name: 'Virtual card', kind: 'virtual', transfer: true, recharge: true }),
    virtualization: await store.createProfile(pool, { clientId: main.id, code: 'VIRTUALIZED', name: 'Virtualization', transfer: true, recharge: true }),
    limited: await store.createProfile(pool, {
      clientId: main.id, code: 'LIMITED', name: 'Limited', fuel: true, ticket: true, transfer: true, recharge: true,
      limitPerTxn: 1_500, limitDayAmount: 2_500, limitDayCount: 3, limitMonthAmount: 6_000, limitMonthCount: 5,
    }),
    sibling: await store.createProfile(pool, { clientId: sibling.id, code: 'FUEL', name: 'Fuel', fuel: true, transfer: true, recharge: true }),
    outsider: await store.createProfile(pool, { clientId: outsider.id, code: 'FUEL', name: 'Fuel', fuel: true, transfer: true, recharge: true }),
  };
  for (const p of Object.values(profiles)) s.profiles.set(p.id, profileOf(p));
  const sps: number[] = [];
  const virtualCards: number[] = [];
  for (const code of ['SP1', 'SP2', 'SP3']) {
    const sp = await store.createServicePoint(pool, { code, name: code });
    sps.push(sp.id);
    let virtualCardId: number | null = null;
    if (code !== 'SP3') {
      const v = await store.createVirtualCard(pool, vault, { servicePointId: sp.id, clientId: main.id, memberId: mMain.id, profileId: profiles.virtual.id, expiry: '9912' });
      virtualCardId = v.id;
      virtualCards.push(v.id);
      s.cards.set(v.id, { id: v.id, accountId: v.account_id, clientId: main.id, profileId: profiles.virtual.id, status: 'active', expiry: '9912', isVirtual: true });
      s.accounts.set(v.account_id, account(v.account_id, 'service_point', v.currency));
    }
    s.servicePoints.set(sp.id, { id: sp.id, active: true, virtualCardId });
  }
  // usable at SP1, SP2, SP3; blocked (SP1); never initialized (SP2); unknown
  const terminals = ['TPEA0001', 'TPEB0002', 'TPEC0003', 'TPEK0004', 'TPEN0005', 'TPEZ0009'];
  const terminalSp = new Map<string, number>();
  for (const [i, id] of terminals.entries()) {
    const spId = sps[[0, 1, 2, 0, 1, 0][i]];
    terminalSp.set(id, spId);
    if (i === 5) continue;
    await store.createTerminal(pool, { id, servicePointId: spId });
    if (i === 3) await store.setTerminalStatus(pool, id, 'blocked');
    s.terminals.set(id, { id, servicePointId: spId, status: i === 3 ? 'blocked' : 'active', initialized: i !== 4 });
  }
  // Signed on without the PIN exchange (scrypt, twice per terminal): its effect is this column.
  await pool.query("UPDATE terminals SET initialized_at = now() WHERE id <> 'TPEN0005'");
  const specs: { client: store.Client; member: store.Member; profile: store.CardProfile; expiry: string; currency?: string }[] = [
    { client: main, member: mMain, profile: profiles.fuel, expiry: '9912' }, // A
    { client: main, member: mMain, profile: profiles.fuel, expiry: '9912' }, // B
    { client: main, member: mMain, profile: profiles.fuel, expiry: '3101' }, // C: expires with January 2031
    { client: main, member: mMain, profile: profiles.limited, expiry: '9912' }, // L
    { client: main, member: mMain, profile: profiles.fuel, expiry: '2001' }, // E: expired
    { client: main, member: mMain, profile: profiles.fuel, expiry: '9912', currency: '978' }, // F
    { client: sibling, member: mSibling, profile: profiles.sibling, expiry: '9912' }, // S
    { client: outsider, member: mOutsider, profile: profiles.outsider, expiry: '9912' }, // O
  ];
  const cards: number[] = [];
  const homeProfile = new Map<number, number>();
  const virtualizable = new Set<number>();
  for (const c of specs) {
    const card = await store.createCard(pool, vault, { name: 'Card', clientId: c.client.id, memberId: c.member.id, profileId: c.profile.id, expiry: c.expiry, currency: c.currency });
    cards.push(card.id);
    homeProfile.set(card.id, c.profile.id);
    if (c.client.id === main.id) virtualizable.add(card.id);
    s.cards.set(card.id, { id: card.id, accountId: card.account_id, clientId: c.client.id, profileId: c.profile.id, status: 'active', expiry: c.expiry, isVirtual: false });
    s.accounts.set(card.account_id, account(card.account_id, 'card', card.currency));
  }
  for (const v of virtualCards) homeProfile.set(v, profiles.virtual.id);
  return { template: s, terminals, terminalSp, sps, cards, virtualCards, homeProfile, virtualization: profiles.virtualization.id, virtualizable, accounts: [...s.accounts.keys()] };
}

function account(id: number, kind: 'card' | 'service_point' | 'funding', currency: string) {
  return { id, kind, currency, balance: 0, held: 0, usageDay: null, dayAmount: 0, dayCount: 0, usageMonth: null, monthAmount: 0, monthCount: 0 };
}

/**
 * Back to the world as built: no journal, holds or codes, every balance and usage at 0, cards
 * active with their first profile, the sequences at 1 (journal ids, so approval codes, are the
 * same at each replay). DELETE rather than TRUNCATE: a truncated table gets a new file, which
 * makes every connection plan the ledger's statements again (20-25 ms each, per sequence). The
 * journal refuses deletes by a trigger; the test's role, a superuser in its own schema, turns
 * triggers off for this transaction.
 */
async function resetWorld(pool: pg.Pool, w: SimWorld): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SET LOCAL session_replication_role = replica');
    const keep = ['networks', 'clients', 'members', 'service_points', 'terminals', 'terminal_pins', 'card_profiles', 'accounts', 'cards', 'users', 'tokens', 'audit_log', 'schema_migrations', 'schema_functions'];
    const r = await c.query<{ t: string; seq: string | null }>(
      `SELECT quote_ident(table_name) AS t, pg_get_serial_sequence(quote_ident(table_name), 'id') AS seq FROM information_schema.tables
       WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND NOT (table_name = ANY ($1))
       ORDER BY table_name = 'journal'`,
      [keep],
    );
    for (const x of r.rows) {
      await c.query(`DELETE FROM ${x.t}`);
      if (x.seq !== null) await c.query('SELECT setval($1, 1, false)', [x.seq]);
    }
    await c.query('UPDATE accounts SET balance = 0, held = 0, usage_day = NULL, day_amount = 0, day_count = 0, usage_month = NULL, month_amount = 0, month_count = 0');
    const ids = [...w.homeProfile.keys()];
    await c.query(
      "UPDATE cards c SET status = 'active', profile_id = x.p FROM unnest($1::bigint[], $2::bigint[]) AS x(id, p) WHERE c.id = x.id",
      [ids, ids.map((id) => w.homeProfile.get(id))],
    );
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}

// ------------------------------------------------------------------ the programs

type Amount = { k: 'zero' } | { k: 'small'; v: number } | { k: 'some'; v: number } | { k: 'exact' } | { k: 'over' };
type Op =
  | { t: 'buy'; op: 'purchase' | 'preauth' | 'inquiry'; term: number; card: number; amount: Amount; svc: number; code: number | null; cur: number; sp: number }
  | { t: 'completion'; term: number; orig: number; amount: 'below' | 'at' | 'above' | 'zero' }
  | { t: 'reversal'; term: number; orig: number; unknown: boolean }
  | { t: 'repeat'; term: number; orig: number; mismatch: boolean; cross: boolean }
  | { t: 'recharge'; card: number; amount: Amount; terminal: boolean }
  | { t: 'transfer'; card: number; to: number; amount: Amount; terminal: boolean }
  | { t: 'expire'; orig: number };
type Bo =
  | { t: 'virtualize'; card: number; on: boolean }
  | { t: 'status'; card: number; status: 'active' | 'blocked' | 'opposed' }
  | { t: 'code'; card: number; max: number; sp: number; ttlMinutes: number };
interface Round {
  advance: number;
  bo: Bo[];
  /** 0: process A alone, 1: B alone, 2: both at once */
  mode: number;
  ops: { op: Op; proc: boolean }[];
}
interface Program {
  start: number;
  balances: number[];
  rounds: Round[];
}

// Terminal indexes: mostly the usable ones (0, 1), sometimes the others.
const termArb = fc.oneof({ weight: 17, arbitrary: fc.constantFrom(0, 1) }, { weight: 3, arbitrary: fc.constantFrom(2, 3, 4, 5) });
// Card indexes into cards ++ virtual cards ++ [unknown]: mostly A, B, L.
const cardArb = fc.constantFrom(0, 0, 1, 1, 3, 3, 2, 4, 5, 6, 7, 8, 10);
// Transfers also from the service points' virtual cards: a drained one cannot refund a reversal.
const transferFromArb = fc.oneof({ weight: 3, arbitrary: cardArb }, { weight: 1, arbitrary: fc.constantFrom(8, 9) });
const amountArb: fc.Arbitrary<Amount> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ k: 'zero' as const }) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 500 }).map((v) => ({ k: 'small' as const, v })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 3_000 }).map((v) => ({ k: 'some' as const, v })) },
  { weight: 1, arbitrary: fc.constant({ k: 'exact' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'over' as const }) },
);
const orig = fc.nat({ max: 7 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      t: fc.constant('buy' as const),
      op: fc.constantFrom('purchase' as const, 'purchase' as const, 'preauth' as const, 'preauth' as const, 'inquiry' as const),
      term: termArb,
      card: cardArb,
      amount: amountArb,
      svc: fc.constantFrom(0, 0, 0, 0, 0, 1, 2),
      code: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat({ max: 4 }) }),
      cur: fc.constantFrom(0, 0, 0, 0, 0, 0, 1, 2, 3),
      sp: fc.constantFrom(0, 0, 0, 0, 0, 0, 0, 0, 1, 2),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('completion' as const), term: termArb, orig, amount: fc.constantFrom('below' as const, 'at' as const, 'above' as const, 'zero' as const) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('reversal' as const), term: termArb, orig, unknown: fc.constantFrom(false, false, false, false, false, true) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('repeat' as const), term: termArb, orig, mismatch: fc.boolean(), cross: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('recharge' as const), card: cardArb, amount: amountArb, terminal: fc.constantFrom(false, false, false, false, true) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('transfer' as const), card: transferFromArb, to: cardArb, amount: amountArb, terminal: fc.constantFrom(false, false, false, false, true) }) },
  ...(MODE === 'spec' ? [{ weight: 2, arbitrary: fc.record({ t: fc.constant('expire' as const), orig: fc.nat({ max: 9 }) }) }] : []),
);
const boArb: fc.Arbitrary<Bo> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ t: fc.constant('virtualize' as const), card: cardArb, on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('status' as const), card: cardArb, status: fc.constantFrom('active' as const, 'blocked' as const, 'opposed' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant('code' as const), card: cardArb, max: fc.integer({ min: 200, max: 3_000 }), sp: fc.constantFrom(0, 0, 1, 2), ttlMinutes: fc.integer({ min: 10, max: 300 }) }),
  },
);
const advanceArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 6, arbitrary: fc.integer({ min: 1_000, max: 10 * MINUTE }) },
  { weight: 1, arbitrary: fc.constant(2 * HOUR + MINUTE) },
  { weight: 1, arbitrary: fc.integer({ min: DAY, max: DAY + 3 * HOUR }) },
  { weight: 1, arbitrary: fc.integer({ min: 25 * DAY, max: 32 * DAY }) },
);
const roundArb: fc.Arbitrary<Round> = fc.record({
  advance: advanceArb,
  bo: fc.array(boArb, { maxLength: 2 }),
  mode: fc.constantFrom(0, 1, 2, 2),
  ops: fc.array(fc.record({ op: opArb, proc: fc.boolean() }), { minLength: 1, maxLength: 6 }),
});
const programArb: fc.Arbitrary<Program> = fc.record({
  start: fc.integer({ min: 0, max: 4 * DAY }),
  balances: fc.array(fc.integer({ min: 500, max: 6_000 }), { minLength: 8, maxLength: 8 }),
  rounds: fc.array(roundArb, { minLength: 1, maxLength: LENGTH }),
});

// ------------------------------------------------------------------ running a program

const hashOf = (it: ModelItem): string => {
  const { requestHash: _omit, accountHint: _hint, profileHint: _profile, ...content } = it;
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
};

/** DE7 (MMDDhhmmss, UTC) of the simulated clock. */
function de7(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

interface Posted {
  item: ModelItem;
  round: number;
}

interface Env {
  pool: pg.Pool;
  ledgers: [Ledger, Ledger];
  w: SimWorld;
}

class Failure extends Error {}

/** What the sequences reached: outcomes (duplicates apart), and in which order concurrent rounds committed. */
const stats = { outcomes: new Map<string, number>(), duplicates: 0, concurrent: { either: 0, aFirst: 0, bFirst: 0 }, locks: new Map<string, number>(), profilesById: 0, profilesJoined: 0 };
function count(res: readonly LedgerResult[]): void {
  for (const r of res) {
    if (r.duplicate) stats.duplicates++;
    else stats.outcomes.set(r.outcome, (stats.outcomes.get(r.outcome) ?? 0) + 1);
  }
}

function describeItem(it: ModelItem): string {
  const f: string[] = [it.op, it.source];
  if (it.terminalId) f.push(`${it.terminalId}#${it.stan}`);
  if (it.cardId !== undefined) f.push(`card ${it.cardId}`);
  if (it.codeHash) f.push(`code ${it.codeHash.slice(0, 6)}`);
  if (it.toCardId !== undefined) f.push(`to ${it.toCardId}`);
  if (it.amount !== undefined) f.push(`amount ${it.amount}`);
  if (it.servicePointId !== undefined) f.push(`sp ${it.servicePointId}`);
  if (it.currency !== undefined) f.push(`cur ${it.currency}`);
  if (it.service !== undefined) f.push(it.service);
  if (it.original) f.push(`orig #${it.original.stan}`);
  if (it.originalJournalId !== undefined) f.push(`orig j${it.originalJournalId}`);
  if (it.requestHash) f.push(`rh ${it.requestHash.slice(0, 6)}`);
  if (it.accountHint) f.push(`hint ${it.accountHint.join(',')}`);
  if (it.profileHint !== undefined) f.push(`profile hint ${it.profileHint}`);
  return f.join(' ');
}

/** What differs between the model's answers and the ledger's, one line per item that differs. */
function diffResults(items: readonly ModelItem[], exp: readonly Expected[], act: readonly LedgerResult[]): string[] {
  const out: string[] = [];
  for (let k = 0; k < items.length; k++) {
    const e = exp[k];
    const a = act[k];
    const bad: string[] = [];
    if (e.outcome !== a.outcome) bad.push(`outcome ${a.outcome}, model ${e.outcome}`);
    if (e.duplicate !== a.duplicate) bad.push(`duplicate ${a.duplicate}, model ${e.duplicate}`);
    if (e.originalId !== undefined && e.originalId !== a.originalId) bad.push(`originalId ${a.originalId}, model ${e.originalId}`);
    if (e.available !== undefined && e.available !== a.available) bad.push(`available ${a.available}, model ${e.available}`);
    if (e.approvalCode !== a.approvalCode) bad.push(`approvalCode ${a.approvalCode}, model ${e.approvalCode}`);
    if (bad.length > 0) out.push(`  item ${k} (j${a.journalId}: ${describeItem(items[k])}): ${bad.join('; ')}`);
  }
  return out;
}

function listing(label: string, items: readonly ModelItem[], res: readonly LedgerResult[]): string {
  const line = (it: ModelItem, r: LedgerResult | undefined, k: number): string =>
    r === undefined ? `  ${k}. ${describeItem(it)}` : `  ${k}. j${r.journalId}: ${describeItem(it)} -> ${r.outcome}${r.duplicate ? ' (dup)' : ''} avail ${r.available}`;
  return [`${label}:`, ...items.map((it, k) => line(it, res[k], k))].join('\n');
}

async function post(ledger: Ledger, items: readonly ModelItem[], now: number): Promise<LedgerResult[]> {
  // The new fields (op 'expire', source 'system', originalJournalId) are the new ledger's.
  return ledger.post(items as unknown as LedgerItem[], new Date(now));
}

async function runProgram(env: Env, p: Program): Promise<void> {
  const { pool, ledgers, w } = env;
  await resetWorld(pool, w);
  let model = new LedgerModel(structuredClone(w.template), RULES);
  let now = EPOCH + p.start;
  let stanSeq = 0;
  const history = new Map<string, Posted[]>(); // by terminal
  const codes: string[] = []; // hashes, in creation order
  const allCards = [...w.cards, ...w.virtualCards, UNKNOWN_CARD];
  const cardAt = (i: number): number => allCards[i % allCards.length];
  const log: string[] = [];

  const check = (label: string, items: readonly ModelItem[], exp: readonly Expected[], res: readonly LedgerResult[]): string[] => {
    const d = diffResults(items, exp, res);
    return d.length === 0 ? [] : [`${label}:`, ...d];
  };

  // Funding: back-office recharges of the holder cards (C, E and F stay empty), through the ledger.
  const funding: ModelItem[] = w.cards
    .map((cardId, i) => ({ op: 'recharge' as const, source: 'backoffice' as const, cardId, amount: p.balances[i], note: 'funding' }))
    .filter((_, i) => i !== 2 && i !== 4 && i !== 5);
  {
    const res = await post(ledgers[0], funding, now);
    const exp = model.post(funding, new Date(now), res.map((r) => r.journalId));
    const d = check('funding', funding, exp, res);
    if (d.length > 0) throw new Failure(d.join('\n'));
  }

  for (const [ri, round] of p.rounds.entries()) {
    now += round.advance;
    // Back-office changes, between batches.
    for (const bo of round.bo) {
      const cardId = cardAt(bo.card);
      const card = model.state.cards.get(cardId);
      if (!card || card.isVirtual) continue;
      if (bo.t === 'virtualize') {
        if (!w.virtualizable.has(cardId)) continue;
        const profileId = bo.on ? w.virtualization : w.homeProfile.get(cardId)!;
        await store.setCardProfile(pool, cardId, profileId);
        card.profileId = profileId;
        log.push(`round ${ri}: card ${cardId} profile ${bo.on ? 'virtualization' : 'home'}`);
      } else if (bo.t === 'status') {
        await store.setCardStatus(pool, cardId, bo.status);
        card.status = bo.status;
        log.push(`round ${ri}: card ${cardId} ${bo.status}`);
      } else {
        if (card.status !== 'active') continue;
        const spId = bo.sp === 0 ? null : w.sps[bo.sp - 1];
        // expiresAt is the database's now() + ttl: aim it at the simulated clock + ttlMinutes
        const ttlSeconds = (now + bo.ttlMinutes * MINUTE - Date.now()) / 1000;
        const c = await store.createTransactionCode(pool, { cardId, amountMax: bo.max, ttlSeconds, servicePointId: spId, secret: SECRET });
        const hash = codeHash(c.code, SECRET);
        model.state.codes.set(hash, { id: c.id, hash, cardId, amountMax: bo.max, expiresAt: c.expiresAt.getTime(), servicePointId: spId, used: false });
        codes.push(hash);
        log.push(`round ${ri}: code ${hash.slice(0, 6)} for card ${cardId}, max ${bo.max}, sp ${spId}, ttl ${bo.ttlMinutes} min`);
      }
    }

    // The round's items, into the batches of A and B. A terminal's items go to one process
    // (its first item's): a completion or reversal never races its original in the other
    // process. Only a repeat of a purchase, pre-authorization or inquiry may go to the other
    // process (cross): either may then commit first, and the journal's unique key makes the
    // later one a duplicate of the earlier.
    const batches: [ModelItem[], ModelItem[]] = [[], []];
    const termProc = new Map<string, number>();
    const dt = de7(now);
    const availableOf = (cardId: number): number => {
      const c = model.state.cards.get(cardId);
      const a = c ? model.state.accounts.get(c.accountId) : undefined;
      return a ? a.balance - a.held : 0;
    };
    const resolveAmount = (a: Amount, cardId: number): number =>
      a.k === 'zero' ? 0 : a.k === 'small' || a.k === 'some' ? a.v : a.k === 'exact' ? availableOf(cardId) : availableOf(cardId) + 1;
    // keys of journal rows that a duplicate in this batch names (today's ledger's known bug)
    const dupOfJournal: [Set<string>, Set<string>] = [new Set(), new Set()];
    for (const { op, proc } of round.ops) {
      let procOf = round.mode === 2 ? (proc ? 1 : 0) : round.mode;
      let item: ModelItem;
      if (op.t === 'recharge' || op.t === 'transfer' || op.t === 'expire') {
        if (op.t === 'expire') {
          const rows = [...model.state.journal.values()];
          const preauths = rows.filter((r) => r.op === 'preauth');
          const pool2 = op.orig % 5 === 4 || preauths.length === 0 ? rows : preauths;
          if (pool2.length === 0) continue;
          item = { op: 'expire', source: 'system', originalJournalId: pool2[(pool2.length - 1 - (op.orig % pool2.length))].id };
        } else {
          const cardId = cardAt(op.card);
          const amount = resolveAmount(op.amount, cardId);
          item = { op: op.t, source: 'backoffice', cardId, amount, note: op.t };
          if (op.t === 'transfer') item.toCardId = cardAt(op.to);
          if (op.terminal) {
            const term = w.terminals[0];
            item = { ...item, source: 'terminal', terminalId: term, stan: String(++stanSeq).padStart(6, '0'), transmissionAt: dt, servicePointId: w.terminalSp.get(term), mti: '0200', note: undefined };
            if (round.mode === 2) procOf = termProc.get(term) ?? procOf;
            termProc.set(term, procOf);
          }
        }
      } else {
        const term = w.terminals[op.term % w.terminals.length];
        const hist = history.get(term) ?? [];
        const recent = hist.slice(-8);
        if (round.mode === 2) procOf = termProc.get(term) ?? procOf;
        const ownSp = w.terminalSp.get(term)!;
        const base = { source: 'terminal' as const, terminalId: term, stan: String(++stanSeq).padStart(6, '0'), transmissionAt: dt };
        if (op.t === 'buy') {
          const cardId = cardAt(op.card);
          // an existing code (the latest ones first), or (4, or none yet) an unknown one
          const code = op.code === null ? undefined : op.code === 4 || codes.length === 0 ? UNKNOWN_CODE_HASH : codes[codes.length - 1 - (op.code % codes.length)];
          const holder = code ? (model.state.codes.get(code)?.cardId ?? cardId) : cardId;
          const holderCurrency = model.state.accounts.get(model.state.cards.get(holder)?.accountId ?? -1)?.currency ?? '952';
          item = {
            ...base,
            op: op.op,
            mti: op.op === 'preauth' ? '0100' : '0200',
            ...(code ? { codeHash: code } : { cardId }),
            servicePointId: op.sp === 0 ? ownSp : op.sp === 1 ? w.sps[(w.sps.indexOf(ownSp) + 1) % w.sps.length] : undefined,
            amount: op.op === 'inquiry' ? undefined : resolveAmount(op.amount, holder),
            // 952 (the terminal's), none, the card account's, another
            currency: ['952', undefined, holderCurrency, '840'][op.cur % 4],
            service: (['fuel', 'dotation', 'ticket'] as const)[op.svc % 3],
          };
          // the account hint a switch's cache would give (db/ledger/types.ts accountHint), in
          // turn: none, the right accounts, short of the virtual card's, naming another account
          if (!code) {
            const own = model.state.cards.get(cardId)?.accountId;
            const spv = item.servicePointId === undefined ? null : (model.state.servicePoints.get(item.servicePointId)?.virtualCardId ?? null);
            const virtual = spv === null ? undefined : model.state.cards.get(spv)?.accountId;
            const right = op.op === 'inquiry' ? [own] : [own, virtual];
            const other = w.accounts[stanSeq % w.accounts.length];
            const hint = [undefined, right, [own], [other, ...right.slice(1)]][stanSeq % 4];
            if (hint !== undefined && hint.every((a) => a !== undefined)) item.accountHint = hint as number[];
            // the profile hint (db/ledger/types.ts profileHint), in turn: the card's, none,
            // another profile (the card changed profile since the cache read it)
            const profiles = [...model.state.profiles.keys()];
            const profileHint = [model.state.cards.get(cardId)?.profileId, undefined, profiles[(stanSeq >> 2) % profiles.length]][stanSeq % 3];
            if (profileHint !== undefined) item.profileHint = profileHint;
          }
        } else if (op.t === 'completion') {
          const preauths = hist.filter((h) => h.item.op === 'preauth').slice(-4);
          const o = preauths.length > 0 ? preauths[op.orig % preauths.length].item : recent.length > 0 ? recent[op.orig % recent.length].item : undefined;
          const held = o?.amount ?? 0;
          const amount = op.amount === 'zero' ? 0 : op.amount === 'at' ? held : op.amount === 'above' ? held + 1 : Math.max(held - 1 - (op.orig % 3) * 100, 1);
          item = {
            ...base,
            op: 'completion',
            mti: '0220',
            cardId: o?.cardId,
            servicePointId: ownSp,
            amount,
            original: { stan: o?.stan ?? '999999', transmissionAt: o?.transmissionAt ?? dt },
          };
        } else if (op.t === 'reversal') {
          const o = op.unknown || recent.length === 0 ? undefined : recent[recent.length - 1 - (op.orig % recent.length)].item;
          item = {
            ...base,
            op: 'reversal',
            mti: '0400',
            cardId: o?.cardId,
            servicePointId: ownSp,
            amount: o?.amount,
            original: { stan: o?.stan ?? '999999', transmissionAt: o?.transmissionAt ?? dt },
          };
        } else {
          // repeat: the same key, the same content (or other content: a duplicate_mismatch)
          if (recent.length === 0) continue;
          const o = recent[recent.length - 1 - (op.orig % recent.length)];
          item = op.mismatch ? { ...o.item, amount: (o.item.amount ?? 0) + 1 } : { ...o.item };
          if (op.cross && round.mode === 2 && MODE !== 'legacy-nobug' && ['purchase', 'preauth', 'inquiry'].includes(o.item.op)) procOf = 1 - (termProc.get(term) ?? procOf);
          const k = keyOf(o.item.terminalId, o.item.stan, o.item.transmissionAt)!;
          if (model.state.keys.has(k)) dupOfJournal[procOf].add(k);
        }
        if (op.t !== 'repeat') termProc.set(term, procOf);
        if (MODE === 'legacy-nobug' && item.original && dupOfJournal[procOf].has(keyOf(term, item.original.stan, item.original.transmissionAt)!)) continue;
        if (op.t !== 'repeat' || !op.cross) hist.push({ item, round: ri });
        history.set(term, hist);
      }
      if (item.requestHash === undefined || (op.t === 'repeat' && op.mismatch)) item.requestHash = hashOf(item);
      batches[procOf].push(item);
    }

    // Post: one process, or both at once.
    const date = new Date(now);
    if (round.mode !== 2) {
      const items = batches[round.mode];
      const res = await post(ledgers[round.mode], items, now).catch((e: unknown) => {
        throw new Failure([...log, `round ${ri}: process ${'AB'[round.mode]} alone failed: ${(e as Error).message}`, listing('batch', items, [])].join('\n'));
      });
      const exp = model.post(items, date, res.map((r) => r.journalId));
      count(res);
      const d = check(`round ${ri}, process ${'AB'[round.mode]} alone`, items, exp, res);
      if (d.length > 0) throw new Failure([...log, listing('batch', items, res), ...d].join('\n'));
    } else {
      const settled = await Promise.allSettled([post(ledgers[0], batches[0], now), post(ledgers[1], batches[1], now)]);
      if (settled[0].status === 'rejected' || settled[1].status === 'rejected') {
        const why = settled.map((x, i) => (x.status === 'rejected' ? `${'AB'[i]} failed: ${(x.reason as Error).message}` : `${'AB'[i]} posted`));
        throw new Failure([...log, `round ${ri}: A and B at once: ${why.join(', ')}`, listing('batch A', batches[0], []), listing('batch B', batches[1], [])].join('\n'));
      }
      const [ra, rb] = [settled[0].value, settled[1].value];
      const tryOrder = (first: 0 | 1): { m: LedgerModel; d: string[] } => {
        const m = model.clone();
        const res = [ra, rb];
        const second = (1 - first) as 0 | 1;
        const e1 = m.post(batches[first], date, res[first].map((r) => r.journalId));
        const e2 = m.post(batches[second], date, res[second].map((r) => r.journalId));
        return { m, d: [...check(`${'AB'[first]} first`, batches[first], e1, res[first]), ...check(`${'AB'[second]} second`, batches[second], e2, res[second])] };
      };
      count(ra);
      count(rb);
      const ab = tryOrder(0);
      const ba = tryOrder(1);
      if (ab.d.length === 0) {
        model = ab.m;
        stats.concurrent[ba.d.length === 0 ? 'either' : 'aFirst']++;
      } else {
        if (ba.d.length === 0) {
          model = ba.m;
          stats.concurrent.bFirst++;
        } else {
          throw new Failure(
            [...log, `round ${ri}: A and B at once, neither order matches`, listing('batch A', batches[0], ra), listing('batch B', batches[1], rb), 'as A then B:', ...ab.d, 'as B then A:', ...ba.d].join('\n'),
          );
        }
      }
    }
  }
  await compareState(pool, model, w, log);
}

/** The database's balances, holds, journal and codes against the model's; then checkLedger. */
async function compareState(pool: pg.Pool, model: LedgerModel, w: SimWorld, log: string[]): Promise<void> {
  const s = model.state;
  const bad: string[] = [];
  const acc = await pool.query<{ id: number; balance: number; held: number }>('SELECT id, balance, held FROM accounts WHERE id = ANY ($1) ORDER BY id', [w.accounts]);
  for (const a of acc.rows) {
    const m = s.accounts.get(a.id)!;
    if (m.balance !== a.balance || m.held !== a.held) bad.push(`account ${a.id}: balance ${a.balance} held ${a.held}, model ${m.balance} held ${m.held}`);
  }
  const holds = await pool.query<{ journal_id: number; status: string; amount: number }>('SELECT journal_id, status, amount FROM holds ORDER BY journal_id');
  const seen = new Set<number>();
  for (const h of holds.rows) {
    seen.add(h.journal_id);
    const m = s.holds.get(h.journal_id);
    if (!m) bad.push(`hold of j${h.journal_id}: ${h.status} ${h.amount}, not in the model`);
    else if (m.status !== h.status || m.amount !== h.amount) bad.push(`hold of j${h.journal_id}: ${h.status} ${h.amount}, model ${m.status} ${m.amount}`);
  }
  for (const id of s.holds.keys()) if (!seen.has(id)) bad.push(`hold of j${id}: missing`);
  const journal = await pool.query<{ id: number; outcome: string; duplicate_of: number | null; original_id: number | null; reversed: boolean }>(
    'SELECT id, outcome, duplicate_of, original_id, reversed_by IS NOT NULL AS reversed FROM journal ORDER BY id',
  );
  if (journal.rows.length !== s.journal.size) bad.push(`journal: ${journal.rows.length} rows, model ${s.journal.size}`);
  for (const j of journal.rows) {
    const m = s.journal.get(j.id);
    if (!m) {
      bad.push(`j${j.id}: not in the model`);
      continue;
    }
    const d: string[] = [];
    if (m.outcome !== j.outcome) d.push(`outcome ${j.outcome}, model ${m.outcome}`);
    if (m.duplicateOf !== j.duplicate_of) d.push(`duplicate_of ${j.duplicate_of}, model ${m.duplicateOf}`);
    if (m.duplicateOf === null && m.originalId !== undefined && m.originalId !== j.original_id) d.push(`original_id ${j.original_id}, model ${m.originalId}`);
    if (m.reversed !== undefined && m.reversed !== j.reversed) d.push(`reversed ${j.reversed}, model ${m.reversed}`);
    if (d.length > 0) bad.push(`j${j.id} (${m.op}): ${d.join('; ')}`);
  }
  const codes = await pool.query<{ hash: string; used: boolean }>("SELECT encode(code_hash, 'hex') AS hash, used_at IS NOT NULL AS used FROM transaction_codes");
  for (const c of codes.rows) {
    const m = s.codes.get(c.hash);
    if (m && m.used !== c.used) bad.push(`code ${c.hash.slice(0, 6)}: used ${c.used}, model ${m.used}`);
  }
  const chk = await checkLedger(pool);
  if (!chk.ok) bad.push(`checkLedger: ${JSON.stringify(chk)}`);
  if (bad.length > 0) throw new Failure([...log, 'after the sequence, the database differs from the model:', ...bad].join('\n'));
}

// ------------------------------------------------------------------ the tests

async function setup(t: TestContext): Promise<Env> {
  const db = await testDb(t, { max: 4 });
  // A second switch process: its own pool, its own connections, its own ledger.
  const other = createPool({ url: DATABASE_URL, schema: db.schema, max: 2, name: 'cynod-test-b' });
  t.teardown(() => other.end());
  const w = await buildWorld(db.pool);
  // each attempt's first round: the profiles read by the hints' ids, or joined by the read
  const transport: Transport = (client, first) => {
    if (first.some((st) => st.name === PROFILES_BY_ID.name)) stats.profilesById++;
    else stats.profilesJoined++;
    return exchangeTransport(client, first);
  };
  const ledgers: [Ledger, Ledger] = [new Ledger(db.pool, undefined, undefined, transport), new Ledger(other, undefined, undefined, transport)];
  for (const l of ledgers) l.onLock = (by) => stats.locks.set(by, (stats.locks.get(by) ?? 0) + 1);
  return { pool: db.pool, ledgers, w };
}

t.test(`model-based: random sequences over two posting processes (${MODE} rules)`, async (t) => {
  const env = await setup(t);
  let sequences = 0;
  let items = 0;
  const started = performance.now();
  try {
    await fc.assert(
      fc.asyncProperty(programArb, async (p) => {
        sequences++;
        items += p.rounds.reduce((n, r) => n + r.ops.length, 0);
        await runProgram(env, p);
      }),
      { numRuns: RUNS, seed: SEED, path: PATH },
    );
  } catch (e) {
    // fast-check's report (seed, path, shrunk counterexample), then what differed, line by line
    const cause = (e as { cause?: unknown }).cause;
    t.comment(cause instanceof Error ? cause.message : String(cause));
    t.fail((e as Error).message.split('\n').filter((l) => !l.startsWith('Hint')).join(' '));
    return;
  }
  const outcomes = [...stats.outcomes].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ${n}`);
  t.comment(`outcomes: ${outcomes.join(', ')}; duplicates ${stats.duplicates}`);
  t.comment(`rounds of A and B at once: ${stats.concurrent.either} either order, ${stats.concurrent.aFirst} only A first, ${stats.concurrent.bFirst} only B first`);
  const locks = Object.fromEntries(stats.locks);
  t.comment(`attempts locked by hint ${locks.hint ?? 0}, by hints that fell short ${locks.hint_missed ?? 0}, through the cards ${locks.cards ?? 0}`);
  t.ok((locks.hint ?? 0) > 0 && (locks.hint_missed ?? 0) > 0, 'batches were locked by hints, right and short');
  t.comment(`attempts that read the profiles by the hints' ids ${stats.profilesById}, that joined them ${stats.profilesJoined}`);
  t.ok(stats.profilesById > 0 && stats.profilesJoined > 0, 'batches read their profiles by the hints and by the cards');
  t.pass(`${sequences} sequences (${items} operations generated) in ${((performance.now() - started) / 1000).toFixed(1)} s: the ledger answered as the model`);
});

t.test('regression: a batch with a duplicate of a journal purchase and its reversal refunds it once', async (t) => {
  const env = await setup(t);
  const { pool, ledgers, w } = env;
  await resetWorld(pool, w);
  const [cardA] = w.cards;
  const [virtualCard] = w.virtualCards;
  const now = EPOCH + 12 * HOUR;
  const [funded] = await post(ledgers[0], [{ op: 'recharge', source: 'backoffice', cardId: cardA, amount: 50_000 }], now);
  t.equal(funded.outcome, 'approved');
  let stan = 100;
  const term = w.terminals[0];
  const at = (n: number): ModelItem => ({ source: 'terminal', terminalId: term, stan: String(n).padStart(6, '0'), transmissionAt: de7(now), servicePointId: w.sps[0], op: 'purchase' });
  const p: ModelItem = { ...at(++stan), cardId: cardA, amount: 1_000, currency: '952', service: 'fuel', mti: '0200' };
  p.requestHash = hashOf(p);
  const [rp] = await post(ledgers[0], [p], now);
  t.equal(rp.outcome, 'approved');
  t.equal(rp.available, 49_000);
  const balance = async (id: number) => (await store.getCard(pool, id)).balance;
  for (let round = 1; round <= 5; round++) {
    const inquiry: ModelItem = { ...at(++stan), op: 'inquiry', cardId: cardA, mti: '0200' };
    inquiry.requestHash = hashOf(inquiry);
    const reversal: ModelItem = { ...at(++stan), op: 'reversal', cardId: cardA, amount: 1_000, mti: '0400', original: { stan: p.stan!, transmissionAt: p.transmissionAt! } };
    reversal.requestHash = hashOf(reversal);
    const [ri, rd, rr] = await post(ledgers[0], [inquiry, { ...p }, reversal], now);
    t.equal(ri.outcome, 'approved', `round ${round}: the inquiry`);
    t.ok(rd.duplicate, `round ${round}: the purchase again is a duplicate`);
    t.equal(rd.originalId, rp.journalId, `round ${round}: of the purchase in the journal`);
    t.equal(rd.outcome, 'approved');
    t.equal(rd.approvalCode, rp.approvalCode);
    t.equal(rr.outcome, 'approved', `round ${round}: the reversal`);
    t.equal(rr.originalId, rp.journalId, `round ${round}: the reversal's original is the purchase, not its duplicate`);
    t.equal(rr.available, 50_000, `round ${round}: available after the reversal`);
    t.equal(await balance(cardA), 50_000, `round ${round}: the card was refunded once`);
    t.equal(await balance(virtualCard), 0, `round ${round}: the service point gave it back once`);
  }
  const rows = await pool.query<{ reversed_by: number | null }>('SELECT reversed_by FROM journal WHERE id = $1', [rp.journalId]);
  t.not(rows.rows[0].reversed_by, null, 'the purchase is marked reversed');
  const chk = await checkLedger(pool);
  t.ok(chk.ok, 'ledger check');
});
