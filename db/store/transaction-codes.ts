/** Transaction codes: single-use codes drawn for a card, stored as HMAC. */
import type pg from 'pg';
import { codeHash, newCode } from '../secrets.js';
import { getCard } from './cards.js';
import { type Db, StoreError, pgError } from './common.js';

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
