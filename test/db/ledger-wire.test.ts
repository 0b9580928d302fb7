// The ledger's transaction on the wire (db/ledger/wire.ts): rounds ended by Flush run in one
// implicit transaction that the last round's Sync commits; an error anywhere rolls it back and
// leaves the connection usable; the rows are read by the columns each statement declares, so
// those must be the server's own description of every statement the ledger can build.
import t from 'tap';
import type pg from 'pg';
import { Exchange, decode, type WireStatement } from '../../db/ledger/wire.js';
import { LOCK_BY_ID, PROFILES_BY_ID, ROW_TYPES, SETTINGS, TERMINAL_LOCK, journalStatement, lockStatement, readStatement, writeStatement, type Built } from '../../db/ledger/sql.js';
import { isConnectionError } from '../../db/ledger/types.js';
import { testDb } from '../helpers/db.js';

const INT = new Set([20, 21, 23]);
const FLOAT = new Set([700, 701]);
const TEXT = new Set([25, 1043, 1042, 19]);
const BOOL = new Set([16]);
const KINDS = { int: INT, float: FLOAT, text: TEXT, bool: BOOL } as const;

const combos = (n: number): boolean[][] => Array.from({ length: 1 << n }, (_, m) => Array.from({ length: n }, (_, i) => (m & (1 << i)) !== 0));

function everyStatement(): Built[] {
  const out: Built[] = [SETTINGS, TERMINAL_LOCK, LOCK_BY_ID, PROFILES_BY_ID];
  for (const [codes, servicePoints, recharges, originals, expiring] of combos(5)) out.push(lockStatement({ codes, servicePoints, recharges, originals, expiring }));
  for (const [codes, transfers, recharges, reversals, profiles] of combos(5)) out.push(readStatement({ codes, transfers, recharges, reversals, profiles }));
  for (const [keys, expiring] of combos(2)) if (keys || expiring) out.push(journalStatement({ keys, expiring }));
  for (const [accounts, newHolds, closedHolds, reversed, codes, pins] of combos(6)) out.push(writeStatement({ accounts, newHolds, closedHolds, reversed, codes, pins }));
  return out;
}

const stmt = (name: string, text: string, columns: WireStatement['columns'] = [], values: (string | null)[] = []): WireStatement => ({ name, text, values, columns });

t.test('every statement the ledger builds declares the columns the server describes, in order and kind', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const c = await pool.connect();
  t.teardown(() => c.release());
  const all = everyStatement();
  t.equal(new Set(all.map((b) => b.name)).size, all.length, 'one name per statement text');
  for (const b of all) {
    const params = (b.text.match(/\$\d+/g) ?? []).map((p) => Number(p.slice(1)));
    const n = params.length === 0 ? 0 : Math.max(...params);
    await c.query('BEGIN');
    // NULL arrays: no rows, but the server still describes the result
    const r = await c.query({ text: b.text, values: Array.from({ length: n }, () => null) });
    await c.query('ROLLBACK');
    if (b.columns.length === 0) continue;
    // the fields a variant leaves out (its part absent) are no columns of its rows
    const sent = b.columns.flatMap(([name, kind]) => (kind === 'absent' ? [] : [[name, kind] as const]));
    const got = r.fields.map((f) => f.name);
    t.same(got, sent.map(([name]) => name), `${b.name}: column names`);
    const wrong = r.fields.filter((f, i) => !KINDS[sent[i][1]].has(f.dataTypeID)).map((f) => `${f.name}:${f.dataTypeID}`);
    t.same(wrong, [], `${b.name}: column kinds`);
  }
});

t.test('a variant of a statement without a part: its fields are null, the columns after them read from their own place', async (t) => {
  const columns = [['a', 'int'], ['gone', 'absent'], ['b', 'text'], ['also_gone', 'absent'], ['c', 'bool']] as const;
  t.same(decode(columns, ['7', 'x', 't']), { a: 7, gone: null, b: 'x', also_gone: null, c: true });
  // the read statement of a batch of purchases sends none of the codes', transfers', recharges' and reversals' columns
  const plain = readStatement({ codes: false, transfers: false, recharges: false, reversals: false, profiles: true });
  const full = readStatement({ codes: true, transfers: true, recharges: true, reversals: true, profiles: true });
  const absent = (b: Built): string[] => b.columns.filter(([, k]) => k === 'absent').map(([n]) => n);
  t.same(absent(plain), ['q_id', 'q_card', 'q_used', 'q_expires', 'q_max', 'q_sp', 'c_network', 'x_id', 'x_acct', 'x_client', 'x_status', 'x_network', 'f_acct', 'r_upto', 'c_profile']);
  t.same(absent(full), ['c_profile'], 'a read that joins the profiles sends no profile id');
  // with the profiles read by id (PROFILES_BY_ID), the read sends each card's profile id instead of its profile's columns
  const slim = readStatement({ codes: false, transfers: false, recharges: false, reversals: false, profiles: false });
  const profileFields = ['fuel', 'dotation', 'ticket', 'transfer', 'recharge', 'limit_per_txn', 'limit_day_amount', 'limit_day_count', 'limit_month_amount', 'limit_month_count', 'valid_from', 'valid_to', 'pin_required'];
  t.same(absent(slim).filter((n) => !absent(plain).includes(n)).sort(), profileFields.sort(), 'the profile columns absent');
  t.notOk(absent(slim).includes('c_profile'), 'the profile id present');
  t.notMatch(slim.text, /card_profiles/, 'no join of the profiles');
  t.same(PROFILES_BY_ID.columns.map(([n]) => n).sort(), ['id', ...profileFields].sort(), 'the profiles statement sends each field the read would have');
  t.same(PROFILES_BY_ID.columns.slice(1), plain.columns.filter(([n]) => profileFields.includes(n)), 'with the kinds the read declares');
  t.same(full.columns.map(([n]) => n), plain.columns.map(([n]) => n), 'every variant decodes to the same fields');
  t.notMatch(plain.text, /NULL::/, 'no placeholder column');
});

t.test('the row types the ledger sends its lists as are the schema\'s, attribute by attribute (ROW_TYPES and migration 007)', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const SQL_TYPE = { bigint: 'bigint', int: 'integer', text: 'text', date: 'date' } as const;
  for (const [name, attributes] of Object.entries(ROW_TYPES)) {
    const r = await pool.query<{ attname: string; t: string }>(
      `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS t FROM pg_attribute a
       WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = $1::regtype) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [name],
    );
    t.same(
      r.rows.map((x) => [x.attname, x.t]),
      attributes.map(([n, type]) => [n, SQL_TYPE[type]]),
      `${name}: names and types in order`,
    );
  }
});

t.test('an exchange: rounds in one transaction, committed by the last one only', async (t) => {
  const { pool } = await testDb(t, { max: 2 });
  await pool.query('CREATE TABLE wire_t (id int PRIMARY KEY, v bigint)');
  await pool.query('INSERT INTO wire_t VALUES (1, 10)');
  const c = await pool.connect();
  t.teardown(() => c.release());
  const lock = stmt('wire_lock', 'SELECT id, v FROM wire_t WHERE id = $1::int FOR UPDATE', [['id', 'int'], ['v', 'int']], ['1']);
  const { exchange, results } = Exchange.start(c, [lock]);
  const [locked] = await results;
  t.same(locked.rows, [{ id: 1, v: 10 }], 'rows decoded by their declared kinds');
  t.equal(locked.command, 'SELECT 1');
  const [inserted] = await exchange.next([stmt('wire_ins', 'INSERT INTO wire_t VALUES ($1::int, $2::bigint)', [], ['2', '20'])]);
  t.equal(inserted.command, 'INSERT 0 1', 'a middle round');
  // not committed yet: another connection does not see the row, and waits for the lock
  t.equal((await pool.query('SELECT count(*)::int AS n FROM wire_t WHERE id = 2')).rows[0].n, 0, 'uncommitted between rounds');
  const blocked = await pool.query("SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted");
  t.equal(blocked.rows[0].n, 0);
  await exchange.commit([stmt('wire_upd', 'UPDATE wire_t SET v = v + $1::bigint WHERE id = 1', [], ['5'])]);
  t.same((await pool.query('SELECT id, v::int FROM wire_t ORDER BY id')).rows, [{ id: 1, v: 15 }, { id: 2, v: 20 }], 'committed once the last round answered');
  t.equal((await c.query('SELECT 42 AS x')).rows[0].x, 42, 'the client takes ordinary queries again');
  const again = Exchange.start(c, [lock]);
  t.same((await again.results)[0].rows, [{ id: 1, v: 15 }], 'a statement prepared once is used again on the connection');
  await again.exchange.commit([]);
  const prepared = await c.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'wire_lock'");
  t.equal(prepared.rows[0].n, 1);
});

t.test('an error in the first round rolls back and leaves the client usable', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  await pool.query('CREATE TABLE wire_t (id int PRIMARY KEY)');
  const c = await pool.connect();
  t.teardown(() => c.release());
  const { exchange, results } = Exchange.start(c, [stmt('wire_ok', 'INSERT INTO wire_t VALUES (1)'), stmt('wire_div', 'SELECT 1 / $1::int AS x', [['x', 'int']], ['0'])]);
  await t.rejects(results, { code: '22012' }, 'the server error');
  await t.rejects(exchange.commit([]), { code: '22012' }, 'and the exchange stays failed');
  t.equal((await c.query('SELECT count(*)::int AS n FROM wire_t')).rows[0].n, 0, 'nothing of the round was kept');
  const retry = Exchange.start(c, [stmt('wire_div', 'SELECT 1 / $1::int AS x', [['x', 'int']], ['1'])]);
  t.same((await retry.results)[0].rows, [{ x: 1 }], 'the same statement works on the connection afterwards');
  await retry.exchange.commit([]);
});

t.test('an error in the last round rolls back the whole transaction', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  await pool.query('CREATE TABLE wire_t (id int PRIMARY KEY)');
  const c = await pool.connect();
  t.teardown(() => c.release());
  const { exchange, results } = Exchange.start(c, [stmt('wire_ins1', 'INSERT INTO wire_t VALUES (1)')]);
  await results;
  await t.rejects(exchange.commit([stmt('wire_dup', 'INSERT INTO wire_t VALUES (1)')]), { code: '23505' });
  t.equal((await c.query('SELECT count(*)::int AS n FROM wire_t')).rows[0].n, 0, 'the first round is rolled back too');
});

t.test('abandon: the transaction ends and its row locks are released', async (t) => {
  const { pool } = await testDb(t, { max: 2 });
  await pool.query('CREATE TABLE wire_t (id int PRIMARY KEY, v int)');
  await pool.query('INSERT INTO wire_t VALUES (1, 0)');
  const c = await pool.connect();
  t.teardown(() => c.release());
  const { exchange, results } = Exchange.start(c, [stmt('wire_lock', 'SELECT id FROM wire_t WHERE id = 1 FOR UPDATE', [['id', 'int']])]);
  await results;
  exchange.abandon();
  // abandon() only writes the Sync: the client's next query answers once the server has read it
  // (asking another connection before that raced the Sync, and lost on a slow machine)
  t.equal((await c.query('SELECT 1 AS x')).rows[0].x, 1, 'the client is usable');
  const other = await pool.connect();
  try {
    const r = await other.query('SELECT id FROM wire_t WHERE id = 1 FOR UPDATE NOWAIT');
    t.equal(r.rowCount, 1, 'another connection takes the lock at once');
  } finally {
    other.release();
  }
});

t.test('a value the decoder refuses fails the round, and the connection recovers', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const c = await pool.connect();
  t.teardown(() => c.release());
  const { exchange, results } = Exchange.start(c, [stmt('wire_big', 'SELECT 9007199254740993::bigint AS n', [['n', 'int']])]);
  await t.rejects(results, /not a safe integer/);
  exchange.abandon();
  t.equal((await c.query('SELECT 7 AS x')).rows[0].x, 7);
});

t.test('a connection lost in the middle fails the exchange with a connection error', async (t) => {
  const { pool } = await testDb(t, { max: 2 });
  const c = await pool.connect();
  c.on('error', () => {});
  const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  const { exchange, results } = Exchange.start(c, [stmt('wire_one', 'SELECT 1 AS x', [['x', 'int']])]);
  await results;
  await pool.query('SELECT pg_terminate_backend($1)', [pid]);
  const err: unknown = await exchange.commit([stmt('wire_two', 'SELECT 2 AS x', [['x', 'int']])]).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isConnectionError(err), `a connection error (${String(err)}): the ledger answers it as unavailable`);
  c.release(true);
});

t.test('a client in pipeline mode is refused with a clear error', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const c = (await pool.connect()) as pg.PoolClient & { pipeline?: boolean };
  t.teardown(() => c.release());
  c.pipeline = true;
  const { results } = Exchange.start(c, [stmt('wire_one', 'SELECT 1 AS x', [['x', 'int']])]);
  await t.rejects(results, /not supported in pipeline mode/);
  c.pipeline = false;
});
