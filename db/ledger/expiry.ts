/**
 * The hold sweep: pre-authorizations whose hold has expired are released through the ledger
 * (an `expire` item each, decided under the batch's locks like any other), so the release is
 * journaled and a completion that comes later finds the hold closed. Several switch processes
 * may sweep at once: the posting decides each hold once, and a hold another process released
 * first is answered original_not_found.
 */
import type pg from 'pg';
import type { Ledger } from './posting.js';
import type { LedgerItem } from './types.js';

export interface SweepResult {
  /** Holds released. */
  expired: number;
  /** Expired holds found open when the sweep read them. */
  found: number;
}

export async function expireHolds(pool: pg.Pool, ledger: Ledger, now: Date = new Date(), limit = 500): Promise<SweepResult> {
  const due = await pool.query<{ journal_id: number }>(
    "SELECT journal_id FROM holds WHERE status = 'open' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    [now, limit],
  );
  if (due.rows.length === 0) return { expired: 0, found: 0 };
  const items: LedgerItem[] = due.rows.map((r) => ({ op: 'expire', source: 'system', originalJournalId: r.journal_id }));
  const results = await ledger.post(items, now);
  return { expired: results.filter((r) => r.outcome === 'approved').length, found: items.length };
}
