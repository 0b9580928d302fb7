/** Holds (pre-authorizations) on a card's account, as the back office lists them. The ledger (db/ledger.ts, db/ledger/) writes them. */
import { type Db, type Page, many } from './common.js';

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
