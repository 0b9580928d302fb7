/**
 * Data access for the back office and the switch: create and read clients, members,
 * service points, terminals (and their security PINs), card profiles, cards, virtual
 * cards, transaction codes, users and tokens. Money moves only through the ledger
 * (db/ledger.ts); nothing here edits a balance.
 */
import type pg from 'pg';
import { codeHash, hashPin, newCode, newPan, newPin, newToken, tokenHash, verifyPin } from './secrets.js';
import { inTransaction } from './pool.js';

export type Db = pg.Pool | pg.PoolClient;

export type StoreErrorKind = 'not_found' | 'conflict' | 'invalid';

/** A refusal the caller can show as is (404, 409, 422). */
export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** Translates constraint violations into StoreErrors; rethrows anything else. */
function pgError(e: unknown, what: string): never {
  const err = e as { code?: string; constraint?: string; detail?: string };
  if (err.code === '23505') throw new StoreError('conflict', `${what} already exists${err.detail ? `: ${err.detail}` : ''}`, err.constraint);
  if (err.code === '23503') throw new StoreError('invalid', `${what} refers to something that does not exist${err.detail ? `: ${err.detail}` : ''}`, err.constraint);
  if (err.code === '23514') throw new StoreError('invalid', `${what} is not valid (${err.constraint ?? 'check'})`, err.constraint);
  throw e;
}

async function one<T extends pg.QueryResultRow>(db: Db, what: string, sql: string, params: unknown[]): Promise<T> {
  try {
    const r = await db.query<T>(sql, params);
    if (r.rows.length === 0) throw new StoreError('not_found', `${what} not found`);
    return r.rows[0];
  } catch (e) {
    if (e instanceof StoreError) throw e;
    pgError(e, what);
  }
}

function inTx<T>(db: Db, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return 'totalCount' in db ? inTransaction(db, fn) : fn(db); // a client: the caller owns the transaction
}

// ------------------------------------------------------------------ networks, clients, members

export interface Network {
  id: number;
  code: string;
  name: string;
}

export function createNetwork(db: Db, n: { code: string; name: string }): Promise<Network> {
  return one<Network>(db, 'network', 'INSERT INTO networks (code, name) VALUES ($1, $2) RETURNING id, code, name', [n.code, n.name]);
}

export interface Client {
  id: number;
  code: string;
  name: string;
  network_id: number | null;
  funding_account_id: number;
}

/** A client and its funding account (the source of its recharges). */
export function createClient(db: Db, c: { code: string; name: string; networkId?: number | null }): Promise<Client> {
  return inTx(db, async (tx) => {
    const client = await one<Omit<Client, 'funding_account_id'>>(
      tx,
      'client',
      'INSERT INTO clients (code, name, network_id) VALUES ($1, $2, $3) RETURNING id, code, name, network_id',
      [c.code, c.name, c.networkId ?? null],
    );
    const acct = await one<{ id: number }>(tx, 'funding account', "INSERT INTO accounts (kind, client_id) VALUES ('funding', $1) RETURNING id", [client.id]);
    return { ...client, funding_account_id: acct.id };
  });
}

export function getClient(db: Db, id: number): Promise<Client> {
  return one<Client>(
    db,
    'client',
    `SELECT c.id, c.code, c.name, c.network_id, a.id AS funding_account_id
     FROM clients c JOIN accounts a ON a.client_id = c.id AND a.kind = 'funding' WHERE c.id = $1`,
    [id],
  );
}

/** A card holder: a member of the client, or a beneficiary of it. */
export type HolderKind = 'member' | 'beneficiary';

export interface Member {
  id: number;
  client_id: number;
  name: string;
  kind: HolderKind;
  email: string | null;
  phone: string | null;
}

export function createMember(db: Db, m: { clientId: number; name: string; kind?: HolderKind; email?: string | null; phone?: string | null }): Promise<Member> {
  return one<Member>(
    db,
    'member',
    'INSERT INTO members (client_id, name, kind, email, phone) VALUES ($1, $2, $3, $4, $5) RETURNING id, client_id, name, kind, email, phone',
    [m.clientId, m.name, m.kind ?? 'member', m.email ?? null, m.phone ?? null],
  );
}

// ------------------------------------------------------------------ service points, terminals

export interface ServicePoint {
  id: number;
  code: string;
  name: string;
  status: 'active' | 'closed';
  /** The establishment client the service point belongs to (null for one made before it was recorded). */
  client_id: number | null;
  virtual_card_id: number | null;
}

export function createServicePoint(db: Db, s: { code: string; name: string; clientId?: number | null }): Promise<ServicePoint> {
  return one<ServicePoint>(
    db,
    'service point',
    'INSERT INTO service_points (code, name, client_id) VALUES ($1, $2, $3) RETURNING id, code, name, status, client_id, NULL::bigint AS virtual_card_id',
    [s.code, s.name, s.clientId ?? null],
  );
}

const SERVICE_POINT_SELECT = `SELECT s.id, s.code, s.name, s.status, s.client_id, v.id AS virtual_card_id
  FROM service_points s LEFT JOIN cards v ON v.service_point_id = s.id AND v.is_virtual`;

export function getServicePoint(db: Db, id: number): Promise<ServicePoint> {
  return one<ServicePoint>(db, 'service point', `${SERVICE_POINT_SELECT} WHERE s.id = $1`, [id]);
}

export function getServicePointByCode(db: Db, code: string): Promise<ServicePoint> {
  return one<ServicePoint>(db, 'service point', `${SERVICE_POINT_SELECT} WHERE s.code = $1`, [code]);
}

export interface Terminal {
  id: string;
  service_point_id: number;
  status: 'active' | 'blocked';
  initialized_at: Date | null;
}

export function createTerminal(db: Db, t: { id: string; servicePointId: number }): Promise<Terminal> {
  return one<Terminal>(
    db,
    'terminal',
    'INSERT INTO terminals (id, service_point_id) VALUES ($1, $2) RETURNING id, service_point_id, status, initialized_at',
    [t.id, t.servicePointId],
  );
}

export function getTerminal(db: Db, id: string): Promise<Terminal> {
  return one<Terminal>(db, 'terminal', 'SELECT id, service_point_id, status, initialized_at FROM terminals WHERE id = $1', [id]);
}

export function setTerminalStatus(db: Db, id: string, status: Terminal['status']): Promise<Terminal> {
  return one<Terminal>(db, 'terminal', 'UPDATE terminals SET status = $2 WHERE id = $1 RETURNING id, service_point_id, status, initialized_at', [id, status]);
}

/**
 * A new 4-digit security PIN for a terminal's initialisation, shown once. It replaces an
 * unused one; it is single use and expires after ttlSeconds.
 */
export function issueTerminalPin(db: Db, terminalId: string, ttlSeconds: number, userId?: number): Promise<{ pin: string; expiresAt: Date }> {
  return inTx(db, async (tx) => {
    await one(tx, 'terminal', 'SELECT id FROM terminals WHERE id = $1 FOR UPDATE', [terminalId]);
    await tx.query('UPDATE terminal_pins SET replaced_at = now() WHERE terminal_id = $1 AND used_at IS NULL AND replaced_at IS NULL', [terminalId]);
    const pin = newPin();
    const r = await one<{ expires_at: Date }>(
      tx,
      'terminal PIN',
      `INSERT INTO terminal_pins (terminal_id, pin_hash, expires_at, created_by) VALUES ($1, $2, now() + make_interval(secs => $3), $4) RETURNING expires_at`,
      [terminalId, hashPin(pin), ttlSeconds, userId ?? null],
    );
    return { pin, expiresAt: r.expires_at };
  });
}

export type PinCheck = 'ok' | 'no_pin' | 'expired' | 'wrong' | 'burned';

/** Wrong attempts a PIN survives: the next one burns it, and the back office must issue another. */
export const PIN_MAX_ATTEMPTS = 3;

/**
 * Spends the terminal's live PIN if `pin` matches it and it has not expired; marks the
 * terminal initialized. A wrong PIN counts; the PIN_MAX_ATTEMPTS-th wrong one burns it.
 */
export function consumeTerminalPin(db: Db, terminalId: string, pin: string): Promise<PinCheck> {
  return inTx(db, async (tx) => {
    const r = await tx.query<{ id: number; pin_hash: string; expired: boolean; failed_attempts: number }>(
      `SELECT id, pin_hash, expires_at <= now() AS expired, failed_attempts FROM terminal_pins
       WHERE terminal_id = $1 AND used_at IS NULL AND replaced_at IS NULL FOR UPDATE`,
      [terminalId],
    );
    const live = r.rows[0];
    if (!live) return 'no_pin';
    if (live.expired) return 'expired';
    if (!verifyPin(pin, live.pin_hash)) {
      const burned = live.failed_attempts + 1 >= PIN_MAX_ATTEMPTS;
      await tx.query(`UPDATE terminal_pins SET failed_attempts = failed_attempts + 1${burned ? ', replaced_at = now()' : ''} WHERE id = $1`, [live.id]);
      return burned ? 'burned' : 'wrong';
    }
    await tx.query('UPDATE terminal_pins SET used_at = now() WHERE id = $1', [live.id]);
    await tx.query('UPDATE terminals SET initialized_at = coalesce(initialized_at, now()), last_sign_on_at = now() WHERE id = $1', [terminalId]);
    return 'ok';
  });
}

// ------------------------------------------------------------------ card profiles

export interface ProfileFlags {
  fuel: boolean;
  dotation: boolean;
  ticket: boolean;
  transfer: boolean;
  recharge: boolean;
}

export interface ProfileLimits {
  limit_per_txn: number | null;
  limit_day_amount: number | null;
  limit_day_count: number | null;
  limit_month_amount: number | null;
  limit_month_count: number | null;
}

export interface CardProfile extends ProfileFlags, ProfileLimits {
  id: number;
  client_id: number;
  code: string;
  name: string;
  kind: 'standard' | 'virtual';
  valid_from: string | null;
  valid_to: string | null;
}

export type NewProfile = {
  clientId: number;
  code: string;
  name: string;
  kind?: CardProfile['kind'];
  limitPerTxn?: number | null;
  limitDayAmount?: number | null;
  limitDayCount?: number | null;
  limitMonthAmount?: number | null;
  limitMonthCount?: number | null;
  validFrom?: string | null;
  validTo?: string | null;
} & Partial<ProfileFlags>;

const PROFILE_COLUMNS =
  'id, client_id, code, name, kind, fuel, dotation, ticket, transfer, recharge, limit_per_txn, limit_day_amount, limit_day_count, limit_month_amount, limit_month_count, valid_from::text, valid_to::text';

export function createProfile(db: Db, p: NewProfile): Promise<CardProfile> {
  return one<CardProfile>(
    db,
    'card profile',
    `INSERT INTO card_profiles (client_id, code, name, kind, fuel, dotation, ticket, transfer, recharge,
       limit_per_txn, limit_day_amount, limit_day_count, limit_month_amount, limit_month_count, valid_from, valid_to)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING ${PROFILE_COLUMNS}`,
    [
      p.clientId,
      p.code,
      p.name,
      p.kind ?? 'standard',
      p.fuel ?? false,
      p.dotation ?? false,
      p.ticket ?? false,
      p.transfer ?? false,
      p.recharge ?? false,
      p.limitPerTxn ?? null,
      p.limitDayAmount ?? null,
      p.limitDayCount ?? null,
      p.limitMonthAmount ?? null,
      p.limitMonthCount ?? null,
      p.validFrom ?? null,
      p.validTo ?? null,
    ],
  );
}

/** The columns a profile update may set, by input name. */
const PROFILE_UPDATABLE = {
  name: 'name',
  fuel: 'fuel',
  dotation: 'dotation',
  ticket: 'ticket',
  transfer: 'transfer',
  recharge: 'recharge',
  limitPerTxn: 'limit_per_txn',
  limitDayAmount: 'limit_day_amount',
  limitDayCount: 'limit_day_count',
  limitMonthAmount: 'limit_month_amount',
  limitMonthCount: 'limit_month_count',
  validFrom: 'valid_from',
  validTo: 'valid_to',
} as const;

export type ProfilePatch = Partial<Record<keyof typeof PROFILE_UPDATABLE, unknown>>;

/**
 * Changes a profile's name, services, limits or validity (absent fields stay). The row is
 * locked and read first, so the caller's checks see the profile as it will be changed.
 */
export async function updateProfile(tx: pg.PoolClient, id: number, patch: ProfilePatch, check: (before: CardProfile, after: CardProfile) => void): Promise<CardProfile> {
  const before = await one<CardProfile>(tx, 'card profile', `SELECT ${PROFILE_COLUMNS} FROM card_profiles WHERE id = $1 FOR UPDATE`, [id]);
  const sets: string[] = [];
  const values: unknown[] = [id];
  const after = { ...before } as unknown as Record<string, unknown>;
  for (const [key, column] of Object.entries(PROFILE_UPDATABLE)) {
    const v = patch[key as keyof ProfilePatch];
    if (v === undefined) continue;
    values.push(v);
    sets.push(`${column} = $${values.length}`);
    after[column] = v;
  }
  check(before, after as unknown as CardProfile);
  if (sets.length === 0) return before;
  return one<CardProfile>(tx, 'card profile', `UPDATE card_profiles SET ${sets.join(', ')} WHERE id = $1 RETURNING ${PROFILE_COLUMNS}`, [...values]);
}

export function getProfile(db: Db, id: number): Promise<CardProfile> {
  return one<CardProfile>(db, 'card profile', `SELECT ${PROFILE_COLUMNS} FROM card_profiles WHERE id = $1`, [id]);
}

/** A virtualization profile: terminal services off, transfer and recharge on. */
export function isVirtualizationProfile(p: ProfileFlags & { kind: string }): boolean {
  return p.kind === 'standard' && !p.fuel && !p.dotation && !p.ticket && p.transfer && p.recharge;
}

// ------------------------------------------------------------------ cards

export interface Card {
  id: number;
  pan: string;
  name: string;
  client_id: number;
  member_id: number;
  profile_id: number;
  account_id: number;
  status: 'active' | 'blocked' | 'opposed' | 'cancelled';
  expiry: string;
  is_virtual: boolean;
  service_point_id: number | null;
  balance: number;
  held: number;
  available: number;
  currency: string;
}

const CARD_SELECT = `SELECT c.id, c.pan, c.name, c.client_id, c.member_id, c.profile_id, c.account_id, c.status, c.expiry,
  c.is_virtual, c.service_point_id, a.balance, a.held, a.balance - a.held AS available, a.currency
  FROM cards c JOIN accounts a ON a.id = c.account_id`;

export interface NewCard {
  pan?: string;
  name: string;
  clientId: number;
  memberId: number;
  profileId: number;
  /** YYMM */
  expiry: string;
  currency?: string;
}

/** A card and its account. The member and the profile must belong to the card's client. */
export function createCard(db: Db, c: NewCard): Promise<Card> {
  return inTx(db, async (tx) => insertCard(tx, c, null));
}

async function insertCard(tx: pg.PoolClient, c: NewCard, servicePointId: number | null): Promise<Card> {
  const check = await tx.query<{ member_ok: boolean; profile_ok: boolean; kind: string }>(
    `SELECT EXISTS (SELECT 1 FROM members WHERE id = $2 AND client_id = $1) AS member_ok,
            EXISTS (SELECT 1 FROM card_profiles WHERE id = $3 AND client_id = $1) AS profile_ok,
            (SELECT kind FROM card_profiles WHERE id = $3) AS kind`,
    [c.clientId, c.memberId, c.profileId],
  );
  const { member_ok, profile_ok, kind } = check.rows[0];
  if (!member_ok) throw new StoreError('invalid', 'the holder must be a member of the card\'s client', 'memberId');
  if (!profile_ok) throw new StoreError('invalid', 'the profile must belong to the card\'s client', 'profileId');
  if (servicePointId === null && kind === 'virtual') throw new StoreError('invalid', 'a virtual-card profile is only for a service point\'s virtual card', 'profileId');
  if (servicePointId !== null && kind !== 'virtual') throw new StoreError('invalid', 'a virtual card needs a profile of the virtual-card kind', 'profileId');
  const acct = await one<{ id: number }>(
    tx,
    'account',
    'INSERT INTO accounts (kind, client_id, currency) VALUES ($1, $2, $3) RETURNING id',
    [servicePointId === null ? 'card' : 'service_point', c.clientId, c.currency ?? '952'],
  );
  const pan = c.pan ?? newPan();
  const row = await one<{ id: number }>(
    tx,
    'card',
    `INSERT INTO cards (pan, name, client_id, member_id, profile_id, account_id, expiry, is_virtual, service_point_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
    [pan, c.name, c.clientId, c.memberId, c.profileId, acct.id, c.expiry, servicePointId !== null, servicePointId],
  );
  return one<Card>(tx, 'card', `${CARD_SELECT} WHERE c.id = $1`, [row.id]);
}

/** The name of a service point's virtual card: C_VIRT_<SERVICE_POINT_CODE>. */
export function virtualCardName(servicePointCode: string): string {
  return `C_VIRT_${servicePointCode}`;
}

/** The virtual card of a service point: its receiving account. One per service point. */
export function createVirtualCard(
  db: Db,
  v: { servicePointId: number; clientId: number; memberId: number; profileId: number; expiry: string; pan?: string },
): Promise<Card> {
  return inTx(db, async (tx) => {
    const sp = await one<{ code: string }>(tx, 'service point', 'SELECT code FROM service_points WHERE id = $1 FOR UPDATE', [v.servicePointId]);
    const existing = await tx.query('SELECT id FROM cards WHERE service_point_id = $1 AND is_virtual', [v.servicePointId]);
    if (existing.rows.length > 0) throw new StoreError('conflict', `service point ${sp.code} already has a virtual card`, 'servicePointId');
    return insertCard(tx, { ...v, name: virtualCardName(sp.code) }, v.servicePointId);
  });
}

export function getCard(db: Db, id: number): Promise<Card> {
  return one<Card>(db, 'card', `${CARD_SELECT} WHERE c.id = $1`, [id]);
}

export function getCardByPan(db: Db, pan: string): Promise<Card> {
  return one<Card>(db, 'card', `${CARD_SELECT} WHERE c.pan = $1`, [pan]);
}

/**
 * Changes a card's profile (virtualization is a change to a virtualization profile, undone
 * by a change back). The card's account row is locked first: a ledger batch that already
 * holds it commits before this change, and any later batch sees the new profile.
 */
export function setCardProfile(db: Db, cardId: number, profileId: number): Promise<Card> {
  return inTx(db, async (tx) => {
    const card = await one<{ client_id: number; is_virtual: boolean; account_id: number }>(
      tx,
      'card',
      'SELECT client_id, is_virtual, account_id FROM cards WHERE id = $1 FOR UPDATE',
      [cardId],
    );
    await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [card.account_id]);
    const p = await one<{ client_id: number; kind: string }>(tx, 'card profile', 'SELECT client_id, kind FROM card_profiles WHERE id = $1', [profileId]);
    if (p.client_id !== card.client_id) throw new StoreError('invalid', 'the profile must belong to the card\'s client', 'profileId');
    if ((p.kind === 'virtual') !== card.is_virtual) {
      throw new StoreError('invalid', card.is_virtual ? 'a virtual card keeps a virtual-card profile' : 'a virtual-card profile is only for virtual cards', 'profileId');
    }
    await tx.query('UPDATE cards SET profile_id = $2 WHERE id = $1', [cardId, profileId]);
    return one<Card>(tx, 'card', `${CARD_SELECT} WHERE c.id = $1`, [cardId]);
  });
}

/** Blocks, opposes, cancels or re-activates a card; locks its account like setCardProfile. */
export function setCardStatus(db: Db, cardId: number, status: Card['status']): Promise<Card> {
  return inTx(db, async (tx) => {
    const card = await one<{ account_id: number; status: string }>(tx, 'card', 'SELECT account_id, status FROM cards WHERE id = $1 FOR UPDATE', [cardId]);
    if (card.status === 'cancelled' && status !== 'cancelled') throw new StoreError('invalid', 'a cancelled card cannot be re-activated', 'status');
    await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [card.account_id]);
    await tx.query('UPDATE cards SET status = $2 WHERE id = $1', [cardId, status]);
    return one<Card>(tx, 'card', `${CARD_SELECT} WHERE c.id = $1`, [cardId]);
  });
}

export interface JournalLine {
  id: number;
  op: string;
  source: string;
  outcome: string;
  terminal_id: string | null;
  stan: string | null;
  amount: number;
  /** Signed movement on this card's account (0 when none). */
  movement: number;
  original_id: number | null;
  reversed_by: number | null;
  created_at: Date;
}

/** The journal lines of a card (as holder or as credited card), newest first; `offset` skips the newest. */
export async function cardJournal(db: Db, cardId: number, limit = 50, offset = 0): Promise<JournalLine[]> {
  const r = await db.query<JournalLine>(
    // The newest rows of each side through its own index (journal_card, journal_counter_card),
    // then the newest of both: the same rows as `card_id = $1 OR counter_card_id = $1`, without
    // reading the whole journal.
    `SELECT j.id, j.op, j.source, j.outcome, j.terminal_id, j.stan, j.amount,
            (CASE WHEN j.credit_account = c.account_id THEN j.entry_amount
                  WHEN j.debit_account = c.account_id THEN -j.entry_amount ELSE 0 END)::bigint AS movement,
            j.original_id, j.reversed_by, j.created_at
     FROM (
       (SELECT id FROM journal WHERE card_id = $1 ORDER BY id DESC LIMIT $2::int + $3::int)
       UNION ALL
       (SELECT id FROM journal WHERE counter_card_id = $1 AND card_id IS DISTINCT FROM $1 ORDER BY id DESC LIMIT $2::int + $3::int)
     ) mine
     JOIN journal j ON j.id = mine.id
     LEFT JOIN (SELECT account_id FROM cards WHERE id = $1) c ON true
     ORDER BY j.id DESC LIMIT $2 OFFSET $3`,
    [cardId, limit, offset],
  );
  return r.rows;
}

// ------------------------------------------------------------------ transaction codes

/**
 * A transaction code for a card: shown once, stored as HMAC, single use, with an amount
 * ceiling, an expiry and optionally a service point.
 */
export async function createTransactionCode(
  db: Db,
  c: { cardId: number; amountMax: number; ttlSeconds: number; servicePointId?: number | null; userId?: number | null; secret: string },
): Promise<{ id: number; code: string; expiresAt: Date }> {
  const card = await getCard(db, c.cardId);
  if (card.status !== 'active') throw new StoreError('invalid', 'the card is not active', 'cardId');
  if (card.is_virtual) throw new StoreError('invalid', 'a virtual card does not generate codes', 'cardId');
  for (let attempt = 0; attempt < 5; attempt++) {
    const code = newCode();
    // ON CONFLICT: a code drawn twice is drawn again, without aborting the caller's transaction.
    let r: pg.QueryResult<{ id: number; expires_at: Date }>;
    try {
      r = await db.query<{ id: number; expires_at: Date }>(
        `INSERT INTO transaction_codes (card_id, code_hash, amount_max, expires_at, service_point_id, created_by)
         VALUES ($1, decode($2, 'hex'), $3, now() + make_interval(secs => $4), $5, $6)
         ON CONFLICT (code_hash) DO NOTHING RETURNING id, expires_at`,
        [c.cardId, codeHash(code, c.secret), c.amountMax, c.ttlSeconds, c.servicePointId ?? null, c.userId ?? null],
      );
    } catch (e) {
      pgError(e, 'transaction code');
    }
    if (r.rows.length === 1) return { id: r.rows[0].id, code, expiresAt: r.rows[0].expires_at };
  }
  throw new Error('could not draw a unique transaction code');
}

// ------------------------------------------------------------------ users, tokens, audit

export type Role = 'ADMIN' | 'OPERATOR' | 'VIEWER';

export interface User {
  id: number;
  username: string;
  role: Role;
  disabled: boolean;
}

export function createUser(db: Db, u: { username: string; role: Role; passwordHash?: string | null }): Promise<User> {
  return one<User>(db, 'user', 'INSERT INTO users (username, role, password_hash) VALUES ($1, $2, $3) RETURNING id, username, role, disabled', [
    u.username,
    u.role,
    u.passwordHash ?? null,
  ]);
}

/** Sets a user's password (its scrypt hash) and lifts a lock-out. */
export function setPasswordHash(db: Db, userId: number, passwordHash: string): Promise<User> {
  return one<User>(
    db,
    'user',
    'UPDATE users SET password_hash = $2, failed_signins = 0, locked_until = NULL WHERE id = $1 RETURNING id, username, role, disabled',
    [userId, passwordHash],
  );
}

export type SignIn = { ok: true; user: User } | { ok: false; reason: 'wrong' } | { ok: false; reason: 'locked'; lockedUntil: Date };

export interface SignInPolicy {
  /** Failed sign-ins in a row that lock the account. */
  maxFailures: number;
  lockSeconds: number;
}

/**
 * A sign-in attempt. The user's row is locked while the password is checked, so concurrent
 * guesses are counted one after the other; `maxFailures` wrong ones in a row lock the account
 * for `lockSeconds`, during which even the right password is refused. An unknown or disabled
 * user is "wrong" like a wrong password, after the same scrypt cost.
 */
export function signIn(db: Db, username: string, check: (hash: string | null) => Promise<boolean>, policy: SignInPolicy): Promise<SignIn> {
  return inTx(db, async (tx) => {
    const r = await tx.query<User & { password_hash: string | null; locked: boolean; locked_until: Date | null }>(
      `SELECT id, username, role, disabled, password_hash, locked_until, coalesce(locked_until > now(), false) AS locked
       FROM users WHERE username = $1 FOR UPDATE`,
      [username],
    );
    const u = r.rows[0];
    if (u?.locked && u.locked_until) return { ok: false, reason: 'locked', lockedUntil: u.locked_until };
    const good = await check(u?.password_hash ?? null);
    if (!u) return { ok: false, reason: 'wrong' };
    if (good && !u.disabled) {
      await tx.query('UPDATE users SET failed_signins = 0, locked_until = NULL WHERE id = $1', [u.id]);
      return { ok: true, user: { id: u.id, username: u.username, role: u.role, disabled: u.disabled } };
    }
    const f = await tx.query<{ locked_until: Date | null }>(
      `UPDATE users SET
         locked_until = CASE WHEN failed_signins + 1 >= $2 THEN now() + make_interval(secs => $3) END,
         failed_signins = CASE WHEN failed_signins + 1 >= $2 THEN 0 ELSE failed_signins + 1 END
       WHERE id = $1 RETURNING locked_until`,
      [u.id, policy.maxFailures, policy.lockSeconds],
    );
    const until = f.rows[0]?.locked_until;
    return until ? { ok: false, reason: 'locked', lockedUntil: until } : { ok: false, reason: 'wrong' };
  });
}

/** A bearer token for a user, shown once; stored as SHA-256. ttlSeconds null: no expiry (the back office always gives one). */
export async function createToken(db: Db, t: { userId: number; label?: string; ttlSeconds?: number | null }): Promise<{ id: number; token: string; expiresAt: Date | null }> {
  const token = newToken();
  const r = await one<{ id: number; expires_at: Date | null }>(
    db,
    'token',
    `INSERT INTO tokens (user_id, token_hash, label, expires_at)
     VALUES ($1, $2, $3, CASE WHEN $4::int IS NULL THEN NULL ELSE now() + make_interval(secs => $4::int) END) RETURNING id, expires_at`,
    [t.userId, tokenHash(token), t.label ?? null, t.ttlSeconds ?? null],
  );
  return { id: r.id, token, expiresAt: r.expires_at };
}

export async function revokeToken(db: Db, tokenId: number): Promise<void> {
  await one(db, 'token', 'UPDATE tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id', [tokenId]);
}

/** The user a bearer token belongs to, if the token is known, unexpired, unrevoked and the user enabled. */
export async function authenticate(db: Db, token: string): Promise<(User & { tokenId: number }) | null> {
  const r = await db.query<User & { tokenId: number }>(
    `SELECT u.id, u.username, u.role, u.disabled, t.id AS "tokenId" FROM tokens t JOIN users u ON u.id = t.user_id
     WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND NOT u.disabled`,
    [tokenHash(token)],
  );
  return r.rows[0] ?? null;
}

export async function audit(db: Db, a: { userId: number | null; action: string; entity: string; entityId?: string | number | null; details?: unknown }): Promise<void> {
  await db.query('INSERT INTO audit_log (user_id, action, entity, entity_id, details) VALUES ($1, $2, $3, $4, $5)', [
    a.userId,
    a.action,
    a.entity,
    a.entityId === undefined || a.entityId === null ? null : String(a.entityId),
    JSON.stringify(a.details ?? {}),
  ]);
}

// ------------------------------------------------------------------ reads and lists (back office)

/** A window of a list, newest or lowest id first as each list says. */
export interface Page {
  limit: number;
  offset: number;
}

async function many<T extends pg.QueryResultRow>(db: Db, sql: string, params: unknown[]): Promise<T[]> {
  return (await db.query<T>(sql, params)).rows;
}

export function getNetwork(db: Db, id: number): Promise<Network> {
  return one<Network>(db, 'network', 'SELECT id, code, name FROM networks WHERE id = $1', [id]);
}

export function listNetworks(db: Db, page: Page): Promise<Network[]> {
  return many<Network>(db, 'SELECT id, code, name FROM networks ORDER BY id LIMIT $1 OFFSET $2', [page.limit, page.offset]);
}

export function listClients(db: Db, f: { networkId?: number }, page: Page): Promise<Client[]> {
  return many<Client>(
    db,
    `SELECT c.id, c.code, c.name, c.network_id, a.id AS funding_account_id
     FROM clients c JOIN accounts a ON a.client_id = c.id AND a.kind = 'funding'
     WHERE ($1::bigint IS NULL OR c.network_id = $1) ORDER BY c.id LIMIT $2 OFFSET $3`,
    [f.networkId ?? null, page.limit, page.offset],
  );
}

const MEMBER_COLUMNS = 'id, client_id, name, kind, email, phone';

export function getMember(db: Db, id: number): Promise<Member> {
  return one<Member>(db, 'member', `SELECT ${MEMBER_COLUMNS} FROM members WHERE id = $1`, [id]);
}

export function listMembers(db: Db, clientId: number, page: Page): Promise<Member[]> {
  return many<Member>(db, `SELECT ${MEMBER_COLUMNS} FROM members WHERE client_id = $1 ORDER BY id LIMIT $2 OFFSET $3`, [clientId, page.limit, page.offset]);
}

/** Service points by id; `withoutVirtualCard`: only those that cannot take transactions yet. */
export function listServicePoints(db: Db, page: Page, f: { withoutVirtualCard?: boolean; clientId?: number } = {}): Promise<ServicePoint[]> {
  return many<ServicePoint>(
    db,
    `${SERVICE_POINT_SELECT} WHERE ($3::boolean IS NOT TRUE OR v.id IS NULL) AND ($4::bigint IS NULL OR s.client_id = $4)
     ORDER BY s.id LIMIT $1 OFFSET $2`,
    [page.limit, page.offset, f.withoutVirtualCard ?? null, f.clientId ?? null],
  );
}

export function listTerminals(db: Db, servicePointId: number, page: Page): Promise<Terminal[]> {
  return many<Terminal>(
    db,
    'SELECT id, service_point_id, status, initialized_at FROM terminals WHERE service_point_id = $1 ORDER BY id LIMIT $2 OFFSET $3',
    [servicePointId, page.limit, page.offset],
  );
}

export function listProfiles(db: Db, clientId: number, page: Page): Promise<CardProfile[]> {
  return many<CardProfile>(db, `SELECT ${PROFILE_COLUMNS} FROM card_profiles WHERE client_id = $1 ORDER BY id LIMIT $2 OFFSET $3`, [
    clientId,
    page.limit,
    page.offset,
  ]);
}

export function listCards(db: Db, f: { clientId?: number; memberId?: number; profileId?: number; virtual?: boolean }, page: Page): Promise<Card[]> {
  return many<Card>(
    db,
    `${CARD_SELECT}
     WHERE ($1::bigint IS NULL OR c.client_id = $1) AND ($2::bigint IS NULL OR c.member_id = $2)
       AND ($3::bigint IS NULL OR c.profile_id = $3) AND ($4::boolean IS NULL OR c.is_virtual = $4)
     ORDER BY c.id LIMIT $5 OFFSET $6`,
    [f.clientId ?? null, f.memberId ?? null, f.profileId ?? null, f.virtual ?? null, page.limit, page.offset],
  );
}

/** Cards whose name or client's name or code contains `text`, or whose PAN ends with `last4`. */
export function searchCards(db: Db, f: { text?: string; last4?: string }, page: Page): Promise<Card[]> {
  const like = f.text ? `%${f.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  return many<Card>(
    db,
    `${CARD_SELECT} JOIN clients cl ON cl.id = c.client_id
     WHERE ($1::text IS NULL AND $2::text IS NULL)
        OR c.name ILIKE $1 OR cl.name ILIKE $1 OR cl.code ILIKE $1
        OR right(c.pan, 4) = $2
     ORDER BY c.id LIMIT $3 OFFSET $4`,
    [like, f.last4 ?? null, page.limit, page.offset],
  );
}

export interface OpenHold {
  id: number;
  journal_id: number;
  amount: number;
  expires_at: Date;
  created_at: Date;
}

/** A card's open holds (pre-authorizations not yet completed, reversed or expired), newest first. */
export function openHolds(db: Db, cardId: number, page: Page): Promise<OpenHold[]> {
  return many<OpenHold>(
    db,
    `SELECT h.id, h.journal_id, h.amount, h.expires_at, h.created_at FROM holds h
     WHERE h.account_id = (SELECT account_id FROM cards WHERE id = $1) AND h.status = 'open'
     ORDER BY h.id DESC LIMIT $2 OFFSET $3`,
    [cardId, page.limit, page.offset],
  );
}

/** Every terminal, by service point then id. */
export function listAllTerminals(db: Db, page: Page): Promise<(Terminal & { service_point_code: string })[]> {
  return many<Terminal & { service_point_code: string }>(
    db,
    `SELECT t.id, t.service_point_id, t.status, t.initialized_at, s.code AS service_point_code
     FROM terminals t JOIN service_points s ON s.id = t.service_point_id ORDER BY t.service_point_id, t.id LIMIT $1 OFFSET $2`,
    [page.limit, page.offset],
  );
}

const USER_COLUMNS = 'id, username, role, disabled';

export function getUser(db: Db, id: number): Promise<User> {
  return one<User>(db, 'user', `SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
}

export function getUserByUsername(db: Db, username: string): Promise<User> {
  return one<User>(db, 'user', `SELECT ${USER_COLUMNS} FROM users WHERE username = $1`, [username]);
}

export function listUsers(db: Db, page: Page): Promise<User[]> {
  return many<User>(db, `SELECT ${USER_COLUMNS} FROM users ORDER BY id LIMIT $1 OFFSET $2`, [page.limit, page.offset]);
}

/** Disables or re-enables a user: a disabled user's tokens stop authenticating at once. */
export function setUserDisabled(db: Db, id: number, disabled: boolean): Promise<User> {
  return one<User>(db, 'user', `UPDATE users SET disabled = $2 WHERE id = $1 RETURNING ${USER_COLUMNS}`, [id, disabled]);
}

export async function countUsers(db: Db, role?: Role): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM users WHERE ($1::text IS NULL OR role = $1) AND NOT disabled', [role ?? null]);
  return r.rows[0].n;
}

export interface AuditEntry {
  id: number;
  user_id: number | null;
  username: string | null;
  action: string;
  entity: string;
  entity_id: string | null;
  details: Record<string, unknown>;
  created_at: Date;
}

/** The audit log, newest first. */
export function listAudit(db: Db, f: { entity?: string; entityId?: string; userId?: number }, page: Page): Promise<AuditEntry[]> {
  return many<AuditEntry>(
    db,
    `SELECT a.id, a.user_id, u.username, a.action, a.entity, a.entity_id, a.details, a.created_at
     FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
     WHERE ($1::text IS NULL OR a.entity = $1) AND ($2::text IS NULL OR a.entity_id = $2) AND ($3::bigint IS NULL OR a.user_id = $3)
     ORDER BY a.id DESC LIMIT $4 OFFSET $5`,
    [f.entity ?? null, f.entityId ?? null, f.userId ?? null, page.limit, page.offset],
  );
}

// ------------------------------------------------------------------ the dashboard, from the journal

export interface JournalStats {
  perMinute: { minute: Date; n: number }[];
  total: number;
  approved: number;
  /** Declined terminal requests by outcome (the switch maps each to its response code). */
  declines: { outcome: string; n: number }[];
  topServicePoints: { code: string; n: number }[];
}

/**
 * Terminal traffic of the last 24 hours for the dashboard. The journal has no index on time:
 * only its newest `window` rows are read (a range of the primary key), so the dashboard's cost
 * stays bounded however long the journal grows; past that many rows a day, it counts the newest.
 */
export async function journalStats(db: Db, window = 200_000): Promise<JournalStats> {
  const recent = `WITH recent AS (
      SELECT created_at, outcome, service_point_id FROM journal
      WHERE id > (SELECT coalesce(max(id), 0) - $1 FROM journal) AND source = 'terminal' AND created_at > now() - interval '24 hours')`;
  const [perMinute, totals, declines, top] = await Promise.all([
    many<{ minute: Date; n: number }>(
      db,
      `${recent} SELECT date_trunc('minute', created_at) AS minute, count(*)::int AS n FROM recent
       WHERE created_at > now() - interval '60 minutes' GROUP BY 1 ORDER BY 1`,
      [window],
    ),
    many<{ total: number; approved: number }>(db, `${recent} SELECT count(*)::int AS total, count(*) FILTER (WHERE outcome = 'approved')::int AS approved FROM recent`, [window]),
    many<{ outcome: string; n: number }>(db, `${recent} SELECT outcome, count(*)::int AS n FROM recent WHERE outcome <> 'approved' GROUP BY 1 ORDER BY 2 DESC LIMIT 12`, [window]),
    many<{ code: string; n: number }>(
      db,
      `${recent} SELECT s.code, count(*)::int AS n FROM recent r JOIN service_points s ON s.id = r.service_point_id GROUP BY 1 ORDER BY 2 DESC LIMIT 10`,
      [window],
    ),
  ]);
  return { perMinute, total: totals[0]?.total ?? 0, approved: totals[0]?.approved ?? 0, declines, topServicePoints: top };
}
