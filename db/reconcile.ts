/**
 * End-of-day reconciliation of a terminal (0500): the switch's totals of the terminal's
 * batch, compared with the totals the terminal kept. The batch is every journal row of the
 * terminal after the last balanced reconciliation.
 *   debits           approved purchases and completions (count, amount)
 *   debit reversals  reversals that undid one of them (count, amount of what they undid)
 *   credits          refunds (none are accepted from terminals today: 0)
 */
import type pg from 'pg';

export interface Totals {
  credits: number;
  creditsAmount: number;
  debits: number;
  debitsAmount: number;
  debitReversals: number;
  debitReversalsAmount: number;
}

export interface ReconcileResult {
  balanced: boolean;
  computed: Totals;
  /** Last journal row counted. */
  upTo: number;
}

export async function reconcileTerminal(
  db: pg.Pool,
  terminalId: string,
  reported: Totals,
  meta: { stan?: string; transmissionAt?: string },
): Promise<ReconcileResult> {
  const c = await db.connect();
  try {
    await c.query('BEGIN');
    // One reconciliation of a terminal at a time.
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`reconcile:${terminalId}`]);
    // A ledger batch holding a reversal of this terminal share-locks its row after its accounts
    // (db/ledger/sql.ts, TERMINAL_LOCK): it has committed before the totals below are read, or it
    // waits for this commit and then reads this reconciliation, and refuses the reversal (12).
    await c.query('SELECT 1 FROM terminals WHERE id = $1 FOR NO KEY UPDATE', [terminalId]);
    const since = await c.query<{ upto: number | null }>(
      `SELECT (computed->>'upTo')::bigint AS upto FROM reconciliations
       WHERE terminal_id = $1 AND outcome = 'balanced' ORDER BY id DESC LIMIT 1`,
      [terminalId],
    );
    const from = since.rows[0]?.upto ?? 0;
    const r = await c.query<{ debits: number; debits_amount: number; reversals: number; reversals_amount: number; upto: number }>(
      `SELECT
         count(*) FILTER (WHERE j.op IN ('purchase', 'completion') AND j.amount > 0)::bigint AS debits,
         coalesce(sum(j.amount) FILTER (WHERE j.op IN ('purchase', 'completion')), 0)::bigint AS debits_amount,
         count(*) FILTER (WHERE j.op = 'reversal' AND o.reversed_by = j.id AND o.op IN ('purchase', 'completion') AND o.amount > 0)::bigint AS reversals,
         coalesce(sum(o.amount) FILTER (WHERE j.op = 'reversal' AND o.reversed_by = j.id AND o.op IN ('purchase', 'completion')), 0)::bigint AS reversals_amount,
         coalesce(max(j.id), $2)::bigint AS upto
       FROM journal j LEFT JOIN journal o ON o.id = j.original_id
       WHERE j.terminal_id = $1 AND j.id > $2 AND j.outcome = 'approved' AND j.duplicate_of IS NULL`,
      [terminalId, from],
    );
    const row = r.rows[0];
    const computed: Totals = {
      credits: 0,
      creditsAmount: 0,
      debits: row.debits,
      debitsAmount: row.debits_amount,
      debitReversals: row.reversals,
      debitReversalsAmount: row.reversals_amount,
    };
    const balanced = (Object.keys(computed) as (keyof Totals)[]).every((k) => computed[k] === reported[k]);
    await c.query(
      `INSERT INTO reconciliations (terminal_id, stan, transmission_at, outcome, reported, computed) VALUES ($1, $2, $3, $4, $5, $6)`,
      [terminalId, meta.stan ?? null, meta.transmissionAt ?? null, balanced ? 'balanced' : 'mismatch', JSON.stringify(reported), JSON.stringify({ ...computed, upTo: row.upto })],
    );
    await c.query('COMMIT');
    return { balanced, computed, upTo: row.upto };
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}
