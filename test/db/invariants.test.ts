// Ledger invariants under randomized sequences and under concurrency.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { checkLedger } from '../../db/check.js';
import * as store from '../../db/store.js';
import { LedgerBatcher, type LedgerItem } from '../../db/ledger.js';

let stanSeq = 500000;
const nextStan = (): string => String(++stanSeq).padStart(6, '0');

t.test('randomized sequences keep double entry and never overdraw', async (t) => {
  const { pool } = await testDb(t);
  const w = await makeWorld(pool);
  const cards = await Promise.all([w.card(5_000), w.card(3_000), w.card(0), w.card(10_000, { clientId: w.sibling.id }), w.card(2_000, { clientId: w.outsider.id })]);
  let seed = 42;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const sent: LedgerItem[] = [];
  let approved = 0;
  for (let round = 0; round < 40; round++) {
    const batch: LedgerItem[] = [];
    const size = 1 + rand(25);
    for (let i = 0; i < size; i++) {
      const card = cards[rand(cards.length)];
      const kind = rand(9);
      const amount = 1 + rand(3_000);
      const base = { source: 'terminal' as const, terminalId: w.terminal, stan: nextStan(), transmissionAt: '1127120000', servicePointId: w.sp.id, currency: '952', service: 'fuel' as const, requestHash: 'aa' };
      let item: LedgerItem;
      if (kind <= 2) item = { ...base, op: 'purchase', cardId: card.id, amount };
      else if (kind === 3) item = { ...base, op: 'preauth', cardId: card.id, amount };
      else if (kind === 4 && sent.length) {
        const o = sent[rand(sent.length)];
        item = { ...base, op: 'reversal', original: { stan: o.stan!, transmissionAt: o.transmissionAt! } };
      } else if (kind === 5 && sent.length) {
        const o = sent[rand(sent.length)];
        item = { ...base, op: 'completion', amount: rand(2_000), original: { stan: o.stan!, transmissionAt: o.transmissionAt! } };
      } else if (kind === 6) item = { op: 'transfer', source: 'backoffice', cardId: card.id, toCardId: cards[rand(cards.length)].id, amount };
      else if (kind === 7) item = { op: 'recharge', source: 'backoffice', cardId: card.id, amount };
      else if (kind === 8 && sent.length) item = { ...sent[rand(sent.length)] }; // a duplicate
      else item = { ...base, op: 'inquiry', cardId: card.id };
      batch.push(item);
      if (item.source === 'terminal') sent.push(item);
    }
    const results = await w.ledger.post(batch);
    approved += results.filter((r) => r.outcome === 'approved').length;
    const check = await checkLedger(pool);
    if (!check.ok) {
      t.fail(`round ${round}: ${JSON.stringify(check)}`);
      break;
    }
    for (const c of cards) {
      const now = await store.getCard(pool, c.id);
      if (now.balance < now.held || now.held < 0) t.fail(`round ${round}: card ${c.id} balance ${now.balance} held ${now.held}`);
    }
  }
  const final = await checkLedger(pool);
  t.ok(final.ok, `after 40 random batches (${approved} approvals, ${final.entries} entries): entries sum to zero, balances equal their entries, holds match`);
  t.ok(approved > 50, 'the sequence did approve things');
});

t.test('200 concurrent debits on a card that can afford exactly 50', async (t) => {
  // Unbatched, the 200 transactions take the card's lock one after the other, each with its own
  // commit flush: waiting for a connection takes as long as the disk makes it.
  const { pool } = await testDb(t, { max: 20, connectionTimeoutMillis: 120_000 });
  const w = await makeWorld(pool);
  const mk = (cardId: number, i: number): LedgerItem => ({
    op: 'purchase',
    source: 'terminal',
    terminalId: i % 2 ? w.terminal : w.terminal2,
    stan: nextStan(),
    transmissionAt: '1127130000',
    cardId,
    servicePointId: w.sp.id,
    amount: 100,
    currency: '952',
    service: 'fuel',
    requestHash: 'bb',
  });
  t.test('unbatched: one transaction per debit, 20 connections', async (t) => {
    const card = await w.card(5_000);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => w.ledger.post([mk(card.id, i)]).then((r) => r[0])));
    t.equal(results.filter((r) => r.outcome === 'approved').length, 50);
    t.equal(results.filter((r) => r.outcome === 'insufficient_funds').length, 150);
    t.equal((await store.getCard(pool, card.id)).balance, 0);
    t.ok((await checkLedger(pool)).ok);
  });
  t.test('batched: group commit, two lanes in flight on one card', async (t) => {
    const card = await w.card(5_000);
    const sizes: number[] = [];
    const batcher = new LedgerBatcher(w.ledger, { concurrency: 2, maxBatch: 64, onBatch: (n) => sizes.push(n) });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => batcher.post(mk(card.id, i), i % 2)));
    t.equal(results.filter((r) => r.outcome === 'approved').length, 50);
    t.equal((await store.getCard(pool, card.id)).balance, 0);
    t.ok(sizes.length < 200, `${sizes.length} batches for 200 items (largest ${Math.max(...sizes)})`);
    t.ok((await checkLedger(pool)).ok);
  });
  t.test('two batchers (as two switch processes) on the same card', async (t) => {
    const card = await w.card(5_000);
    const a = new LedgerBatcher(w.ledger, { maxBatch: 32 });
    const b = new LedgerBatcher(w.ledger, { maxBatch: 32 });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).post(mk(card.id, i))));
    t.equal(results.filter((r) => r.outcome === 'approved').length, 50);
    t.ok((await checkLedger(pool)).ok);
  });
  t.test('the same message through two batchers: one original, one duplicate', async (t) => {
    const card = await w.card(5_000);
    const a = new LedgerBatcher(w.ledger);
    const b = new LedgerBatcher(w.ledger);
    const items = Array.from({ length: 40 }, (_, i) => mk(card.id, i));
    const results = await Promise.all(items.flatMap((it) => [a.post(it), b.post({ ...it, mti: '0201' })]));
    const originals = results.filter((r) => !r.duplicate);
    t.equal(originals.length, 40, 'each message has one original');
    t.equal(results.filter((r) => r.duplicate).length, 40, 'and one duplicate');
    t.equal((await store.getCard(pool, card.id)).balance, 1_000, 'charged once each');
  });
});

t.test('reversals of one purchase from two processes at once refund it once', async (t) => {
  const { pool } = await testDb(t, { max: 20 });
  const w = await makeWorld(pool);
  const card = await w.card(100_000);
  const purchases: LedgerItem[] = Array.from({ length: 30 }, () => ({
    op: 'purchase', source: 'terminal', terminalId: w.terminal, stan: nextStan(), transmissionAt: '1127140000',
    cardId: card.id, servicePointId: w.sp.id, amount: 1_000, currency: '952', service: 'fuel', requestHash: 'cc',
  }));
  const results = await w.ledger.post(purchases);
  t.equal(results.filter((r) => r.outcome === 'approved').length, 30);
  const a = new LedgerBatcher(w.ledger);
  const b = new LedgerBatcher(w.ledger);
  // Two reversals per purchase (different STANs: a reversal and its retry on another connection).
  await Promise.all(
    purchases.flatMap((p) => [a, b].map((batcher) =>
      batcher.post({ op: 'reversal', source: 'terminal', terminalId: w.terminal, stan: nextStan(), transmissionAt: '1127140100',
        servicePointId: w.sp.id, original: { stan: p.stan!, transmissionAt: p.transmissionAt! }, requestHash: 'dd' }),
    )),
  );
  t.equal((await store.getCard(pool, card.id)).balance, 100_000, 'each purchase refunded exactly once');
  t.ok((await checkLedger(pool)).ok);
});

t.test('the database refuses unbalanced or edited entries', async (t) => {
  const { pool } = await testDb(t);
  const w = await makeWorld(pool);
  const card = await w.card(100); // a recharge: a journal row with its two entries
  const j = (await pool.query('SELECT id FROM journal WHERE entry_amount IS NOT NULL ORDER BY id DESC LIMIT 1')).rows[0].id as number;
  const entries = await pool.query('SELECT account_id, amount FROM ledger_entries WHERE journal_id = $1 ORDER BY amount', [j]);
  t.equal(entries.rows.length, 2, "a money row reads as two entries ...");
  t.equal(Number(entries.rows[0].amount) + Number(entries.rows[1].amount), 0, '... summing to zero');
  t.equal(Number(entries.rows[1].account_id), card.account_id, 'the card account is credited');
  // One side alone, or sides that are not two accounts, or money on a declined row: refused.
  const row = (debit: number | null, credit: number | null, amount: number | null, outcome = 'approved'): Promise<unknown> =>
    pool.query(
      "INSERT INTO journal (op, source, outcome, debit_account, credit_account, entry_amount) VALUES ('recharge', 'backoffice', $4, $1, $2, $3)",
      [debit, credit, amount, outcome],
    );
  await t.rejects(row(card.account_id, null, 5), /journal_entries_whole/, 'a debit without a credit');
  await t.rejects(row(null, card.account_id, 5), /journal_entries_whole/, 'a credit without a debit');
  await t.rejects(row(card.account_id, card.account_id, 5), /journal_entries_two_accounts/, 'an account to itself');
  await t.rejects(row(card.account_id, w.virtualCard.account_id, 0), /journal_entries_positive/, 'no money');
  await t.rejects(row(card.account_id, w.virtualCard.account_id, 5, 'insufficient_funds'), /journal_entries_approved/, 'money on a decline');
  await t.rejects(pool.query('INSERT INTO ledger_entries (journal_id, account_id, amount) VALUES ($1, $2, 5)', [j, card.account_id]), /cannot insert into view/);
  // Entries never change and never go away.
  await t.rejects(pool.query('UPDATE journal SET entry_amount = entry_amount + 1 WHERE id = $1', [j]), /append-only/);
  await t.rejects(pool.query('UPDATE journal SET credit_account = $2 WHERE id = $1', [j, w.virtualCard.account_id]), /append-only/);
  await t.rejects(pool.query('DELETE FROM journal WHERE id = $1', [j]), /append-only/);
  await t.rejects(pool.query('TRUNCATE journal CASCADE'), /append-only/);
  await t.rejects(pool.query('UPDATE ledger_entries SET amount = amount + 1'), /cannot update view/);
  await t.rejects(pool.query('DELETE FROM ledger_entries'), /cannot delete from view/);
  await pool.query("UPDATE journal SET note = 'annotated' WHERE id = $1", [j]);
  t.pass('the rest of a money row may still change (a note, its reversal)');
  await t.rejects(pool.query('UPDATE accounts SET held = balance + 1 WHERE id = $1', [card.account_id]), /accounts_card_covers_holds/);
  t.ok((await checkLedger(pool)).ok);
});

t.test("a column's own rules hold wherever it is written (a domain's, migration 008), under their names", async (t) => {
  const { pool } = await testDb(t);
  const w = await makeWorld(pool);
  const card = await w.card(100);
  const journalRow = (source: string, amount: number): Promise<unknown> =>
    pool.query("INSERT INTO journal (op, source, outcome, amount) VALUES ('inquiry', $1, 'approved', $2)", [source, amount]);
  await t.rejects(journalRow('teller', 0), /journal_source_check/, 'a journal row from no known source');
  await t.rejects(journalRow('backoffice', -1), /journal_amount_check/, 'a negative amount');
  await journalRow('system', 0);
  t.pass('a known source and no amount');
  await t.rejects(pool.query("INSERT INTO accounts (kind) VALUES ('wallet')"), /accounts_kind_check/, 'an account of no known kind');
  await t.rejects(pool.query("INSERT INTO accounts (kind, currency) VALUES ('funding', 'EUR')"), /accounts_currency_check/, 'a currency not in ISO 4217 digits');
  await t.rejects(pool.query("UPDATE accounts SET currency = '95' WHERE id = $1", [card.account_id]), /accounts_currency_check/, 'nor changed to one');
  await t.rejects(pool.query('UPDATE accounts SET held = -1 WHERE id = $1', [card.account_id]), /accounts_held_check/, 'a negative hold total');
  const hold = (amount: number, status: string): Promise<unknown> =>
    pool.query(
      "INSERT INTO holds (journal_id, account_id, amount, status, expires_at) SELECT max(id), $1, $2, $3, now() + interval '1 hour' FROM journal",
      [card.account_id, amount, status],
    );
  await t.rejects(hold(0, 'open'), /holds_amount_check/, 'a hold of nothing');
  await t.rejects(hold(5, 'pending'), /holds_status_check/, 'a hold in no known state');
  // the ledger's own writes go through the same types: a balance change is not refused for them
  await pool.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [card.account_id]);
  await pool.query('UPDATE accounts SET balance = balance - 1 WHERE id = $1', [card.account_id]);
  t.ok((await checkLedger(pool)).ok);
});

t.test("a service point's row names its own virtual card and that card's account, or none (migration 009)", async (t) => {
  const { pool } = await testDb(t);
  const w = await makeWorld(pool);
  const holder = await w.card(100);
  const row = async (id: number): Promise<{ virtual_card_id: number | null; virtual_account_id: number | null }> =>
    (await pool.query('SELECT virtual_card_id::int, virtual_account_id::int FROM service_points WHERE id = $1', [id])).rows[0];
  t.same(await row(w.sp.id), { virtual_card_id: w.virtualCard.id, virtual_account_id: w.virtualCard.account_id }, 'written as the virtual card was created');
  t.same(await row(w.spBare.id), { virtual_card_id: null, virtual_account_id: null }, 'a service point without one names none');
  const set = (card: number | null, account: number | null): Promise<unknown> =>
    pool.query('UPDATE service_points SET virtual_card_id = $2, virtual_account_id = $3 WHERE id = $1', [w.spBare.id, card, account]);
  await t.rejects(set(w.virtualCard.id, w.virtualCard.account_id), /service_points_virtual_card/, "another service point's virtual card");
  await t.rejects(set(holder.id, holder.account_id), /service_points_virtual_card/, "a holder's card");
  await t.rejects(pool.query('UPDATE service_points SET virtual_account_id = $2 WHERE id = $1', [w.sp.id, holder.account_id]), /service_points_virtual_card/, 'its own card with another account');
  await t.rejects(set(w.virtualCard.id, null), /service_points_virtual_card_whole/, 'a card without its account');
  t.same(await row(w.sp.id), { virtual_card_id: w.virtualCard.id, virtual_account_id: w.virtualCard.account_id }, 'unchanged');
});
