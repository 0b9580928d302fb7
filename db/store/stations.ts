/** Service points (stations), their terminals (TPE) and the terminals' security PINs. */
import { hashPin, newPin, verifyPin } from '../secrets.js';
import { type Db, type Page, inTx, many, one } from './common.js';

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
    'INSERT INTO service_points (code, name, client_id) VALUES ($1, $2, $3) RETURNING id, code, name, status, client_id, virtual_card_id',
    [s.code, s.name, s.clientId ?? null],
  );
}

// the service point's row names its virtual card (migration 009)
const SERVICE_POINT_SELECT = 'SELECT s.id, s.code, s.name, s.status, s.client_id, s.virtual_card_id FROM service_points s';

export function getServicePoint(db: Db, id: number): Promise<ServicePoint> {
  return one<ServicePoint>(db, 'service point', `${SERVICE_POINT_SELECT} WHERE s.id = $1`, [id]);
}

export function getServicePointByCode(db: Db, code: string): Promise<ServicePoint> {
  return one<ServicePoint>(db, 'service point', `${SERVICE_POINT_SELECT} WHERE s.code = $1`, [code]);
}

/** Service points by id; `withoutVirtualCard`: only those that cannot take transactions yet. */
export function listServicePoints(db: Db, page: Page, f: { withoutVirtualCard?: boolean; clientId?: number } = {}): Promise<ServicePoint[]> {
  return many<ServicePoint>(
    db,
    `${SERVICE_POINT_SELECT} WHERE ($3::boolean IS NOT TRUE OR s.virtual_card_id IS NULL) AND ($4::bigint IS NULL OR s.client_id = $4)
     ORDER BY s.id LIMIT $1 OFFSET $2`,
    [page.limit, page.offset, f.withoutVirtualCard ?? null, f.clientId ?? null],
  );
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

export function listTerminals(db: Db, servicePointId: number, page: Page): Promise<Terminal[]> {
  return many<Terminal>(
    db,
    'SELECT id, service_point_id, status, initialized_at FROM terminals WHERE service_point_id = $1 ORDER BY id LIMIT $2 OFFSET $3',
    [servicePointId, page.limit, page.offset],
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
