// The posting's plans (db/ledger/sql.ts): every statement of a batch, read with auto_explain,
// looks each table up by the item's key. No table is read whole and filtered against the items
// (a Materialize under a join, rows removed by a join filter, a hash join, a scan without an
// index condition): that cost grows with the network (its service points' virtual cards, its
// transaction codes, its accounts), and a generic plan that chose it would stay for the session.
import t from 'tap';
import type pg from 'pg';
import { randomBytes } from 'node:crypto';
import { Ledger, type LedgerItem } from '../../db/ledger.js';
import { codeHash } from '../../db/secrets.js';
import * as store from '../../db/store.js';
import { seedDemo } from '../../backoffice/seed.js';
import { PanVault } from '../../db/pan-vault.js';
import { HASH_SECRET, KEK } from '../helpers/switch.js';
import { testDb } from '../helpers/db.js';

/** The plans auto_explain (loaded on `c`) gave of the statements run while `fn` ran, one text per statement. */
async function plansOf(c: pg.PoolClient, fn: () => Promise<void>): Promise<string[]> {
  const plans: string[] = [];
  const onNotice = (n: { message?: string }): void => {
    if (n.message?.includes('plan:')) plans.push(n.message);
  };
  c.on('notice', onNotice);
  for (const s of ['log_min_duration = 0', 'log_nested_statements = on', 'log_analyze = on', 'log_timing = off', 'log_buffers = off'])
    await c.query(`SET auto_explain.${s}`);
  await c.query('SET client_min_messages = log');
  try {
    await fn();
  } finally {
    await c.query('RESET client_min_messages');
    await c.query('SET auto_explain.log_min_duration = -1');
    c.off('notice', onNotice);
  }
  return plans;
}

/** The plan lines that read a table other than by the item's key. */
function wholeTableReads(plan: string): string[] {
  const lines = plan.split('\n');
  const bad: string[] = [];
  lines.forEach((line, i) => {
    if (/\bSeq Scan on\b/.test(line) || /\bMaterialize\b/.test(line) || /\bHash Join\b/.test(line) || /Rows Removed by Join Filter: [1-9]/.test(line)) bad.push(line.trim());
    // an index scan of a table with no index condition reads the whole index
    if (/\bIndex (Only )?Scan (Backward )?using \S+ on /.test(line)) {
      const depth = line.search(/\S/);
      let cond = false;
      for (let j = i + 1; j < lines.length && (lines[j].search(/\S/) > depth || !lines[j].trim()); j++) {
        if (/^\s*Index Cond:/.test(lines[j])) cond = true;
      }
      if (!cond) bad.push(line.trim());
    }
  });
  return bad;
}

t.test('wholeTableReads sees the shapes it is there for', async (t) => {
  t.same(wholeTableReads('  ->  Index Scan using cards_pkey on cards c  (rows=1)\n        Index Cond: (id = u.card)'), []);
  t.equal(wholeTableReads('  ->  Materialize  (rows=100 loops=100)\n        ->  Index Scan using cards_virtual_per_service_point on cards v  (rows=100 loops=1)').length, 2);
  t.equal(wholeTableReads('  Join Filter: (v.service_point_id = u.sp)\n  Rows Removed by Join Filter: 9900').length, 1);
  t.equal(wholeTableReads('  ->  Seq Scan on journal j').length, 1);
  t.equal(wholeTableReads('  ->  Hash Join  (rows=3)').length, 1);
});

t.test('every statement of a batch looks tables up by key', async (t) => {
  // one connection: the ledger posts on the one where auto_explain is loaded
  const { pool } = await testDb(t, { max: 1 });
  const seeded = await seedDemo(pool, new PanVault(KEK, HASH_SECRET), { cards: 60, servicePoints: 30, terminalsPerServicePoint: 1, balance: 1_000_000, pins: false, initializeTerminals: true });
  const cards = seeded.cards.filter((c) => !c.virtualized);
  const secret = 'plans-secret-0123456789';
  const code = await store.createTransactionCode(pool, { cardId: cards[0].id, amountMax: 5_000, ttlSeconds: 600, secret });
  let stan = 0;
  const at = (k: number): { terminalId: string; servicePointId: number } => {
    const sp = seeded.servicePoints[k % seeded.servicePoints.length];
    return { terminalId: sp.terminals[0].id, servicePointId: sp.id };
  };
  const item = (k: number, op: LedgerItem['op'], extra: Partial<LedgerItem> = {}): LedgerItem => ({
    op,
    source: 'terminal',
    ...at(k),
    stan: String(++stan).padStart(6, '0'),
    transmissionAt: '1203120000',
    mti: op === 'preauth' ? '0100' : op === 'completion' ? '0220' : op === 'reversal' ? '0400' : '0200',
    cardId: cards[k % cards.length].id,
    amount: 1_000 + k,
    currency: '952',
    service: 'fuel',
    requestHash: randomBytes(8).toString('hex'),
    ...extra,
  });
  // a first batch: purchases over every service point, pre-authorizations, an inquiry, a code,
  // a transfer and a recharge from the back office, a repeat within the batch
  const first: LedgerItem[] = Array.from({ length: 40 }, (_, k) => item(k, k % 10 === 3 ? 'preauth' : 'purchase'));
  first.push(item(41, 'inquiry', { amount: undefined }));
  first.push(item(42, 'purchase', { cardId: undefined, codeHash: codeHash(code.code, secret), amount: 2_000 }));
  first.push({ op: 'transfer', source: 'backoffice', cardId: cards[1].id, toCardId: cards[2].id, amount: 500, userId: seeded.admin.id });
  first.push({ op: 'recharge', source: 'backoffice', cardId: cards[3].id, amount: 700, userId: seeded.admin.id });
  first.push({ ...first[0] });
  // a second: completions of those pre-authorizations, a reversal, a duplicate of the first batch
  const preauths = first.filter((x) => x.op === 'preauth');
  const second: LedgerItem[] = [
    ...preauths.map((p, k) => item(3 + 10 * k, 'completion', { ...at(3 + 10 * k), cardId: p.cardId, amount: 800, original: { stan: p.stan!, transmissionAt: p.transmissionAt! } })),
    item(1, 'reversal', { ...at(1), cardId: first[1].cardId, amount: first[1].amount, original: { stan: first[1].stan!, transmissionAt: first[1].transmissionAt! } }),
    { ...first[5] },
    ...Array.from({ length: 10 }, (_, k) => item(100 + k, 'purchase')),
  ];
  // a third: purchases with the account hints the switch gives, locked by id (db/ledger/sql.ts LOCK_BY_ID)
  const owners = (await pool.query<{ id: number; account_id: number; service_point_id: number | null }>('SELECT id, account_id, service_point_id FROM cards')).rows;
  const cardAccount = new Map(owners.map((r) => [r.id, r.account_id]));
  const virtualAccount = new Map(owners.filter((r) => r.service_point_id !== null).map((r) => [r.service_point_id as number, r.account_id]));
  const third: LedgerItem[] = Array.from({ length: 10 }, (_, k) => {
    const it = item(200 + k, 'purchase');
    return { ...it, accountHint: [cardAccount.get(it.cardId as number) as number, virtualAccount.get(it.servicePointId as number) as number] };
  });
  const c = await pool.connect();
  // auto_explain is loaded per session, which takes a superuser (as on CI): say so rather than fail elsewhere
  const loaded = await c.query("LOAD 'auto_explain'").then(
    () => true,
    (e: { code?: string }) => {
      if (e.code !== '42501') throw e;
      return false;
    },
  );
  if (!loaded) {
    c.release();
    t.skip('auto_explain needs a superuser to load: run the tests as one (DATABASE_URL) to check the plans', () => {});
    return;
  }
  const ledger = new Ledger(pool);
  const results: { outcome: string; duplicate: boolean }[][] = [];
  const plans = await plansOf(c, async () => {
    c.release(); // the ledger takes the same connection from the pool of one
    try {
      for (const batch of [first, second, third]) results.push(await ledger.post(batch));
    } finally {
      await pool.connect().then((again) => {
        if (again !== c) throw new Error('the pool gave another connection');
      });
    }
  });
  c.release();
  // the batches did what they say, so the plans are those of real work
  t.same(results[0].filter((r) => r.outcome !== 'approved'), [], 'every item of the first batch approved');
  t.ok(results[0][results[0].length - 1].duplicate, 'the repeat within the batch');
  t.same(results[1].map((r) => r.outcome), second.map(() => 'approved'), 'completions, reversal, duplicate, purchases approved');
  t.ok(results[1][preauths.length + 1].duplicate, 'the duplicate of the first batch');
  t.same(results[2].map((r) => r.outcome), third.map(() => 'approved'), 'the hinted purchases approved');
  const texts = plans.join('\n');
  t.match(texts, /a\.id = ANY \(\$1::bigint\[\]\)/, 'the lock by the hints explained');
  for (const table of ['cards', 'accounts', 'terminals', 'service_points', 'card_profiles', 'transaction_codes', 'journal', 'holds']) {
    t.match(texts, new RegExp(` on ${table}\\b`), `some statement reads ${table}`);
  }
  t.ok(plans.length >= 12, `${plans.length} statements explained`);
  for (const p of plans) {
    const bad = wholeTableReads(p);
    const query = /Query Text: ([^\n]*)/.exec(p)?.[1]?.trim().slice(0, 90) ?? '?';
    t.same(bad, [], `by key: ${query}`);
    if (bad.length > 0) t.comment(p);
  }
});
