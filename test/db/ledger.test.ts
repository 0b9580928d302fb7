// The ledger suite (ledger-suite.ts) against the real PostgreSQL, and the outcome list.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { ledgerSuite } from './ledger-suite.js';

t.test('ledger', async (t) => {
  const { pool } = await testDb(t);
  await ledgerSuite(t, pool);
});

t.test('every outcome the posting function can return is in db/outcomes.ts', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { migrationsDir } = await import('../../db/migrate.js');
  const { isOutcome } = await import('../../db/outcomes.js');
  const { readdirSync } = await import('node:fs');
  // every version of the posting function (002, then 004, 006 and 007 replace it)
  const files = readdirSync(migrationsDir()).filter((f) => f.endsWith('.sql')).sort();
  const sql = files.map((f) => readFileSync(`${migrationsDir()}/${f}`, 'utf8')).join('\n');
  // in the loop (verdict := 'x'), and, from 006, in the state statement's CASEs (THEN 'x')
  const named = new Set([...sql.matchAll(/verdict := '([a-z_]+)'|THEN '([a-z_]+)'/g)].map((m) => m[1] ?? m[2]));
  t.ok(named.size >= 20, `${named.size} outcomes in the SQL`);
  for (const o of named) t.ok(isOutcome(o), `${o} is listed`);
  const latest = readFileSync(`${migrationsDir()}/${files.filter((f) => /ledger_post/.test(readFileSync(`${migrationsDir()}/${f}`, 'utf8'))).pop()}`, 'utf8');
  const inLatest = new Set([...latest.matchAll(/verdict := '([a-z_]+)'|THEN '([a-z_]+)'/g)].map((m) => m[1] ?? m[2]));
  t.ok(inLatest.has('insufficient_funds') && inLatest.has('unknown_terminal') && inLatest.has('code_used'), 'the latest version names them too');
});

t.test('the JSON form, ledger_post, posts as the arrays do', async (t) => {
  const { pool } = await testDb(t);
  const { makeWorld } = await import('../helpers/world.js');
  const w = await makeWorld(pool);
  const card = await w.card(1_000);
  const item = { i: 0, op: 'purchase', src: 'terminal', term: w.terminal, stan: '424242', dt: '1203120000', mti: '0200', card: card.id, sp: w.sp.id, amt: 250, cur: '952', svc: 'fuel', rh: 'ab' };
  const r = await pool.query('SELECT * FROM ledger_post($1::jsonb)', [JSON.stringify([item, { ...item, i: 1, stan: '424243', amt: 5_000 }])]);
  t.same(r.rows.map((x) => [x.i, x.outcome, Number(x.available)]), [[0, 'approved', 750], [1, 'insufficient_funds', 0]]);
  const e = await pool.query('SELECT account_id, amount FROM ledger_entries WHERE journal_id = $1 ORDER BY amount', [r.rows[0].journal_id]);
  t.same(e.rows.map((x) => [Number(x.account_id), Number(x.amount)]), [[card.account_id, -250], [w.virtualCard.account_id, 250]]);
  t.equal(r.rows[1].available, null, 'a decline for funds gives no balance');
});

t.test('ledger_post_arrays refuses arrays of different lengths, nothing written', async (t) => {
  const { pool } = await testDb(t);
  const { COLUMNS, POST } = await import('../../db/ledger.js');
  const count = async (): Promise<number> => (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM journal')).rows[0].n;
  const before = await count();
  const args = COLUMNS.map((c) => (c === 'op' ? '{record,record}' : c === 'src' ? '{backoffice}' : null));
  await t.rejects(pool.query(POST, args), { code: '22023', message: /one value per item \(2 items\)/ });
  t.equal(await count(), before, 'no journal row');
});

t.test('a batch numbered wrong is refused whole, nothing written', async (t) => {
  const { pool } = await testDb(t);
  const count = async (): Promise<number> => (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM journal')).rows[0].n;
  const before = await count();
  for (const items of [
    [{ i: 0, op: 'record', src: 'backoffice' }, { i: 0, op: 'record', src: 'backoffice' }],
    [{ i: 1, op: 'record', src: 'backoffice' }],
    [{ i: 0, op: 'record', src: 'backoffice' }, { i: 2, op: 'record', src: 'backoffice' }],
  ]) {
    await t.rejects(pool.query('SELECT * FROM ledger_post($1::jsonb)', [JSON.stringify(items)]), { code: 'XX000', message: /numbered 0\.\.n-1/ }, JSON.stringify(items.map((x) => x.i)));
  }
  const ok = await pool.query<{ i: number }>('SELECT * FROM ledger_post($1::jsonb)', [JSON.stringify([{ i: 0, op: 'record', src: 'backoffice' }, { i: 1, op: 'record', src: 'backoffice' }])]);
  t.same(ok.rows.map((r) => r.i), [0, 1], 'numbered right: both answered');
  t.equal(await count(), before + 2, 'only the well-numbered batch was journaled');
});

t.test('the named statement lost on the server (DEALLOCATE ALL, as a pooler may do): the post still goes through', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const { Ledger } = await import('../../db/ledger.js');
  const ledger = new Ledger(pool);
  const record = [{ op: 'record' as const, source: 'backoffice' as const, preset: 'unknown_card' as const, note: 'x' }];
  const first = await ledger.post(record);
  t.equal(first[0].outcome, 'unknown_card', 'first post (prepares the statement)');
  await pool.query('DEALLOCATE ALL'); // the one connection forgets ledger_post; the client still believes it prepared
  const second = await ledger.post(record);
  t.equal(second[0].outcome, 'unknown_card', 'second post answered');
  t.ok(second[0].journalId > first[0].journalId, 'and journaled');
  const third = await ledger.post(record);
  t.equal(third[0].outcome, 'unknown_card', 'later posts too');
  const n = (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM journal WHERE note = 'x'")).rows[0].n;
  t.equal(n, 3, 'three rows, none twice');
});

t.test('ledger_account_position finds an account among the batch\'s locked ones', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const pos = async (ids: number[], id: number | null): Promise<number | null> =>
    (await pool.query<{ p: number | null }>('SELECT ledger_account_position($1::bigint[], $2::bigint) AS p', [ids, id])).rows[0].p;
  // sorted, as the lock statement reads them: every element at its place, by binary search
  for (const n of [1, 2, 3, 7, 64, 241]) {
    const ids = Array.from({ length: n }, (_, i) => 10 + 3 * i);
    for (const i of new Set([0, 1, Math.floor(n / 2), n - 2, n - 1].filter((x) => x >= 0 && x < n))) t.equal(await pos(ids, ids[i]), i + 1, `${n} ids, the ${i + 1}th`);
    t.equal(await pos(ids, 9), null, `${n} ids, below them all`);
    t.equal(await pos(ids, 11), null, `${n} ids, between two`);
    t.equal(await pos(ids, 10 + 3 * n), null, `${n} ids, above them all`);
  }
  t.equal(await pos([5, 6], null), null, 'a NULL account (no funding account for a purchase)');
  t.equal(await pos([], 5), null, 'no accounts');
  // out of order (not what the lock statement gives): the check fails and a plain scan answers
  t.equal(await pos([30, 10, 20], 10), 2);
  t.equal(await pos([30, 10, 20], 30), 1);
  t.equal(await pos([30, 10, 20], 25), null);
});
