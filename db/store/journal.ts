/** Reads of the journal: a card's lines, and the dashboard's terminal traffic. The ledger (db/ledger.ts, db/ledger/) writes it. */
import { type Db, many } from './common.js';

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
