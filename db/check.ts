/**
 * The ledger check: proves double entry and the ledger's rules over the whole ledger, each rule a
 * named check with the number of its violations and a few example ids (journal or account ids,
 * never a PAN):
 *  - entries_balanced: every journal row's entries sum to zero;
 *  - accounts_sum_to_zero: money was only moved, never created (the sum of all balances);
 *  - balances_equal_entries: every account's balance equals the sum of its entries;
 *  - references_valid: entries, and references between journal rows (original, duplicate,
 *    reversal), name existing rows and accounts;
 *  - originals_not_duplicates: no completion or reversal names a duplicate as its original (a
 *    duplicate never moved anything, so undoing it can only create money);
 *  - reversed_at_most_once: no original was reversed twice with effect;
 *  - completed_at_most_once: no pre-authorization's hold was completed twice, or completed and
 *    also released by a reversal or an expiry;
 *  - refund_within_original: a reversal moves back at most what its original moved, between the
 *    same two accounts; a completion takes at most its hold;
 *  - holds_within_balances: card accounts have 0 <= held <= balance, and every account's held
 *    is the sum of its open holds;
 *  - approvals_have_entries: an approved purchase, completion (amount > 0), recharge or transfer
 *    carries exactly its entries, between the right accounts; no other row (a decline, a
 *    duplicate, a preauth, an inquiry) carries any.
 *
 * Every check is one set-based statement over the journal (sequential reads and hash joins; the
 * journal has no index on op or original_id, and a full read is what a check of everything
 * costs). With a pool, all run in one read-only repeatable-read transaction, so that they see one
 * state of a ledger that is being written.
 */
import type pg from 'pg';

/** One rule of the ledger, checked. */
export interface NamedCheck {
  name: string;
  ok: boolean;
  /** How many rows (journal rows, accounts or originals: see examplesAre) break the rule. */
  violations: number;
  /** The first few of them, by id. */
  examples: number[];
  examplesAre: 'journal ids' | 'account ids';
  rule: string;
}

export interface LedgerCheck {
  ok: boolean;
  journalRows: number;
  entries: number;
  accounts: number;
  /** Each rule, in the order above. */
  checks: NamedCheck[];
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

const EXAMPLES = 5;

type Db = pg.Pool | pg.PoolClient;

interface Rule {
  name: string;
  rule: string;
  examplesAre: NamedCheck['examplesAre'];
  /** Selects the violations, one row each, as a column `id`. */
  sql: string;
}

// A completion's or reversal's original as the ledger should have resolved it: the row itself,
// or, when it names a duplicate (see originals_not_duplicates), the row that one duplicates, so
// that undoing a duplicate counts against the original it repeats.
const CANON = 'coalesce(o.duplicate_of, o.id)';

// The rows that undid or closed something: a reversal that moved money back, or that its
// original names as its reversal (reversed_by), or that closed the original's hold; a completion
// (or expiry) that moved money or closed the hold. `canon` is the original undone.
const UNDOERS = `
  SELECT r.id, r.op, ${CANON} AS canon
  FROM journal r
  JOIN journal o ON o.id = r.original_id
  LEFT JOIN holds h ON h.journal_id = ${CANON}
  WHERE r.op IN ('reversal', 'completion', 'expire')
    AND (r.entry_amount IS NOT NULL OR o.reversed_by = r.id OR h.closed_by = r.id)`;

const RULES: Rule[] = [
  {
    name: 'entries_balanced',
    rule: "every journal row's entries sum to zero",
    examplesAre: 'journal ids',
    sql: 'SELECT journal_id AS id FROM ledger_entries GROUP BY journal_id HAVING sum(amount) <> 0',
  },
  {
    name: 'accounts_sum_to_zero',
    rule: 'the balances of all accounts sum to zero: money is only moved, never created (one violation when not)',
    examplesAre: 'account ids',
    sql: 'SELECT NULL::bigint AS id FROM accounts HAVING coalesce(sum(balance), 0) <> 0',
  },
  {
    name: 'balances_equal_entries',
    rule: "every account's balance equals the sum of its entries",
    examplesAre: 'account ids',
    sql: `SELECT a.id FROM accounts a
          LEFT JOIN (SELECT account_id, sum(amount) AS sum FROM ledger_entries GROUP BY account_id) e ON e.account_id = a.id
          WHERE a.balance <> coalesce(e.sum, 0)`,
  },
  {
    name: 'references_valid',
    rule: 'entries name existing journal rows and accounts; original, duplicate and reversal references name existing journal rows',
    examplesAre: 'journal ids',
    // One anti-join per reference: three NOT EXISTS joined by OR cannot be one, and ran as
    // subplans per row (5 s of the check's 10 on 100,000 journal rows).
    sql: `SELECT j.id FROM journal j LEFT JOIN journal o ON o.id = j.original_id WHERE j.original_id IS NOT NULL AND o.id IS NULL
          UNION
          SELECT j.id FROM journal j LEFT JOIN journal o ON o.id = j.duplicate_of WHERE j.duplicate_of IS NOT NULL AND o.id IS NULL
          UNION
          SELECT j.id FROM journal j LEFT JOIN journal o ON o.id = j.reversed_by WHERE j.reversed_by IS NOT NULL AND o.id IS NULL
          UNION
          SELECT e.journal_id FROM ledger_entries e LEFT JOIN journal j ON j.id = e.journal_id LEFT JOIN accounts a ON a.id = e.account_id
          WHERE j.id IS NULL OR a.id IS NULL`,
  },
  {
    name: 'originals_not_duplicates',
    rule: 'no completion, reversal or expiry names a duplicate as its original (examples: the rows that do)',
    examplesAre: 'journal ids',
    sql: 'SELECT r.id FROM journal r JOIN journal o ON o.id = r.original_id WHERE o.duplicate_of IS NOT NULL',
  },
  {
    // "At most once" is a count per original of the reversals that had an effect: reversed_by
    // holds one reversal, so it alone can never show a second one; the second one shows by its
    // entries, or by naming as its original a duplicate of the same original.
    name: 'reversed_at_most_once',
    rule: 'no original was reversed twice: at most one reversal per original moved money back, was recorded as its reversal or released its hold (examples: the originals)',
    examplesAre: 'journal ids',
    sql: `SELECT canon AS id FROM (${UNDOERS}) u WHERE op = 'reversal' GROUP BY canon HAVING count(*) > 1`,
  },
  {
    name: 'completed_at_most_once',
    rule: "no pre-authorization's hold was completed twice, or completed and also released by a reversal or an expiry (examples: the pre-authorizations)",
    examplesAre: 'journal ids',
    sql: `SELECT canon AS id FROM (${UNDOERS}) u GROUP BY canon
          HAVING count(*) FILTER (WHERE op = 'completion') > 0 AND count(*) > 1`,
  },
  {
    name: 'refund_within_original',
    rule: "a reversal's entry amount is at most its original's, from the account the original credited back to the one it debited; a completion's amount is at most its hold's",
    examplesAre: 'journal ids',
    sql: `SELECT r.id FROM journal r
          JOIN journal o ON o.id = r.original_id
          LEFT JOIN journal c ON c.id = ${CANON}
          LEFT JOIN holds h ON h.journal_id = ${CANON}
          WHERE (r.op = 'reversal' AND r.entry_amount IS NOT NULL
                 AND (c.entry_amount IS NULL OR r.entry_amount > c.entry_amount
                      OR r.debit_account <> c.credit_account OR r.credit_account <> c.debit_account))
             OR (r.op = 'completion' AND r.outcome = 'approved' AND (h.amount IS NULL OR r.amount > h.amount))`,
  },
  {
    name: 'holds_within_balances',
    rule: "card accounts have 0 <= held <= balance; every account's held equals the sum of its open holds",
    examplesAre: 'account ids',
    sql: `SELECT a.id FROM accounts a
          LEFT JOIN (SELECT account_id, sum(amount) AS sum FROM holds WHERE status = 'open' GROUP BY account_id) h ON h.account_id = a.id
          WHERE a.held <> coalesce(h.sum, 0) OR a.held < 0 OR (a.kind = 'card' AND a.held > a.balance)`,
  },
  {
    // Which accounts: a purchase or completion moves the card's account to its credited card's
    // (the service point's virtual card), a transfer to the target card's; a recharge moves the
    // card's client's funding account to the card's.
    name: 'approvals_have_entries',
    rule: 'an approved purchase, completion with amount > 0, recharge or transfer has a debit and a credit account (the right ones) and entry_amount = amount; a decline, a duplicate, a preauth, an inquiry or a completion of 0 has no entries',
    examplesAre: 'journal ids',
    sql: `SELECT j.id FROM journal j
          LEFT JOIN cards k ON k.id = j.card_id
          LEFT JOIN cards x ON x.id = j.counter_card_id
          LEFT JOIN accounts f ON f.id = j.debit_account
          WHERE CASE
            WHEN j.outcome <> 'approved' OR j.duplicate_of IS NOT NULL THEN j.entry_amount IS NOT NULL
            WHEN j.op IN ('purchase', 'transfer') OR (j.op = 'completion' AND j.amount > 0) THEN
              j.entry_amount IS DISTINCT FROM j.amount OR j.debit_account IS DISTINCT FROM k.account_id
              OR j.credit_account IS DISTINCT FROM x.account_id
            WHEN j.op = 'recharge' THEN
              j.entry_amount IS DISTINCT FROM j.amount OR j.credit_account IS DISTINCT FROM k.account_id
              OR f.kind IS DISTINCT FROM 'funding' OR f.client_id IS DISTINCT FROM k.client_id
            WHEN j.op IN ('preauth', 'inquiry', 'completion') THEN j.entry_amount IS NOT NULL
            ELSE false
          END`,
  },
];

async function runRule(db: Db, r: Rule): Promise<NamedCheck> {
  const rows = (
    await db.query<{ id: string | null; n: string }>(
      `SELECT v.id, count(*) OVER () AS n FROM (${r.sql}) v ORDER BY v.id LIMIT ${EXAMPLES}`,
    )
  ).rows;
  const violations = rows.length === 0 ? 0 : Number(rows[0].n);
  return {
    name: r.name,
    ok: violations === 0,
    violations,
    examples: rows.flatMap((x) => (x.id === null ? [] : [Number(x.id)])),
    examplesAre: r.examplesAre,
    rule: r.rule,
  };
}

async function run(db: Db): Promise<LedgerCheck> {
  const q = async <T extends pg.QueryResultRow>(sql: string): Promise<T[]> => (await db.query<T>(sql)).rows;
  const [counts] = await q<{ journal: number; entries: number; accounts: number; total: number }>(
    `SELECT (SELECT count(*) FROM journal)::bigint AS journal, (SELECT count(*) FROM ledger_entries)::bigint AS entries,
            (SELECT count(*) FROM accounts)::bigint AS accounts, (SELECT coalesce(sum(balance), 0) FROM accounts)::bigint AS total`,
  );
  const checks: NamedCheck[] = [];
  for (const r of RULES) checks.push(await runRule(db, r));
  // The details of the first checks, as this report always gave them (the first 100 each).
  const failed = (name: string): boolean => checks.find((c) => c.name === name)?.ok === false;
  const unbalancedJournals = failed('entries_balanced')
    ? await q<{ journal_id: number; sum: number }>(
        'SELECT journal_id, sum(amount)::bigint AS sum FROM ledger_entries GROUP BY journal_id HAVING sum(amount) <> 0 ORDER BY journal_id LIMIT 100',
      )
    : [];
  const accountMismatches = failed('balances_equal_entries')
    ? await q<{ account_id: number; balance: number; entries: number }>(
        `SELECT a.id AS account_id, a.balance, coalesce(e.sum, 0)::bigint AS entries
         FROM accounts a LEFT JOIN (SELECT account_id, sum(amount) AS sum FROM ledger_entries GROUP BY account_id) e ON e.account_id = a.id
         WHERE a.balance <> coalesce(e.sum, 0) ORDER BY a.id LIMIT 100`,
      )
    : [];
  const holdMismatches = failed('holds_within_balances')
    ? await q<{ account_id: number; held: number; open_holds: number }>(
        `SELECT a.id AS account_id, a.held, coalesce(h.sum, 0)::bigint AS open_holds
         FROM accounts a LEFT JOIN (SELECT account_id, sum(amount) AS sum FROM holds WHERE status = 'open' GROUP BY account_id) h ON h.account_id = a.id
         WHERE a.held <> coalesce(h.sum, 0) ORDER BY a.id LIMIT 100`,
      )
    : [];
  const entriesOfDeclined = failed('approvals_have_entries')
    ? (await q<{ journal_id: number }>(`SELECT id AS journal_id FROM journal WHERE entry_amount IS NOT NULL AND outcome <> 'approved' ORDER BY id LIMIT 100`)).map((r) => r.journal_id)
    : [];
  let danglingReferences = 0;
  let orphanEntries = 0;
  if (failed('references_valid')) {
    const [d] = await q<{ n: number }>(
      `SELECT count(*)::bigint AS n FROM journal j
       WHERE (j.original_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM journal o WHERE o.id = j.original_id))
          OR (j.duplicate_of IS NOT NULL AND NOT EXISTS (SELECT 1 FROM journal o WHERE o.id = j.duplicate_of))
          OR (j.reversed_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM journal o WHERE o.id = j.reversed_by))`,
    );
    const [o] = await q<{ n: number }>(
      `SELECT count(*)::bigint AS n FROM ledger_entries e
       WHERE NOT EXISTS (SELECT 1 FROM journal j WHERE j.id = e.journal_id) OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.account_id)`,
    );
    danglingReferences = d.n;
    orphanEntries = o.n;
  }
  return {
    ok: checks.every((c) => c.ok),
    journalRows: counts.journal,
    entries: counts.entries,
    accounts: counts.accounts,
    checks,
    unbalancedJournals,
    accountMismatches,
    holdMismatches,
    entriesOfDeclined,
    orphanEntries,
    danglingReferences,
    total: counts.total,
  };
}

export async function checkLedger(db: Db): Promise<LedgerCheck> {
  // A PoolClient is used as it is (the caller may be inside its own transaction).
  if (!('totalCount' in db)) return run(db);
  const client = await db.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const report = await run(client);
    await client.query('COMMIT');
    return report;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
