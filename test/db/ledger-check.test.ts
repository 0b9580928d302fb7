// The ledger check's rules, one by one: a ledger written by the ledger passes every named check;
// a row written by hand (SQL past the ledger, within what the database's constraints and the
// journal's append-only triggers allow) makes exactly the named check it breaks fail, with the
// row among its examples. Each bad row is written in a transaction that is rolled back, so the
// cases share one world.
import t from 'tap';
import type pg from 'pg';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { checkLedger, type LedgerCheck } from '../../db/check.js';
import type { LedgerItem, LedgerResult } from '../../db/ledger.js';
import type { TestContext } from '../helpers/tap.js';

const NAMES = [
  'entries_balanced',
  'accounts_sum_to_zero',
  'balances_equal_entries',
  'references_valid',
  'originals_not_duplicates',
  'reversed_at_most_once',
  'completed_at_most_once',
  'refund_within_original',
  'holds_within_balances',
  'approvals_have_entries',
];

const failing = (c: LedgerCheck): string[] => c.checks.filter((x) => !x.ok).map((x) => x.name);
const examplesOf = (c: LedgerCheck, name: string): number[] => c.checks.find((x) => x.name === name)?.examples ?? [];

t.test('the ledger check, rule by rule', async (t) => {
  const { pool } = await testDb(t);
  const w = await makeWorld(pool);
  await pool.query('UPDATE terminals SET initialized_at = now() WHERE id = $1', [w.terminal]);
  const card = await w.card(100_000);
  const other = await w.card(5_000);
  const vAcct = w.virtualCard.account_id;
  let stan = 100;
  const base = (): LedgerItem => ({
    op: 'purchase', source: 'terminal', terminalId: w.terminal, stan: String(++stan).padStart(6, '0'), transmissionAt: '0301120000',
    servicePointId: w.sp.id, currency: '952', service: 'fuel', requestHash: 'ab', cardId: card.id,
  });
  const of = (x: LedgerItem): { stan: string; transmissionAt: string } => ({ stan: x.stan!, transmissionAt: x.transmissionAt! });
  const post = async (...items: LedgerItem[]): Promise<LedgerResult[]> => {
    const r = await w.ledger.post(items);
    return r;
  };
  // A world with every kind of row: purchases (one reversed, one duplicated), a preauth completed,
  // one reversed, one completed for 0, one left open, a decline, an inquiry, a transfer, recharges.
  const p = { ...base(), amount: 1_000 };
  const p2 = { ...base(), amount: 2_000 };
  const h = { ...base(), op: 'preauth' as const, amount: 3_000 };
  const h2 = { ...base(), op: 'preauth' as const, amount: 4_000 };
  const h0 = { ...base(), op: 'preauth' as const, amount: 500 };
  const hOpen = { ...base(), op: 'preauth' as const, amount: 600 };
  const [rp, rp2, rh, rh2, rh0, rhOpen] = await post(p, p2, h, h2, h0, hOpen);
  const [rRev, rDup, rComp, rRevH2, rComp0] = await post(
    { ...base(), op: 'reversal', original: of(p2) },
    { ...p2 },
    { ...base(), op: 'completion', amount: 2_500, original: of(h) },
    { ...base(), op: 'reversal', original: of(h2) },
    { ...base(), op: 'completion', amount: 0, original: of(h0) },
  );
  const [rDecl, rInq, rXfer] = await post(
    { ...base(), amount: 10_000_000 },
    { ...base(), op: 'inquiry' },
    { op: 'transfer', source: 'backoffice', cardId: card.id, toCardId: other.id, amount: 700 },
  );
  t.same(
    [rp, rp2, rh, rh2, rh0, rhOpen, rRev, rComp, rRevH2, rComp0, rInq, rXfer].map((r) => r.outcome),
    Array(12).fill('approved'),
    'the world was approved',
  );
  t.equal(rDup.duplicate, true, 'a duplicate of the reversed purchase');
  t.equal(rDecl.outcome, 'insufficient_funds', 'a decline');

  const good = await checkLedger(pool);
  t.same(good.checks.map((c) => c.name), NAMES, 'every rule is a named check, in order');
  t.same(failing(good), [], 'a ledger written by the ledger passes every check');
  t.ok(good.ok);
  t.ok(good.checks.every((c) => c.violations === 0 && c.examples.length === 0));

  const acct = async (db: pg.PoolClient, id: number, delta: number): Promise<void> => {
    await db.query('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [id, delta]);
  };
  // A journal row written past the ledger; returns its id.
  const row = async (db: pg.PoolClient, r: Record<string, unknown>): Promise<number> => {
    const cols = Object.keys(r);
    const sql = `INSERT INTO journal (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`;
    return Number((await db.query<{ id: string }>(sql, Object.values(r))).rows[0].id);
  };
  // Money moved by hand with its journal row, balances kept equal to their entries.
  const moved = async (db: pg.PoolClient, r: Record<string, unknown> & { debit_account: number; credit_account: number; entry_amount: number }): Promise<number> => {
    const id = await row(db, { source: 'terminal', outcome: 'approved', terminal_id: w.terminal, ...r });
    await acct(db, r.debit_account, -r.entry_amount);
    await acct(db, r.credit_account, r.entry_amount);
    return id;
  };
  /** Runs `bad` in a transaction, checks the ledger there, rolls back. */
  const bad = async (t: TestContext, what: string, expected: string[], write: (db: pg.PoolClient) => Promise<number | undefined>): Promise<void> => {
    const db = await pool.connect();
    try {
      await db.query('BEGIN');
      const id = await write(db);
      const c = await checkLedger(db);
      t.same(failing(c), expected, `${what}: fails ${expected.join(', ')}`);
      t.notOk(c.ok, `${what}: the report is not ok`);
      for (const name of expected) {
        const x = c.checks.find((y) => y.name === name)!;
        // (the sum of all balances is one figure: no row to show)
        t.ok(x.violations > 0 && (x.examples.length > 0 || name === 'accounts_sum_to_zero'), `${what}: ${name} counts its violations and gives examples`);
      }
      if (id !== undefined) t.ok(expected.some((n) => examplesOf(c, n).includes(id)), `${what}: the row ${id} is an example`);
    } finally {
      await db.query('ROLLBACK');
      db.release();
    }
  };

  t.test('reversed_at_most_once', async (t) => {
    await bad(t, 'a second reversal of a reversed purchase refunds it again', ['reversed_at_most_once'], async (db) => {
      await moved(db, { op: 'reversal', stan: '900001', original_id: rp2.journalId, card_id: card.id, counter_card_id: w.virtualCard.id, amount: 2_000, debit_account: vAcct, credit_account: card.account_id, entry_amount: 2_000 });
      return rp2.journalId;
    });
    await bad(t, "a preauth released twice: a second reversal recorded as its reversal, the first still closing its hold", ['reversed_at_most_once'], async (db) => {
      const id = await row(db, { op: 'reversal', source: 'terminal', outcome: 'approved', terminal_id: w.terminal, stan: '900002', original_id: rh2.journalId, card_id: card.id });
      await db.query('UPDATE journal SET reversed_by = $2 WHERE id = $1', [rh2.journalId, id]);
      return rh2.journalId;
    });
    await bad(t, 'a reversal of a duplicate of a reversed purchase, with money', ['originals_not_duplicates', 'reversed_at_most_once'], async (db) => {
      await moved(db, { op: 'reversal', stan: '900003', original_id: rDup.journalId, card_id: card.id, counter_card_id: w.virtualCard.id, amount: 2_000, debit_account: vAcct, credit_account: card.account_id, entry_amount: 2_000 });
      return rp2.journalId;
    });
  });

  t.test('completed_at_most_once', async (t) => {
    await bad(t, 'a second completion of a completed preauth takes money', ['completed_at_most_once'], async (db) => {
      await moved(db, { op: 'completion', stan: '900011', original_id: rh.journalId, card_id: card.id, counter_card_id: w.virtualCard.id, amount: 1_000, debit_account: card.account_id, credit_account: vAcct, entry_amount: 1_000 });
      return rh.journalId;
    });
    await bad(t, 'a completion, then a reversal that releases the same hold', ['completed_at_most_once'], async (db) => {
      const id = await row(db, { op: 'reversal', source: 'terminal', outcome: 'approved', terminal_id: w.terminal, stan: '900012', original_id: rh0.journalId, card_id: card.id });
      await db.query('UPDATE journal SET reversed_by = $2 WHERE id = $1', [rh0.journalId, id]);
      return rh0.journalId;
    });
  });

  t.test('refund_within_original', async (t) => {
    await bad(t, 'a reversal refunds more than its purchase moved', ['refund_within_original'], async (db) => {
      const id = await moved(db, { op: 'reversal', stan: '900021', original_id: rp.journalId, card_id: card.id, counter_card_id: w.virtualCard.id, amount: 1_000, debit_account: vAcct, credit_account: card.account_id, entry_amount: 1_500 });
      await db.query('UPDATE journal SET reversed_by = $2 WHERE id = $1', [rp.journalId, id]);
      return id;
    });
    await bad(t, 'a reversal refunds to another card than the one charged', ['refund_within_original'], async (db) => {
      const id = await moved(db, { op: 'reversal', stan: '900022', original_id: rp.journalId, card_id: card.id, counter_card_id: w.virtualCard.id, amount: 1_000, debit_account: vAcct, credit_account: other.account_id, entry_amount: 1_000 });
      await db.query('UPDATE journal SET reversed_by = $2 WHERE id = $1', [rp.journalId, id]);
      return id;
    });
    await bad(t, 'a completion takes more than its hold', ['refund_within_original'], async (db) => {
      const id = await moved(db, { op: 'completion', stan: '900023', original_id: rhOpen.journalId, card_id: card.id, counter_card_id: w.virtualCard.id, amount: 601, debit_account: card.account_id, credit_account: vAcct, entry_amount: 601 });
      await db.query("UPDATE holds SET status = 'completed', closed_by = $2 WHERE journal_id = $1", [rhOpen.journalId, id]);
      await db.query('UPDATE accounts SET held = held - 600 WHERE id = $1', [card.account_id]);
      return id;
    });
  });

  t.test('holds_within_balances', async (t) => {
    await bad(t, 'held above the open holds', ['holds_within_balances'], async (db) => {
      await db.query('UPDATE accounts SET held = held + 10 WHERE id = $1', [card.account_id]);
      return card.account_id;
    });
    await bad(t, 'an open hold the account does not hold', ['holds_within_balances'], async (db) => {
      await db.query("UPDATE holds SET status = 'open', closed_by = NULL WHERE journal_id = $1", [rh.journalId]);
      return card.account_id;
    });
    await bad(t, 'held above the balance (the constraint that forbids it dropped)', ['holds_within_balances'], async (db) => {
      await db.query('ALTER TABLE accounts DROP CONSTRAINT accounts_card_covers_holds');
      const big = 200_000;
      await db.query('UPDATE accounts SET held = held + $2 WHERE id = $1', [other.account_id, big]);
      await db.query(
        "INSERT INTO holds (journal_id, account_id, amount, status, expires_at) VALUES ($1, $2, $3, 'open', now() + interval '1 hour')",
        [await row(db, { op: 'preauth', source: 'backoffice', outcome: 'approved', card_id: other.id, amount: big }), other.account_id, big],
      );
      return other.account_id;
    });
  });

  t.test('approvals_have_entries', async (t) => {
    await bad(t, 'an approved purchase without entries', ['approvals_have_entries'], async (db) =>
      row(db, { op: 'purchase', source: 'terminal', outcome: 'approved', terminal_id: w.terminal, stan: '900031', card_id: card.id, counter_card_id: w.virtualCard.id, amount: 700 }),
    );
    await bad(t, 'an approved purchase whose entry is not its amount', ['approvals_have_entries'], async (db) =>
      moved(db, { op: 'purchase', stan: '900032', card_id: card.id, counter_card_id: w.virtualCard.id, amount: 700, debit_account: card.account_id, credit_account: vAcct, entry_amount: 70 }),
    );
    await bad(t, 'an approved purchase paid to another account than its virtual card', ['approvals_have_entries'], async (db) =>
      moved(db, { op: 'purchase', stan: '900033', card_id: card.id, counter_card_id: w.virtualCard.id, amount: 700, debit_account: card.account_id, credit_account: other.account_id, entry_amount: 700 }),
    );
    await bad(t, 'a recharge not from a funding account', ['approvals_have_entries'], async (db) =>
      moved(db, { op: 'recharge', source: 'backoffice', terminal_id: null, card_id: card.id, amount: 700, debit_account: other.account_id, credit_account: card.account_id, entry_amount: 700 }),
    );
    await bad(t, 'a duplicate that moved money', ['approvals_have_entries'], async (db) =>
      moved(db, { op: 'purchase', stan: p.stan, transmission_at: p.transmissionAt, duplicate_of: rp.journalId, card_id: card.id, counter_card_id: w.virtualCard.id, amount: 1_000, debit_account: card.account_id, credit_account: vAcct, entry_amount: 1_000 }),
    );
    await bad(t, 'a preauth that moved money', ['approvals_have_entries'], async (db) =>
      moved(db, { op: 'preauth', stan: '900034', card_id: card.id, counter_card_id: w.virtualCard.id, amount: 700, debit_account: card.account_id, credit_account: vAcct, entry_amount: 700 }),
    );
    await bad(t, 'an approved transfer without entries', ['approvals_have_entries'], async (db) =>
      row(db, { op: 'transfer', source: 'backoffice', outcome: 'approved', card_id: card.id, counter_card_id: other.id, amount: 700 }),
    );
  });

  t.test('originals_not_duplicates', async (t) => {
    await bad(t, 'a reversal that names a duplicate as its original', ['originals_not_duplicates'], async (db) => {
      await db.query('UPDATE journal SET original_id = $2 WHERE id = $1', [rRev.journalId, rDup.journalId]);
      return rRev.journalId;
    });
  });

  t.test('the rules that were there before', async (t) => {
    await bad(t, 'a balance edited', ['accounts_sum_to_zero', 'balances_equal_entries'], async (db) => {
      await acct(db, vAcct, 1);
      return vAcct;
    });
    await bad(t, 'a reference to no row', ['references_valid'], async (db) => {
      await db.query('UPDATE journal SET reversed_by = 999999999 WHERE id = $1', [rInq.journalId]);
      return rInq.journalId;
    });
  });

  t.same(failing(await checkLedger(pool)), [], 'every bad row was rolled back');
});
