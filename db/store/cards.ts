/** Cards (standard and a service point's virtual card) and their accounts: create, read, list, search, change profile or status. */
import type pg from 'pg';
import { SEAL_OVERHEAD, type PanVault } from '../pan-vault.js';
import { PIN_TRIES, cardPinDigest, newPan } from '../secrets.js';
import { type Db, type Page, StoreError, inTx, many, one } from './common.js';

/** A card as read: never its full PAN (the row holds it sealed, db/pan-vault.ts). */
export interface Card {
  id: number;
  /** HMAC of the PAN under HASH_SECRET, hex: the lookup key, and the card's cache key. */
  panKey: string;
  /** First 6, a '*' per hidden digit, last 4 (protocol/mask.ts maskPan's format). */
  panMasked: string;
  last4: string;
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
  /** Whether the card has a cardholder PIN (its digest is never read here). */
  pin_set: boolean;
  /** PIN_TRIES wrong PINs in a row: blocked until the back office sets a new one. */
  pin_blocked: boolean;
}

/** The answer of a card's creation: the only read with the full PAN, shown this once. */
export type CreatedCard = Card & { pan: string };

// length(pan_sealed) - 28 (nonce and tag) is the PAN's length: 10 of its digits are shown
const CARD_SELECT = `SELECT c.id, encode(c.pan_key, 'hex') AS "panKey",
  c.pan_first6 || repeat('*', length(c.pan_sealed) - ${SEAL_OVERHEAD} - 10) || c.pan_last4 AS "panMasked", c.pan_last4 AS last4, c.name, c.client_id, c.member_id, c.profile_id, c.account_id, c.status, c.expiry,
  c.is_virtual, c.service_point_id, a.balance, a.held, a.balance - a.held AS available, a.currency,
  c.pin_hash IS NOT NULL AS pin_set, c.pin_tries >= ${PIN_TRIES} AS pin_blocked
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

/**
 * A card and its account. The member and the profile must belong to the card's client. The
 * PAN is stored sealed under `vault`; the answer carries it in full, this once.
 */
export function createCard(db: Db, vault: PanVault, c: NewCard): Promise<CreatedCard> {
  return inTx(db, async (tx) => insertCard(tx, vault, c, null));
}

async function insertCard(tx: pg.PoolClient, vault: PanVault, c: NewCard, servicePointId: number | null): Promise<CreatedCard> {
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
  if (!/^[0-9]{12,19}$/.test(pan)) throw new StoreError('invalid', 'a PAN is 12 to 19 digits', 'pan');
  const p = vault.columns(pan);
  const row = await one<{ id: number }>(
    tx,
    'card',
    `INSERT INTO cards (pan_key, pan_sealed, pan_first6, pan_last4, name, client_id, member_id, profile_id, account_id, expiry, is_virtual, service_point_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
    [p.key, p.sealed, p.first6, p.last4, c.name, c.clientId, c.memberId, c.profileId, acct.id, c.expiry, servicePointId !== null, servicePointId],
  );
  return { ...(await one<Card>(tx, 'card', `${CARD_SELECT} WHERE c.id = $1`, [row.id])), pan };
}

/** The name of a service point's virtual card: C_VIRT_<SERVICE_POINT_CODE>. */
export function virtualCardName(servicePointCode: string): string {
  return `C_VIRT_${servicePointCode}`;
}

/** The virtual card of a service point: its receiving account. One per service point. */
export function createVirtualCard(
  db: Db,
  vault: PanVault,
  v: { servicePointId: number; clientId: number; memberId: number; profileId: number; expiry: string; pan?: string },
): Promise<CreatedCard> {
  return inTx(db, async (tx) => {
    const sp = await one<{ code: string }>(tx, 'service point', 'SELECT code FROM service_points WHERE id = $1 FOR UPDATE', [v.servicePointId]);
    const existing = await tx.query('SELECT id FROM cards WHERE service_point_id = $1 AND is_virtual', [v.servicePointId]);
    if (existing.rows.length > 0) throw new StoreError('conflict', `service point ${sp.code} already has a virtual card`, 'servicePointId');
    return insertCard(tx, vault, { ...v, name: virtualCardName(sp.code) }, v.servicePointId);
  });
}

export function getCard(db: Db, id: number): Promise<Card> {
  return one<Card>(db, 'card', `${CARD_SELECT} WHERE c.id = $1`, [id]);
}

/** The card of a PAN, found by its lookup key (HMAC under the vault's HASH_SECRET). */
export function getCardByPan(db: Db, vault: PanVault, pan: string): Promise<Card> {
  return one<Card>(db, 'card', `${CARD_SELECT} WHERE c.pan_key = $1`, [vault.key(pan)]);
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

/**
 * Sets (or resets) a card's cardholder PIN: stores HMAC(HASH_SECRET, card id, PIN) and clears
 * its wrong tries. The row lock orders it with a payment that counts a wrong try.
 */
export function setCardPin(db: Db, c: { cardId: number; pin: string; secret: string }): Promise<Card> {
  return inTx(db, async (tx) => {
    const card = await one<{ is_virtual: boolean }>(tx, 'card', 'SELECT is_virtual FROM cards WHERE id = $1 FOR UPDATE', [c.cardId]);
    if (card.is_virtual) throw new StoreError('invalid', "a service point's virtual card has no cardholder PIN", 'cardId');
    await tx.query("UPDATE cards SET pin_hash = decode($2, 'hex'), pin_tries = 0 WHERE id = $1", [c.cardId, cardPinDigest(c.secret, c.cardId, c.pin)]);
    return one<Card>(tx, 'card', `${CARD_SELECT} WHERE c.id = $1`, [c.cardId]);
  });
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
        OR c.pan_last4 = $2
     ORDER BY c.id LIMIT $3 OFFSET $4`,
    [like, f.last4 ?? null, page.limit, page.offset],
  );
}
