/**
 * The statements of a batch: lock, read, write. Every lookup is by key: a join on a primary key,
 * or a LATERAL subquery ending in LIMIT 1 where the planner cannot know the key unique, so
 * PostgreSQL probes an index per item whatever its statistics; test/db/ledger-plans.test.ts
 * reads the plans of a batch and fails on a whole-table read.
 *
 * Each statement is built from the parts a batch needs (a batch of purchases has no codes to
 * look up, no holds to close): starting the executor on a plan costs in proportion to the plan,
 * and for a small batch that start-up was a fifth of PostgreSQL's work. Each combination is a
 * named statement of its own, prepared once per connection.
 */
import type { Columns } from './wire.js';

/** Hands out $1, $2, ... in the order the parts are written. */
class Params {
  private n = 0;
  next(type: string): string {
    return `$${++this.n}::${type}`;
  }
}

export interface Built {
  name: string;
  text: string;
  /** The columns of its rows, in order, as the statement's SELECT list names them. */
  columns: Columns;
}

const cache = new Map<string, Built>();

/** The statement of that name, made once (`make`: its text, or its text and columns when they vary by part). */
function built(name: string, columns: Columns, make: () => string | { text: string; columns: Columns }): Built {
  let b = cache.get(name);
  if (b === undefined) {
    const m = make();
    b = typeof m === 'string' ? { name, text: m, columns } : { name, ...m };
    cache.set(name, b);
  }
  return b;
}

/**
 * The ledger's planner settings. Every lookup of a batch is by key, and a batch is small: nested
 * loops over indexes are always right, and planned once per connection (a generic plan) they cost
 * no planning per batch. Without these settings the planner hashed the accounts table whole to
 * update a few of its rows (test/db/ledger-plans.test.ts).
 */
export const PLANNER_SETTINGS: readonly (readonly [name: string, value: string])[] = [
  ['plan_cache_mode', 'force_generic_plan'],
  ['enable_hashjoin', 'off'],
  ['enable_mergejoin', 'off'],
  ['enable_seqscan', 'off'],
  ['jit', 'off'],
];

/**
 * A pool whose connections serve the ledger alone (the switch's) has the settings from its
 * connections' start (db/pool.ts `ledger`), and its batches skip SETTINGS: a statement less
 * per batch, 38k of PostgreSQL's instructions, about 4% of a batch of one (make
 * bench-pg-instructions). Elsewhere (the back office's shared pool) each batch sets them for its
 * own transaction, so other work on the connection plans as usual.
 */
export const SETTINGS: Built = {
  name: 'ledger_settings',
  text: `SELECT ${PLANNER_SETTINGS.map(([n, v]) => `set_config('${n}', '${v}', true)`).join(', ')}`,
  columns: [],
};

/** Whether a connection already has every planner setting (one row, column `ok`). */
export const SETTINGS_IN_FORCE = `SELECT ${PLANNER_SETTINGS.map(([n, v]) => `current_setting('${n}') = '${v}'`).join(' AND ')} AS ok`;

const LOCK_COLUMNS: Columns = [
  ['id', 'int'],
  ['currency', 'text'],
  ['balance', 'int'],
  ['held', 'int'],
  ['usage_day', 'text'],
  ['day_amount', 'int'],
  ['day_count', 'int'],
  ['usage_month', 'text'],
  ['month_amount', 'int'],
  ['month_count', 'int'],
];

/** The rows of the accounts a lock statement locks (LOCK_COLUMNS), before its WHERE. */
const LOCKED_ACCOUNTS = `SELECT a.id, a.currency, a.balance, a.held, a.usage_day::text AS usage_day, a.day_amount, a.day_count,
       a.usage_month::text AS usage_month, a.month_amount, a.month_count
FROM accounts a`;

const READ_COLUMNS: Columns = [
  ['k', 'int'],
  ['jid', 'int'],
  ['t_sp', 'int'],
  ['t_status', 'text'],
  ['t_init', 'bool'],
  ['sp_id', 'int'],
  ['sp_status', 'text'],
  ['v_card', 'int'],
  ['v_acct', 'int'],
  ['q_id', 'int'],
  ['q_card', 'int'],
  ['q_used', 'bool'],
  ['q_expires', 'float'],
  ['q_max', 'int'],
  ['q_sp', 'int'],
  ['c_id', 'int'],
  ['c_acct', 'int'],
  ['c_client', 'int'],
  ['c_status', 'text'],
  ['c_expiry', 'text'],
  ['c_network', 'int'],
  ['fuel', 'bool'],
  ['dotation', 'bool'],
  ['ticket', 'bool'],
  ['transfer', 'bool'],
  ['recharge', 'bool'],
  ['limit_per_txn', 'int'],
  ['limit_day_amount', 'int'],
  ['limit_day_count', 'int'],
  ['limit_month_amount', 'int'],
  ['limit_month_count', 'int'],
  ['valid_from', 'text'],
  ['valid_to', 'text'],
  ['x_id', 'int'],
  ['x_acct', 'int'],
  ['x_client', 'int'],
  ['x_status', 'text'],
  ['x_network', 'int'],
  ['f_acct', 'int'],
  ['r_upto', 'int'],
  ['pin_required', 'bool'],
  ['c_pin', 'text'],
  ['c_pin_tries', 'int'],
  ['c_profile', 'int'],
];

/** A column of the read statement, by name. */
function readColumn(name: string): Columns[number] {
  const c = READ_COLUMNS.find(([n]) => n === name);
  if (c === undefined) throw new Error(`ledger: the read has no column ${name}`);
  return c;
}

/** A card profile's fields the rules read, as the read statement joins them (ItemRow in ./posting.ts). */
export const PROFILE_FIELDS = ['fuel', 'dotation', 'ticket', 'transfer', 'recharge', 'limit_per_txn', 'limit_day_amount', 'limit_day_count', 'limit_month_amount', 'limit_month_count', 'valid_from', 'valid_to', 'pin_required'] as const;
const PROFILE_TEXT: Readonly<Record<string, string>> = { valid_from: 'p.valid_from::text', valid_to: 'p.valid_to::text' };
/** Those fields as selected from `card_profiles p`: by the read statement's join, or by PROFILES_BY_ID. */
const PROFILE_SELECT = PROFILE_FIELDS.map((f) => `${PROFILE_TEXT[f] ?? `p.${f}`} AS ${f}`).join(', ');

/**
 * The profiles a batch's items' hints name (types.ts `profileHint`), by id: the read statement
 * then returns each card's profile id instead of joining its profile. A batch of purchases
 * names one or a few profiles, so the profile is looked up once each, not once per item, and
 * its thirteen columns are sent once each: 2.1%, 3.2% and 4.8% of PostgreSQL's instructions
 * for batches of 1, 4 and 200 purchases (make bench-pg-instructions). Values: the ids.
 */
export const PROFILES_BY_ID: Built = {
  name: 'ledger_profiles_ids',
  text: `SELECT p.id, ${PROFILE_SELECT} FROM card_profiles p WHERE p.id = ANY ($1::bigint[])`,
  // in PROFILE_SELECT's order, with the kinds the read declares for them
  columns: [['id', 'int'], ...PROFILE_FIELDS.map(readColumn)],
};

const JOURNAL_ROW_COLUMNS: Columns = [
  ['id', 'int'],
  ['op', 'text'],
  ['outcome', 'text'],
  ['amount', 'int'],
  ['terminal_id', 'text'],
  ['stan', 'text'],
  ['transmission_at', 'text'],
  ['duplicate_of', 'int'],
  ['card_id', 'int'],
  ['counter_card_id', 'int'],
  ['card_acct', 'int'],
  ['counter_acct', 'int'],
  ['day', 'text'],
  ['posted_ms', 'float'],
  ['request_hash', 'text'],
  ['approval_code', 'text'],
  ['available_after', 'int'],
  ['reversed_by', 'int'],
  ['h_id', 'int'],
  ['h_acct', 'int'],
  ['h_amount', 'int'],
  ['h_status', 'text'],
  ['h_expires', 'float'],
];

const bits = (flags: boolean[]): string => flags.map((f) => (f ? '1' : '0')).join('');

export interface LockParts {
  codes: boolean;
  servicePoints: boolean;
  recharges: boolean;
  originals: boolean;
  expiring: boolean;
}

/**
 * Locks every account the batch may touch, in id order, so that two batches never wait for each
 * other in a cycle: those of the items' cards and transfer targets, of the cards behind their
 * transaction codes, of their service points' virtual cards, of the recharged cards' clients'
 * funding accounts, of the originals named by completions and reversals, and of the holds to
 * expire. Returns their state: rows locked FOR UPDATE are read as last committed.
 * Values, in order: card ids, then (each when its part is there) code hashes, service point
 * ids, recharged card ids, original keys (terminals, STANs, DE7s), expiring journal ids.
 */
export function lockStatement(p: LockParts): Built {
  return built(`ledger_lock_${bits([p.codes, p.servicePoints, p.recharges, p.originals, p.expiring])}`, LOCK_COLUMNS, () => {
    const $ = new Params();
    const parts = [
      `SELECT c.account_id FROM unnest(${$.next('bigint[]')}) AS u(id)
    JOIN LATERAL (SELECT c.account_id FROM cards c WHERE c.id = u.id LIMIT 1) c ON true`,
    ];
    if (p.codes)
      parts.push(`SELECT c.account_id FROM unnest(${$.next('text[]')}) AS u(h)
    JOIN LATERAL (SELECT q.card_id FROM transaction_codes q WHERE q.code_hash = decode(u.h, 'hex') LIMIT 1) q ON true
    JOIN LATERAL (SELECT c.account_id FROM cards c WHERE c.id = q.card_id LIMIT 1) c ON true`);
    if (p.servicePoints)
      parts.push(`SELECT s.virtual_account_id FROM unnest(${$.next('bigint[]')}) AS u(sp)
    JOIN LATERAL (SELECT s.virtual_account_id FROM service_points s WHERE s.id = u.sp LIMIT 1) s ON true`);
    if (p.recharges)
      parts.push(`SELECT f.id FROM unnest(${$.next('bigint[]')}) AS u(card)
    JOIN LATERAL (SELECT c.client_id FROM cards c WHERE c.id = u.card LIMIT 1) c ON true
    JOIN LATERAL (SELECT f.id FROM accounts f WHERE f.kind = 'funding' AND f.client_id = c.client_id LIMIT 1) f ON true`);
    if (p.originals)
      parts.push(`SELECT x.account_id FROM unnest(${$.next('text[]')}, ${$.next('text[]')}, ${$.next('text[]')}) AS u(t, s, d)
    JOIN LATERAL (SELECT j.card_id, j.counter_card_id FROM journal j
                  WHERE j.terminal_id = u.t AND j.stan = u.s AND j.transmission_at = u.d AND j.duplicate_of IS NULL LIMIT 1) j ON true
    CROSS JOIN LATERAL (VALUES (j.card_id), (j.counter_card_id)) AS w(card)
    JOIN LATERAL (SELECT c.account_id FROM cards c WHERE c.id = w.card LIMIT 1) x ON true`);
    if (p.expiring)
      parts.push(`SELECT h.account_id FROM unnest(${$.next('bigint[]')}) AS u(id)
    JOIN LATERAL (SELECT h.account_id FROM holds h WHERE h.journal_id = u.id LIMIT 1) h ON true`);
    return `
${LOCKED_ACCOUNTS}
WHERE a.id = ANY (ARRAY(
  ${parts.join('\n  UNION ALL\n  ')}
))
ORDER BY a.id
FOR UPDATE`;
  });
}

/**
 * Locks the accounts the items' hints name (types.ts `accountHint`), in id order: the lock
 * statement without the lookups that find the accounts through the cards and service points,
 * about 8% of PostgreSQL's instructions for a batch of one purchase and 4.5% at 200 (make
 * bench-pg-instructions). Values: the account ids, sorted.
 */
export const LOCK_BY_ID: Built = {
  name: 'ledger_lock_ids',
  text: `
${LOCKED_ACCOUNTS}
WHERE a.id = ANY ($1::bigint[])
ORDER BY a.id
FOR UPDATE`,
  columns: LOCK_COLUMNS,
};

/**
 * The terminals that send the batch's reversals, share-locked after the accounts: a
 * reconciliation of a terminal locks its row (db/reconcile.ts), so it either committed before
 * this batch's read (which then sees it) or waits for this batch's commit (and then counts its
 * reversals). Values: the terminal ids.
 */
export const TERMINAL_LOCK: Built = {
  name: 'ledger_lock_terminals',
  text: `SELECT t.id FROM terminals t WHERE t.id = ANY ($1::text[]) ORDER BY t.id FOR SHARE`,
  columns: [],
};

export interface ReadParts {
  codes: boolean;
  transfers: boolean;
  recharges: boolean;
  reversals: boolean;
  /** The card's profile joined (its columns), or only its id (`c_profile`: the profiles come from PROFILES_BY_ID). */
  profiles: boolean;
}

/**
 * The rows of each item, read after the locks (a statement of its own, so its snapshot sees what
 * the batches that held those locks committed), and a journal id for each item, drawn in item
 * order. One row per item, each with its item's ordinal (k, from 1); in no promised order: an
 * ORDER BY was a Sort node, whose start-up cost every batch more than placing the rows by k
 * costs the caller. Values: the items (ledger_item rows: op, terminal,
 * service point, card, code hash, transfer target).
 */
export function readStatement(p: ReadParts): Built {
  return built(`ledger_read_${bits([p.codes, p.transfers, p.recharges, p.reversals, p.profiles])}`, READ_COLUMNS, () => readText(p));
}

/** The read statement of those parts: its text, and its columns with those of absent parts marked so. */
function readText(p: ReadParts): { text: string; columns: Columns } {
  // A part the batch does not need is neither a join nor a column: every plan node is paid again
  // when each batch starts its executor, and so is every column, NULL or not (the decoder sets
  // the fields of an absent part to null: ./wire.ts `absent`).
  const network = p.transfers ? `CASE WHEN u.op = 'transfer' THEN (SELECT cl.network_id FROM clients cl WHERE cl.id = c.client_id) END AS network_id, ` : '';
  const part: Record<string, boolean> = {
    q_id: p.codes, q_card: p.codes, q_used: p.codes, q_expires: p.codes, q_max: p.codes, q_sp: p.codes,
    c_network: p.transfers, x_id: p.transfers, x_acct: p.transfers, x_client: p.transfers, x_status: p.transfers, x_network: p.transfers,
    f_acct: p.recharges,
    r_upto: p.reversals,
    c_profile: !p.profiles,
  };
  for (const f of PROFILE_FIELDS) part[f] = p.profiles;
  const expr: Record<string, string> = {
    k: 'u.k', jid: 'u.jid',
    t_sp: 't.service_point_id', t_status: 't.status', t_init: 't.initialized_at IS NOT NULL',
    sp_id: 'sp.id', sp_status: 'sp.status', v_card: 'sp.virtual_card_id', v_acct: 'sp.virtual_account_id',
    q_id: 'q.id', q_card: 'q.card_id', q_used: 'q.used_at IS NOT NULL', q_expires: '(extract(epoch FROM q.expires_at) * 1000)::float8', q_max: 'q.amount_max', q_sp: 'q.service_point_id',
    c_id: 'c.id', c_acct: 'c.account_id', c_client: 'c.client_id', c_status: 'c.status', c_expiry: 'c.expiry', c_network: 'c.network_id',
    x_id: 'x.id', x_acct: 'x.account_id', x_client: 'x.client_id', x_status: 'x.status', x_network: 'x.network_id',
    f_acct: 'f.id',
    r_upto: `(SELECT (r.computed->>'upTo')::bigint FROM reconciliations r
         WHERE u.op = 'reversal' AND r.terminal_id = u.term AND r.outcome = 'balanced' ORDER BY r.id DESC LIMIT 1)`,
    c_pin: 'c.pin', c_pin_tries: 'c.pin_tries', c_profile: 'c.profile_id',
  };
  const columns: Columns = READ_COLUMNS.map(([n, kind]) => (part[n] === false ? [n, 'absent'] : [n, kind]));
  const select = columns.filter(([, kind]) => kind !== 'absent').map(([n]) => `${expr[n] ?? `c.${n}`} AS ${n}`);
  const join = [
    p.codes
      ? `LEFT JOIN LATERAL (SELECT q.id, q.card_id, q.used_at, q.expires_at, q.amount_max, q.service_point_id
                   FROM transaction_codes q WHERE q.code_hash = decode(u.code, 'hex') LIMIT 1) q ON true`
      : '',
    `LEFT JOIN LATERAL (
  SELECT c.id, c.account_id, c.client_id, c.status, c.expiry, ${network}encode(c.pin_hash, 'hex') AS pin, c.pin_tries, ${
    p.profiles
      ? `${PROFILE_SELECT}
  FROM cards c JOIN card_profiles p ON p.id = c.profile_id`
      : `c.profile_id
  FROM cards c`
  }
  WHERE c.id = ${p.codes ? 'coalesce(u.card, q.card_id)' : 'u.card'} LIMIT 1
) c ON true`,
    p.transfers
      ? `LEFT JOIN LATERAL (
  SELECT x.id, x.account_id, x.client_id, x.status, (SELECT cl.network_id FROM clients cl WHERE cl.id = x.client_id) AS network_id
  FROM cards x WHERE u.op = 'transfer' AND x.id = u."to" LIMIT 1
) x ON true`
      : '',
    p.recharges
      ? `LEFT JOIN LATERAL (
  SELECT f.id FROM accounts f WHERE u.op = 'recharge' AND f.kind = 'funding' AND f.client_id = c.client_id LIMIT 1
) f ON true`
      : '',
  ].filter((j) => j !== '');
  // terminals and service points by their primary keys: plain joins (a LATERAL subquery with
  // LIMIT 1 adds a Limit node to start per batch); the service point's row names its virtual
  // card and that card's account (migration 009)
  const text = `
SELECT ${select.join(', ')}
FROM (SELECT u.*, nextval('journal_id_seq'::regclass) AS jid
      FROM unnest($1::ledger_item[]) WITH ORDINALITY AS u(op, term, sp, card, code, "to", k)) u
LEFT JOIN terminals t ON t.id = u.term
LEFT JOIN service_points sp ON sp.id = u.sp
${join.join('\n')}`;
  return { text, columns };
}

export interface JournalParts {
  keys: boolean;
  expiring: boolean;
}

/**
 * The journal rows the batch refers to: those with the items' own keys (duplicates), those
 * named by completions and reversals (terminal, STAN, DE7 of DE90), and the pre-authorizations
 * of expiring holds (by id); with their holds and the accounts of their cards. Values: the keys'
 * terminals, STANs and DE7s, then the expiring journal ids (each when its part is there).
 */
export function journalStatement(p: JournalParts): Built {
  return built(`ledger_journal_${bits([p.keys, p.expiring])}`, JOURNAL_ROW_COLUMNS, () => {
    const $ = new Params();
    const found: string[] = [];
    if (p.keys)
      found.push(`SELECT j.id FROM unnest(${$.next('text[]')}, ${$.next('text[]')}, ${$.next('text[]')}) AS u(t, s, d)
    JOIN LATERAL (SELECT j.id FROM journal j
                  WHERE j.terminal_id = u.t AND j.stan = u.s AND j.transmission_at = u.d AND j.duplicate_of IS NULL LIMIT 1) j ON true`);
    if (p.expiring) found.push(`SELECT u.id FROM unnest(${$.next('bigint[]')}) AS u(id)`);
    return `
WITH found AS (
  ${found.join('\n  UNION\n  ')}
)
SELECT j.id, j.op, j.outcome, j.amount, j.terminal_id, j.stan, j.transmission_at, j.duplicate_of, j.card_id, j.counter_card_id,
       (SELECT c.account_id FROM cards c WHERE c.id = j.card_id) AS card_acct,
       (SELECT c.account_id FROM cards c WHERE c.id = j.counter_card_id) AS counter_acct,
       (j.created_at AT TIME ZONE 'UTC')::date::text AS day, (extract(epoch FROM j.created_at) * 1000)::float8 AS posted_ms, encode(j.request_hash, 'hex') AS request_hash,
       j.approval_code, j.available_after, j.reversed_by,
       h.id AS h_id, h.account_id AS h_acct, h.amount AS h_amount, h.status AS h_status, (extract(epoch FROM h.expires_at) * 1000)::float8 AS h_expires
FROM found
JOIN LATERAL (SELECT * FROM journal j WHERE j.id = found.id LIMIT 1) j ON true
LEFT JOIN LATERAL (SELECT h.id, h.account_id, h.amount, h.status, h.expires_at FROM holds h WHERE h.journal_id = j.id LIMIT 1) h ON true`;
  });
}

/** The journal's columns as the write statement takes them, one array each. */
export const JOURNAL_COLUMNS = [
  ['id', 'bigint'],
  ['op', 'text'],
  ['source', 'text'],
  ['outcome', 'text'],
  ['terminal_id', 'text'],
  ['service_point_id', 'bigint'],
  ['stan', 'text'],
  ['transmission_at', 'text'],
  ['mti', 'text'],
  ['card_id', 'bigint'],
  ['counter_card_id', 'bigint'],
  ['code_id', 'bigint'],
  ['amount', 'bigint'],
  ['currency', 'text'],
  ['service', 'text'],
  ['original_id', 'bigint'],
  ['duplicate_of', 'bigint'],
  ['reversed_by', 'bigint'],
  ['request_hash', 'text'],
  ['approval_code', 'text'],
  ['available_after', 'bigint'],
  ['user_id', 'bigint'],
  ['note', 'text'],
  ['debit_account', 'bigint'],
  ['credit_account', 'bigint'],
  ['entry_amount', 'bigint'],
] as const;

/**
 * The row types a batch's lists travel as, one parameter each (migration 007, which must say
 * the same: test/db/ledger-wire.test.ts compares them with the catalog): their attributes, in
 * order. posting.ts builds the rows in this order.
 */
export const ROW_TYPES = {
  /** The read statement's items. */
  ledger_item: [
    ['op', 'text'],
    ['term', 'text'],
    ['sp', 'bigint'],
    ['card', 'bigint'],
    ['code', 'text'],
    ['to', 'bigint'],
  ],
  journal_row: JOURNAL_COLUMNS,
  /** The write statement's accounts: balance and held by deltas, limits used as decided. */
  account_change: [
    ['id', 'bigint'],
    ['balance_delta', 'bigint'],
    ['held_delta', 'bigint'],
    ['usage_day', 'date'],
    ['day_amount', 'bigint'],
    ['day_count', 'int'],
    ['usage_month', 'date'],
    ['month_amount', 'bigint'],
    ['month_count', 'int'],
  ],
} as const;

export type RowType = keyof typeof ROW_TYPES;

/** The element types of each optional part's arrays, in the order the write statement takes them (posting.ts writeValues sends them so). */
export const WRITE_PART_TYPES = {
  newHolds: ['bigint', 'bigint', 'bigint', 'text', 'bigint', 'timestamptz'],
  closedHolds: ['bigint', 'text', 'bigint'],
  reversed: ['bigint', 'bigint'],
  codes: ['bigint', 'bigint'],
  pins: ['bigint', 'int', 'text'],
} as const;

export interface WriteParts {
  accounts: boolean;
  newHolds: boolean;
  closedHolds: boolean;
  reversed: boolean;
  codes: boolean;
  pins: boolean;
}

/**
 * Writes a decided batch in one statement: the journal rows (each with its movement), the
 * accounts (balance and held by the sums of the batch's deltas, limits used as decided), the
 * holds opened (with their final state: one opened and closed in the same batch is written
 * closed) and closed, the originals reversed, the codes redeemed. Values: the batch's time, the
 * journal rows (journal_row), then (each when its part is there) the accounts' changes
 * (account_change); the new holds' journal id, account, amount, status, closed by, expiry; the
 * closed holds' id, status, closed by; the reversed originals' id and reversal; the redeemed
 * codes' id and journal id; the cards' id, PIN tries and the PIN digest they were counted against.
 */
export function writeStatement(p: WriteParts): Built {
  return built(`ledger_write_${bits([p.accounts, p.newHolds, p.closedHolds, p.reversed, p.codes, p.pins])}`, [], () => {
    const $ = new Params();
    const now = $.next('timestamptz');
    const cols = JOURNAL_COLUMNS.map(([c]) => c);
    const select = cols.map((c) => (c === 'request_hash' ? `decode(u.${c}, 'hex')` : `u.${c}`)).join(', ');
    const ctes = [
      `j AS (
  INSERT INTO journal (${cols.join(', ')}, created_at)
  SELECT ${select}, ${now} FROM unnest(${$.next('journal_row[]')}) AS u
)`,
    ];
    const arrays = (...types: string[]): string => types.map((t) => $.next(`${t}[]`)).join(', ');
    if (p.accounts)
      ctes.push(`a AS (
  UPDATE accounts ac SET balance = ac.balance + u.balance_delta, held = ac.held + u.held_delta, usage_day = u.usage_day,
                         day_amount = u.day_amount, day_count = u.day_count, usage_month = u.usage_month,
                         month_amount = u.month_amount, month_count = u.month_count
  FROM unnest(${$.next('account_change[]')}) AS u
  WHERE ac.id = u.id
)`);
    if (p.newHolds)
      ctes.push(`hn AS (
  INSERT INTO holds (journal_id, account_id, amount, status, closed_by, expires_at, created_at)
  SELECT u.j, u.a, u.amt, u.s, u.b, u.e, ${now}
  FROM unnest(${arrays(...WRITE_PART_TYPES.newHolds)}) AS u(j, a, amt, s, b, e)
)`);
    if (p.closedHolds)
      ctes.push(`hc AS (
  UPDATE holds h SET status = u.s, closed_by = u.b FROM unnest(${arrays(...WRITE_PART_TYPES.closedHolds)}) AS u(id, s, b) WHERE h.id = u.id
)`);
    if (p.reversed)
      ctes.push(`r AS (
  UPDATE journal o SET reversed_by = u.b FROM unnest(${arrays(...WRITE_PART_TYPES.reversed)}) AS u(id, b) WHERE o.id = u.id
)`);
    if (p.codes)
      ctes.push(`q AS (
  UPDATE transaction_codes q SET used_at = ${now}, journal_id = u.j FROM unnest(${arrays(...WRITE_PART_TYPES.codes)}) AS u(id, j) WHERE q.id = u.id
)`);
    // a card's PIN tries, only while its PIN is the one they were counted against (the back
    // office setting a new PIN meanwhile clears them, and wins)
    if (p.pins)
      ctes.push(`pt AS (
  UPDATE cards c SET pin_tries = u.n FROM unnest(${arrays(...WRITE_PART_TYPES.pins)}) AS u(id, n, h) WHERE c.id = u.id AND c.pin_hash = decode(u.h, 'hex')
)`);
    return `\nWITH ${ctes.join(', ')}\nSELECT 1`;
  });
}
