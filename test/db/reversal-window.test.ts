// A reversal after its terminal's reconciliation counted the original, or older than the reversal
// window, is refused (12, nothing moves); and a reconciliation running beside the reversal's batch
// is either counted by it or seen by it, never neither.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld, type World } from '../helpers/world.js';
import { checkLedger } from '../../db/check.js';
import * as store from '../../db/store.js';
import { reconcileTerminal, type Totals } from '../../db/reconcile.js';
import { Ledger, type LedgerItem } from '../../db/ledger.js';
import type pg from 'pg';

let stanSeq = 700000;
let terminalSeq = 0;
const DT = '1204101500';

async function freshTerminal(pool: pg.Pool, w: World): Promise<string> {
  const id = `TPEW${String(++terminalSeq).padStart(4, '0')}`;
  await store.createTerminal(pool, { id, servicePointId: w.sp.id });
  await pool.query('UPDATE terminals SET initialized_at = now() WHERE id = $1', [id]);
  return id;
}

const purchase = (w: World, terminalId: string, cardId: number, amount: number): LedgerItem => ({
  op: 'purchase',
  source: 'terminal',
  terminalId,
  stan: String(++stanSeq).padStart(6, '0'),
  transmissionAt: DT,
  mti: '0200',
  cardId,
  servicePointId: w.sp.id,
  amount,
  currency: '952',
  service: 'fuel',
  requestHash: 'aa',
});

const reversalOf = (p: LedgerItem): LedgerItem => ({
  op: 'reversal',
  source: 'terminal',
  terminalId: p.terminalId,
  stan: String(++stanSeq).padStart(6, '0'),
  transmissionAt: DT,
  mti: '0400',
  servicePointId: p.servicePointId,
  original: { stan: p.stan as string, transmissionAt: DT },
  requestHash: 'bb',
});

/** Reconciles the terminal with the switch's own totals, so that the reconciliation balances. */
async function reconcileBalanced(pool: pg.Pool, terminalId: string): Promise<void> {
  const none: Totals = { credits: 0, creditsAmount: 0, debits: 0, debitsAmount: 0, debitReversals: 0, debitReversalsAmount: 0 };
  const first = await reconcileTerminal(pool, terminalId, none, {});
  if (!first.balanced) {
    const again = await reconcileTerminal(pool, terminalId, first.computed, {});
    if (!again.balanced) throw new Error('reconciliation did not balance');
  }
}

const balance = async (pool: pg.Pool, cardId: number): Promise<number> => (await store.getCard(pool, cardId)).balance;

t.test('reversal window and reconciliation', async (t) => {
  const { pool } = await testDb(t);
  const w = await makeWorld(pool);
  const ledger = new Ledger(pool);

  t.test('after a balanced reconciliation counted the original: 12, nothing moves', async (t) => {
    const term = await freshTerminal(pool, w);
    const card = await w.card(10_000);
    const p = purchase(w, term, card.id, 1_000);
    const [paid] = await ledger.post([p]);
    t.equal(paid.outcome, 'approved');
    await reconcileBalanced(pool, term);
    const [r] = await ledger.post([reversalOf(p)]);
    t.equal(r.outcome, 'reversal_after_reconciliation');
    t.equal(await balance(pool, card.id), 9_000, 'the purchase stands');
    // a purchase after the reconciliation is in the next period: its reversal goes through
    const q = purchase(w, term, card.id, 500);
    await ledger.post([q]);
    const [r2] = await ledger.post([reversalOf(q)]);
    t.equal(r2.outcome, 'approved', 'an original after the reconciliation is reversed');
    t.equal(await balance(pool, card.id), 9_000, 'to the unit');
    const c = await checkLedger(pool);
    t.ok(c.ok, 'ledger check');
  });

  t.test('older than the window: 12; the window is the ledger’s setting', async (t) => {
    const term = await freshTerminal(pool, w);
    const card = await w.card(10_000);
    const p = purchase(w, term, card.id, 700);
    const dayAgo = new Date(Date.now() - 25 * 3_600_000);
    await ledger.post([p], dayAgo);
    const [r] = await ledger.post([reversalOf(p)]);
    t.equal(r.outcome, 'reversal_too_late', '25 h after, with the default 24 h window');
    t.equal(await balance(pool, card.id), 9_300);
    const [r2] = await new Ledger(pool, undefined, 48 * 3_600_000).post([reversalOf(p)]);
    t.equal(r2.outcome, 'approved', 'a 48 h window takes it');
    t.equal(await balance(pool, card.id), 10_000);
  });

  t.test('a reconciliation beside the reversal’s batch: the batch waits, then sees it', async (t) => {
    const term = await freshTerminal(pool, w);
    const card = await w.card(10_000);
    const p = purchase(w, term, card.id, 1_200);
    const [paid] = await ledger.post([p]);
    // A reconciliation in progress: its lock on the terminal taken, its row not yet committed.
    const rc = await pool.connect();
    try {
      await rc.query('BEGIN');
      await rc.query('SELECT 1 FROM terminals WHERE id = $1 FOR NO KEY UPDATE', [term]);
      const pending = ledger.post([reversalOf(p)]);
      // the batch is waiting for the terminal's lock
      let waiting = false;
      for (let i = 0; i < 200 && !waiting; i++) {
        const r = await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() AND pid <> $1",
          [(rc as unknown as { processID: number }).processID],
        );
        waiting = r.rows[0].n > 0;
        if (!waiting) await new Promise((res) => setTimeout(res, 10));
      }
      t.ok(waiting, 'the reversal waits for the reconciliation');
      await rc.query(
        `INSERT INTO reconciliations (terminal_id, outcome, reported, computed) VALUES ($1, 'balanced', '{}', jsonb_build_object('upTo', $2::bigint))`,
        [term, paid.journalId],
      );
      await rc.query('COMMIT');
      const [r] = await pending;
      t.equal(r.outcome, 'reversal_after_reconciliation', 'then reads the reconciliation it waited for');
    } finally {
      rc.release();
    }
    t.equal(await balance(pool, card.id), 8_800, 'the purchase stands');
  });
});
