/**
 * Reads the switch needs from PostgreSQL when its cache misses: the records of a card (by
 * its PAN's lookup key: no clear PAN is stored, db/pan-vault.ts), a card profile, a terminal and a service point (by DE42 code). Each is one query.
 */
import type pg from 'pg';

export interface CardRecord {
  id: number;
  accountId: number;
  clientId: number;
  profileId: number;
  status: 'active' | 'blocked' | 'opposed' | 'cancelled';
  /** YYMM */
  expiry: string;
  isVirtual: boolean;
}

export interface ProfileRecord {
  id: number;
  fuel: boolean;
  dotation: boolean;
  ticket: boolean;
  transfer: boolean;
  recharge: boolean;
  validFrom: string | null;
  validTo: string | null;
}

export interface TerminalRecord {
  id: string;
  servicePointId: number;
  status: 'active' | 'blocked';
  initialized: boolean;
}

export interface ServicePointRecord {
  id: number;
  code: string;
  status: 'active' | 'closed';
  virtualCardId: number | null;
  /**
   * Its virtual card's account: the ledger locks it by this id (db/ledger/types.ts `accountHint`).
   * Absent from records cached before it was read: then the switch gives no hint.
   */
  virtualAccountId?: number | null;
}

type Db = pg.Pool | pg.PoolClient;

/** The card whose PAN has the lookup key `panKeyHex` (panKey(pan, HASH_SECRET), db/cache-keys.ts). */
export async function loadCardByPanKey(db: Db, panKeyHex: string): Promise<CardRecord | null> {
  const r = await db.query<CardRecord>(
    `SELECT id, account_id AS "accountId", client_id AS "clientId", profile_id AS "profileId", status, expiry, is_virtual AS "isVirtual"
     FROM cards WHERE pan_key = decode($1, 'hex')`,
    [panKeyHex],
  );
  return r.rows[0] ?? null;
}

export async function loadProfile(db: Db, id: number): Promise<ProfileRecord | null> {
  const r = await db.query<ProfileRecord>(
    `SELECT id, fuel, dotation, ticket, transfer, recharge, valid_from::text AS "validFrom", valid_to::text AS "validTo"
     FROM card_profiles WHERE id = $1`,
    [id],
  );
  return r.rows[0] ?? null;
}

export async function loadTerminal(db: Db, id: string): Promise<TerminalRecord | null> {
  const r = await db.query<TerminalRecord>(
    `SELECT id, service_point_id AS "servicePointId", status, initialized_at IS NOT NULL AS initialized FROM terminals WHERE id = $1`,
    [id],
  );
  return r.rows[0] ?? null;
}

export async function loadServicePoint(db: Db, code: string): Promise<ServicePointRecord | null> {
  const r = await db.query<ServicePointRecord>(
    `SELECT s.id, s.code, s.status, s.virtual_card_id AS "virtualCardId", s.virtual_account_id AS "virtualAccountId"
     FROM service_points s WHERE s.code = $1`,
    [code],
  );
  return r.rows[0] ?? null;
}

/** A terminal's sign-on without PIN (it was initialized before). */
export async function touchSignOn(db: Db, terminalId: string): Promise<void> {
  await db.query('UPDATE terminals SET last_sign_on_at = now() WHERE id = $1', [terminalId]);
}

/** The approved pre-authorization of a terminal with this approval code (a completion naming it by DE38). */
export async function findPreauthByApproval(db: Db, terminalId: string, approvalCode: string): Promise<{ stan: string; transmissionAt: string } | null> {
  const r = await db.query<{ stan: string; transmission_at: string }>(
    `SELECT stan, transmission_at FROM journal
     WHERE terminal_id = $1 AND approval_code = $2 AND op = 'preauth' AND outcome = 'approved' AND duplicate_of IS NULL
     ORDER BY id DESC LIMIT 1`,
    [terminalId, approvalCode],
  );
  const row = r.rows[0];
  return row ? { stan: row.stan, transmissionAt: row.transmission_at } : null;
}
