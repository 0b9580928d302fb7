/**
 * The ledger check: proves double entry over the whole ledger.
 *  - every journal row's entries sum to zero;
 *  - every account's balance equals the sum of its entries;
 *  - every card account's held amount equals its open holds;
 *  - entries exist only for approved rows, and name existing journal rows and accounts;
 *  - references between journal rows (original, duplicate, reversal) name existing rows.
 */
import type pg from 'pg';

export interface LedgerCheck {
  ok: boolean;
  journalRows: number;
  entries: number;
  accounts: number;
  unbalancedJournals: { journal_id: number; sum: number }[];
  accountMismatches: { account_id: number; balance: number; entries: number }[];
  holdMismatches: { account_id: number; held: number; open_holds: number }[];
  entriesOfDeclined: number[];
  /** Entries naming a journal row or an account that does not exist. */
  orphanEntries: number;
  /** Journal rows whose original, duplicate or reversal reference names no journal row. */
  danglingReferences: number;
  /** Sum over all accounts: zero when money was only moved, never created. */
  total: number;
}

export async function checkLedger(db: pg.Pool | pg.PoolClient): Promise<LedgerCheck> {
  const q = async <T extends pg.QueryResultRow>(sql: string): Promise<T[]> => (await db.query<T>(sql)).rows;
  const [counts] = await q<{ journal: number; entries: number; accounts: number; total: number }>(
    `SELECT (SELECT count(*) FROM journal)::bigint AS journal, (SELECT count(*) FROM ledger_entries)::bigint AS entries,
            (SELECT count(*) FROM accounts)::bigint AS accounts, (SELECT coalesce(sum(balance), 0) FROM accounts)::bigint AS total`,
  );
  const unbalancedJournals = await q<{ journal_id: number; sum: number }>(
    'SELECT journal_id, sum(amount)::bigint AS sum FROM ledger_entries GROUP BY journal_id HAVING sum(amount) <> 0 ORDER BY journal_id LIMIT 100',
  );
  const accountMismatches = await q<{ account_id: number; balance: number; entries: number }>(
    `SELECT a.id AS account_id, a.balance, coalesce(e.sum, 0)::bigint AS entries
     FROM accounts a LEFT JOIN (SELECT account_id, sum(amount) AS sum FROM ledger_entries GROUP BY account_id) e ON e.account_id = a.id
     WHERE a.balance <> coalesce(e.sum, 0) ORDER BY a.id LIMIT 100`,
  );
  const holdMismatches = await q<{ account_id: number; held: number; open_holds: number }>(
    `SELECT a.id AS account_id, a.held, coalesce(h.sum, 0)::bigint AS open_holds
     FROM accounts a LEFT JOIN (SELECT account_id, sum(amount) AS sum FROM holds WHERE status = 'open' GROUP BY account_id) h ON h.account_id = a.id
     WHERE a.held <> coalesce(h.sum, 0) ORDER BY a.id LIMIT 100`,
  );
  const declined = await q<{ journal_id: number }>(
    `SELECT DISTINCT e.journal_id FROM ledger_entries e JOIN journal j ON j.id = e.journal_id WHERE j.outcome <> 'approved' LIMIT 100`,
  );
  const entriesOfDeclined = declined.map((r) => r.journal_id);
  const [dangling] = await q<{ n: number }>(
    `SELECT count(*)::bigint AS n FROM journal j
     WHERE (j.original_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM journal o WHERE o.id = j.original_id))
        OR (j.duplicate_of IS NOT NULL AND NOT EXISTS (SELECT 1 FROM journal o WHERE o.id = j.duplicate_of))
        OR (j.reversed_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM journal o WHERE o.id = j.reversed_by))`,
  );
  const [orphans] = await q<{ n: number }>(
    `SELECT count(*)::bigint AS n FROM ledger_entries e
     WHERE NOT EXISTS (SELECT 1 FROM journal j WHERE j.id = e.journal_id) OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.account_id)`,
  );
  return {
    ok:
      unbalancedJournals.length === 0 &&
      accountMismatches.length === 0 &&
      holdMismatches.length === 0 &&
      entriesOfDeclined.length === 0 &&
      orphans.n === 0 &&
      dangling.n === 0 &&
      counts.total === 0,
    journalRows: counts.journal,
    entries: counts.entries,
    accounts: counts.accounts,
    unbalancedJournals,
    accountMismatches,
    holdMismatches,
    entriesOfDeclined,
    orphanEntries: orphans.n,
    danglingReferences: dangling.n,
    total: counts.total,
  };
}
