// The ledger suite (ledger-suite.ts) against the real PostgreSQL, and the outcome list.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { ledgerSuite, purchase as purchaseAt } from './ledger-suite.js';
import type { LedgerItem } from '../../db/ledger.js';

t.test('ledger', async (t) => {
  const { pool } = await testDb(t);
  await ledgerSuite(t, pool);
});

t.test('the named statement lost on the server (DEALLOCATE ALL, as a pooler may do): the post still goes through', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const { Ledger } = await import('../../db/ledger.js');
  const ledger = new Ledger(pool);
  const record = [{ op: 'record' as const, source: 'backoffice' as const, preset: 'unknown_card' as const, note: 'x' }];
  const first = await ledger.post(record);
  t.equal(first[0].outcome, 'unknown_card', 'first post (prepares the statement)');
  await pool.query('DEALLOCATE ALL'); // the one connection forgets the ledger's statements; the client still believes it prepared them
  const second = await ledger.post(record);
  t.equal(second[0].outcome, 'unknown_card', 'second post answered');
  t.ok(second[0].journalId > first[0].journalId, 'and journaled');
  const third = await ledger.post(record);
  t.equal(third[0].outcome, 'unknown_card', 'later posts too');
  const n = (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM journal WHERE note = 'x'")).rows[0].n;
  t.equal(n, 3, 'three rows, none twice');
});

t.test('array literals written by the posting read back as written, whatever the text', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const fc = await import('fast-check');
  const { arrayLiteral } = await import('../../db/ledger/posting.js');
  const text = fc.oneof(fc.string(), fc.constantFrom('NULL', 'null', '"', '\\', '{', '}', ',', ' a ', '', '\\"', 'a"b\\c'));
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.option(text, { nil: null }), { maxLength: 8 }), fc.array(fc.option(fc.maxSafeInteger(), { nil: null }), { maxLength: 8 }), async (texts, ints) => {
      runs++;
      const noNul = texts.map((s) => (s === null ? null : s.replaceAll('\u0000', '')));
      const r = await pool.query<{ a: (string | null)[]; b: (number | null)[] }>('SELECT $1::text[] AS a, $2::bigint[]::float8[] AS b', [arrayLiteral(noNul), arrayLiteral(ints)]);
      t.same(r.rows[0].a, noNul);
      t.same(r.rows[0].b, ints);
    }),
    { numRuns: 150 },
  );
  t.equal(runs, 150, '150 random arrays read back by PostgreSQL');
  t.throws(() => arrayLiteral([1.5]), RangeError, 'a fraction is refused before it reaches the database');
});

t.test('binary array parameters read back as written: any text, integers to the safe limits, empty arrays, NULLs', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const fc = await import('fast-check');
  const { binaryArray, arrayElements } = await import('../../db/ledger/params.js');
  const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('NULL', '"', '\\', '{', '}', ',', '', 'é€😀'));
  const int4 = fc.integer({ min: -2147483648, max: 2147483647 });
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.option(text, { nil: null }), { maxLength: 8 }),
      fc.array(fc.option(fc.oneof(fc.maxSafeInteger(), fc.integer({ min: Number.MIN_SAFE_INTEGER, max: 0 })), { nil: null }), { maxLength: 8 }),
      fc.array(fc.option(int4, { nil: null }), { maxLength: 8 }),
      async (texts, bigs, ints) => {
        runs++;
        const noNul = texts.map((s) => (s === null ? null : s.replaceAll('\u0000', '')));
        const a = binaryArray(noNul, 'text');
        const b = binaryArray(bigs, 'bigint');
        const c = binaryArray(ints, 'int');
        const r = await pool.query<{ a: (string | null)[]; b: string | null; c: (number | null)[] }>('SELECT $1::text[] AS a, array_to_json($2::bigint[])::text AS b, $3::int[] AS c', [a, b, c]);
        t.same(r.rows[0].a, noNul);
        t.same(r.rows[0].b === null ? [] : (JSON.parse(r.rows[0].b.replace(/-?\d+/g, '"$&"')) as (string | null)[]).map((x) => (x === null ? null : Number(x))), bigs);
        t.same(r.rows[0].c, ints);
        t.same(arrayElements(a), noNul);
        t.same(arrayElements(b), bigs);
        t.same(arrayElements(c), ints);
      },
    ),
    { numRuns: 150 },
  );
  t.equal(runs, 150, '150 random arrays of each kind read back by PostgreSQL');
  t.throws(() => binaryArray([1.5], 'bigint'), RangeError, 'a fraction is refused before it reaches the database');
  t.throws(() => binaryArray(['12'], 'bigint'), RangeError, 'a number in text is refused: every id is a number here');
  t.throws(() => binaryArray([2 ** 31], 'int'), RangeError, 'an int past its range is refused');
});

t.test('binary record array parameters read back as written: every attribute type, any text, NULLs, dates, empty arrays', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const fc = await import('fast-check');
  const { binaryRecordArray, recordElements } = await import('../../db/ledger/params.js');
  await pool.query('CREATE TYPE rec_t AS (a bigint, b text, c int, d date)');
  const oid = (await pool.query<{ oid: number }>(`SELECT 'rec_t'::regtype::oid::int AS oid`)).rows[0].oid;
  const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('NULL', '"', '\\', '(', ')', ',', '', ' ', 'é€😀'));
  const day = fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2199-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
  const row = fc.tuple(
    fc.option(fc.oneof(fc.maxSafeInteger(), fc.integer({ min: Number.MIN_SAFE_INTEGER, max: 0 })), { nil: null }),
    fc.option(text.map((s) => s.replaceAll('\u0000', '')), { nil: null }),
    fc.option(fc.integer({ min: -2147483648, max: 2147483647 }), { nil: null }),
    fc.option(day, { nil: null }),
  );
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(row, { maxLength: 6 }), async (rows) => {
      runs++;
      const b = binaryRecordArray(rows, ['bigint', 'text', 'int', 'date'], oid);
      const r = await pool.query<{ a: string | null; b: string | null; c: number | null; d: string | null }>(
        'SELECT u.a::text AS a, u.b, u.c, u.d::text AS d FROM unnest($1::rec_t[]) WITH ORDINALITY AS u(a, b, c, d, k) ORDER BY u.k',
        [b],
      );
      t.same(
        r.rows.map((x) => [x.a === null ? null : Number(x.a), x.b, x.c, x.d]),
        rows,
      );
      t.same(recordElements(b), rows);
    }),
    { numRuns: 150 },
  );
  t.equal(runs, 150, '150 random arrays of rows read back by PostgreSQL');
  t.throws(() => binaryRecordArray([[1, 'x']], ['bigint', 'text', 'int', 'date'], oid), RangeError, 'a row of the wrong width is refused');
  t.throws(() => binaryRecordArray([[1, 'x', 1, '2026-13']], ['bigint', 'text', 'int', 'date'], oid), RangeError, 'a day not written YYYY-MM-DD is refused');
  t.throws(() => binaryRecordArray([[0.5, 'x', 1, null]], ['bigint', 'text', 'int', 'date'], oid), RangeError, 'a fraction is refused');
  await t.rejects(
    pool.query('SELECT * FROM unnest($1::rec_t[])', [binaryRecordArray([[1, 'x', 1]], ['bigint', 'text', 'int'], oid)]),
    { code: '42804' },
    'rows of another layout than the type are refused by the server (datatype_mismatch), not misread',
  );
  await t.rejects(
    pool.query('SELECT * FROM unnest($1::rec_t[])', [binaryRecordArray([[1, 'x', 1, 5]], ['bigint', 'text', 'int', 'int'], oid)]),
    { code: '42804' },
    'an attribute of another type too',
  );
});

t.test('a row type made again under a running ledger: the next batch reads its OID again and posts', async (t) => {
  const { pool } = await testDb(t, { max: 2 });
  const { makeWorld } = await import('../helpers/world.js');
  const { Ledger } = await import('../../db/ledger.js');
  const w = await makeWorld(pool);
  const card = await w.card(10_000);
  const ledger = new Ledger(pool);
  const inquiry = (stan: string): LedgerItem => ({ op: 'inquiry', source: 'terminal', terminalId: w.terminal, stan, transmissionAt: '1203101500', mti: '0100', cardId: card.id, servicePointId: w.sp.id });
  t.equal((await ledger.post([inquiry('000001')]))[0].outcome, 'approved');
  // the same type, made again: same name and attributes, another OID
  const before = (await pool.query<{ oid: number }>(`SELECT 'ledger_item'::regtype::oid::int AS oid`)).rows[0].oid;
  const def = await pool.query<{ attname: string; t: string }>(
    `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS t FROM pg_attribute a WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = $1) AND a.attnum > 0 ORDER BY a.attnum`,
    [before],
  );
  await pool.query(`DROP TYPE ledger_item; CREATE TYPE ledger_item AS (${def.rows.map((r) => `"${r.attname}" ${r.t}`).join(', ')})`);
  const after = (await pool.query<{ oid: number }>(`SELECT 'ledger_item'::regtype::oid::int AS oid`)).rows[0].oid;
  t.not(after, before, 'the type has another OID');
  const r = await ledger.post([inquiry('000002')]);
  t.equal(r[0].outcome, 'approved', 'the batch after it is posted');
  t.equal((await pool.query(`SELECT count(*)::int AS n FROM journal WHERE stan = '000002'`)).rows[0].n, 1, 'and journaled once');
});

t.test('a batch looks up only the keys it must; a key sent again is caught by the journal and answered from it', async (t) => {
  const { pool } = await testDb(t);
  const { makeWorld } = await import('../helpers/world.js');
  const { Ledger, HOLD_TTL_MS } = await import('../../db/ledger.js');
  const { exchangeTransport } = await import('../../db/ledger/wire.js');
  const w = await makeWorld(pool);
  /** The statements of each attempt's first round, by name. */
  const rounds: string[][] = [];
  const ledger = new Ledger(pool, HOLD_TTL_MS, 0, (client, first) => {
    rounds.push(first.map((s) => s.name));
    return exchangeTransport(client, first);
  });
  const looksUpJournal = (round: string[]): boolean => round.some((n) => n.startsWith('ledger_journal_'));
  const card = await w.card(10_000);
  let stan = 500_000;
  const purchase = (amount: number, mti = '0200'): LedgerItem => ({
    op: 'purchase',
    source: 'terminal',
    terminalId: w.terminal,
    stan: String(++stan),
    transmissionAt: '1203101500',
    mti,
    cardId: card.id,
    servicePointId: w.sp.id,
    amount,
    currency: '952',
    service: 'fuel',
    requestHash: `${amount}`.padStart(16, '0'),
  });

  const p = purchase(1_000);
  const [first] = await ledger.post([p, purchase(200)]);
  t.equal(first.outcome, 'approved');
  t.same(rounds.map(looksUpJournal), [false], 'new messages: no journal lookup, one attempt');

  rounds.length = 0;
  const [repeat] = await ledger.post([{ ...p, mti: '0201' }]);
  t.same([repeat.outcome, repeat.duplicate, repeat.originalId], ['approved', true, first.journalId], 'a repeat (0201) is answered from the journal');
  t.same(rounds.map(looksUpJournal), [true], 'a repeat is looked up at once');

  rounds.length = 0;
  const results = await ledger.post([purchase(300), { ...p }, purchase(400)]);
  t.same(
    results.map((r) => [r.outcome, r.duplicate]),
    [
      ['approved', false],
      ['approved', true],
      ['approved', false],
    ],
    'the same message again (0200) gets the stored answer, and its batch is posted',
  );
  t.equal(results[1].originalId, first.journalId);
  t.equal(results[1].approvalCode, first.approvalCode);
  t.same(rounds.map(looksUpJournal), [false, true], 'first attempt stopped by the unique key, the second looks every key up');

  rounds.length = 0;
  await ledger.post([purchase(10)]);
  t.same(rounds.map(looksUpJournal), [true], 'the batches after a conflict look up every key');
  const balance = (await pool.query<{ balance: string }>('SELECT a.balance FROM accounts a JOIN cards c ON c.account_id = a.id WHERE c.id = $1', [card.id])).rows[0].balance;
  t.equal(Number(balance), 10_000 - 1_000 - 200 - 300 - 400 - 10, 'charged once for each message, never for its copies');
  const rows = (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM journal WHERE terminal_id = $1 AND stan = $2 AND duplicate_of IS NULL", [w.terminal, p.stan])).rows[0].n;
  t.equal(rows, 1, 'one original row for the key');
});

t.test('the read rows reach their items by ordinal, in whatever order the server sends them', async (t) => {
  const { pool } = await testDb(t);
  const { makeWorld } = await import('../helpers/world.js');
  const { Ledger, HOLD_TTL_MS } = await import('../../db/ledger.js');
  const { exchangeTransport } = await import('../../db/ledger/wire.js');
  const w = await makeWorld(pool);
  // the read statement promises no order (db/ledger/sql.ts readStatement): reverse its rows
  let reversed = 0;
  const ledger = new Ledger(pool, HOLD_TTL_MS, 0, (client, first) => {
    const rounds = exchangeTransport(client, first);
    const at = first.findIndex((s) => s.name.startsWith('ledger_read_'));
    return {
      ...rounds,
      first: rounds.first.then((results) => {
        if (results[at].rows.length > 1) reversed++;
        results[at].rows.reverse();
        return results;
      }),
    };
  });
  const rich = await w.card(10_000);
  const poor = await w.card(100);
  const purchase = (cardId: number, amount: number): LedgerItem => purchaseAt(w, cardId, amount);
  const r = await ledger.post([purchase(rich.id, 1_000), purchase(poor.id, 500), purchase(rich.id, 2_000), purchase(poor.id, 50)]);
  t.ok(reversed > 0, 'the rows came reversed');
  t.same(
    r.map((x) => [x.outcome, x.available]),
    [
      ['approved', 9_000],
      ['insufficient_funds', null],
      ['approved', 7_000],
      ['approved', 50],
    ],
    'each item decided on its own card',
  );
  const ids = r.map((x) => x.journalId);
  t.same([...ids].sort((a, b) => a - b), ids, 'journal ids in item order');
  const rows = (await pool.query<{ id: number; card_id: number; amount: number }>('SELECT id::int, card_id::int, amount::int FROM journal WHERE id = ANY($1) ORDER BY id', [ids])).rows;
  t.same(rows.map((j) => [j.card_id, j.amount]), [[rich.id, 1_000], [poor.id, 500], [rich.id, 2_000], [poor.id, 50]], 'each journal row is its item');
});

t.test("a pool of the ledger's own starts its connections with the planner settings: no SETTINGS statement a batch, the same outcomes", async (t) => {
  // one connection each, so that SHOW below reads the connection the batches ran on
  const { pool, schema, url } = await testDb(t, { max: 1 });
  const { makeWorld } = await import('../helpers/world.js');
  const { Ledger, HOLD_TTL_MS } = await import('../../db/ledger.js');
  const { exchangeTransport } = await import('../../db/ledger/wire.js');
  const { createPool } = await import('../../db/pool.js');
  const own = createPool({ url, schema, max: 1, ledger: true });
  t.teardown(() => own.end());
  const w = await makeWorld(pool);
  const card = await w.card(10_000);
  const firsts: string[][] = [];
  const capture = (client: Parameters<typeof exchangeTransport>[0], first: Parameters<typeof exchangeTransport>[1]): ReturnType<typeof exchangeTransport> => {
    firsts.push(first.map((s) => s.name));
    return exchangeTransport(client, first);
  };
  const shared = new Ledger(pool, HOLD_TTL_MS, 0, capture);
  const dedicated = new Ledger(own, HOLD_TTL_MS, 0, capture);
  const p1 = purchaseAt(w, card.id, 1_000);
  const r1 = await shared.post([p1, purchaseAt(w, card.id, 500)]);
  t.same(firsts.map((f) => f[0]), ['ledger_settings'], 'on a shared pool a batch sets them for its transaction');
  firsts.length = 0;
  // a purchase and a reversal of the shared pool's first purchase: the lock, the terminals' lock, the read and the journal lookup, in order
  const reversal: LedgerItem = { op: 'reversal', source: 'terminal', terminalId: w.terminal, stan: String(900_001), transmissionAt: '1203101600', servicePointId: w.sp.id, original: { stan: p1.stan!, transmissionAt: p1.transmissionAt! }, requestHash: 'ee' };
  const r2 = await dedicated.post([purchaseAt(w, card.id, 2_000), reversal]);
  t.notOk(firsts.flat().includes('ledger_settings'), 'on its own pool no batch sends them');
  t.same(firsts[0].map((n) => n.replace(/_[01]+$/, '')), ['ledger_lock', 'ledger_lock_terminals', 'ledger_read', 'ledger_journal'], 'the first round without them');
  t.same([...r1, ...r2].map((r) => r.outcome), ['approved', 'approved', 'approved', 'approved'], 'each item decided as on the shared pool');
  t.equal(r2[1].originalId, r1[0].journalId, 'the reversal found its original');
  t.equal((await own.query<{ s: string }>("SELECT current_setting('enable_hashjoin') AS s")).rows[0].s, 'off', "the own pool's connection keeps them");
  t.equal((await pool.query<{ s: string }>("SELECT current_setting('enable_hashjoin') AS s")).rows[0].s, 'on', "the shared pool's connections do not: the batch's settings ended with it");
  const balance = (await pool.query<{ balance: string }>('SELECT a.balance FROM accounts a JOIN cards c ON c.account_id = a.id WHERE c.id = $1', [card.id])).rows[0].balance;
  t.equal(Number(balance), 10_000 - 500 - 2_000, 'the reversed purchase refunded, the others charged');
});

t.test('account hints: a batch whose items all name their accounts locks them by id; hints that fall short or name other accounts cost a retry, never a decision', async (t) => {
  const { pool } = await testDb(t);
  const { makeWorld } = await import('../helpers/world.js');
  const { Ledger, HOLD_TTL_MS } = await import('../../db/ledger.js');
  const { exchangeTransport } = await import('../../db/ledger/wire.js');
  const { checkLedger } = await import('../../db/check.js');
  const w = await makeWorld(pool);
  /** The lock statement of each attempt, and how the ledger says it locked. */
  const locks: string[] = [];
  const said: string[] = [];
  const ledger = new Ledger(pool, HOLD_TTL_MS, 0, (client, first) => {
    locks.push(first.find((s) => s.name.startsWith('ledger_lock') && s.name !== 'ledger_lock_terminals')?.name.replace(/_[01]+$/, '') ?? '-');
    return exchangeTransport(client, first);
  });
  ledger.onLock = (by) => said.push(by);
  const rich = await w.card(10_000);
  const poor = await w.card(100);
  const v = w.virtualCard.account_id;
  const balance = async (id: number): Promise<number> => (await pool.query<{ b: string }>('SELECT balance AS b FROM accounts WHERE id = $1', [id])).rows[0].b as unknown as number;
  const vBefore = Number(await balance(v));
  const step = async (items: LedgerItem[]): Promise<{ outcomes: string[]; locks: string[]; said: string[] }> => {
    locks.length = 0;
    said.length = 0;
    const r = await ledger.post(items);
    return { outcomes: r.map((x) => x.outcome), locks: [...locks], said: [...said] };
  };

  t.same(await step([purchaseAt(w, rich.id, 1_000, { accountHint: [rich.account_id, v] })]), { outcomes: ['approved'], locks: ['ledger_lock_ids'], said: ['hint'] }, 'right hints: locked by id, one attempt');
  t.same(
    await step([purchaseAt(w, rich.id, 1_000, { accountHint: [rich.account_id] })]),
    { outcomes: ['approved'], locks: ['ledger_lock_ids', 'ledger_lock'], said: ['hint_missed', 'cards'] },
    "hints without the service point's virtual card account: the read names it, the batch starts over through the cards",
  );
  t.same(
    await step([purchaseAt(w, poor.id, 1_000, { accountHint: [rich.account_id, v] })]),
    { outcomes: ['insufficient_funds'], locks: ['ledger_lock_ids', 'ledger_lock'], said: ['hint_missed', 'cards'] },
    "a poor card hinting a rich card's account is decided on its own account",
  );
  t.same(
    await step([purchaseAt(w, rich.id, 500, { accountHint: [rich.account_id, v] }), { ...purchaseAt(w, rich.id, 0), op: 'inquiry', amount: undefined }]),
    { outcomes: ['approved', 'approved'], locks: ['ledger_lock'], said: ['cards'] },
    'an item without a hint: the whole batch through the cards',
  );
  t.same(
    await step([{ ...purchaseAt(w, poor.id, 0), op: 'inquiry', amount: undefined, accountHint: [poor.account_id] }, purchaseAt(w, poor.id, 60, { accountHint: [poor.account_id, v] })]),
    { outcomes: ['approved', 'approved'], locks: ['ledger_lock_ids'], said: ['hint'] },
    'an inquiry hints its card account alone',
  );
  t.equal(Number(await balance(rich.account_id)), 10_000 - 1_000 - 1_000 - 500, 'the rich card charged once per approval');
  t.equal(Number(await balance(poor.account_id)), 100 - 60, 'the poor card charged for its approval only');
  t.equal(Number(await balance(v)) - vBefore, 1_000 + 1_000 + 500 + 60, 'the virtual card credited for each');
  t.ok((await checkLedger(pool)).ok, 'the ledger check passes');
});

t.test('profile hints: a batch whose carded items all name their profile reads those profiles by id; a hint that names another profile costs a retry, never a decision', async (t) => {
  const { pool } = await testDb(t);
  const { makeWorld } = await import('../helpers/world.js');
  const { Ledger, HOLD_TTL_MS } = await import('../../db/ledger.js');
  const { exchangeTransport } = await import('../../db/ledger/wire.js');
  const { checkLedger } = await import('../../db/check.js');
  const store = await import('../../db/store.js');
  const { arrayElements } = await import('../../db/ledger/params.js');
  const w = await makeWorld(pool);
  /** Each attempt's first round: whether it read the profiles by id, and the ids it sent. */
  const rounds: string[] = [];
  const ledger = new Ledger(pool, HOLD_TTL_MS, 0, (client, first) => {
    const byId = first.find((s) => s.name === 'ledger_profiles_ids');
    rounds.push(byId === undefined ? 'joined' : `by id ${arrayElements(byId.values[0] as Buffer).join(',')}`);
    return exchangeTransport(client, first);
  });
  const noFuel = await store.createProfile(pool, { clientId: w.elton.id, code: 'NOFUEL', name: 'Sans carburant', fuel: false, dotation: true, transfer: true, recharge: true });
  const a = await w.card(10_000);
  const b = await w.card(10_000, { profileId: noFuel.id });
  const c = await w.card(10_000);
  const balance = async (id: number): Promise<number> => Number((await pool.query<{ b: string }>('SELECT balance AS b FROM accounts WHERE id = $1', [id])).rows[0].b);
  const step = async (items: LedgerItem[]): Promise<{ outcomes: string[]; rounds: string[] }> => {
    rounds.length = 0;
    const r = await ledger.post(items);
    return { outcomes: r.map((x) => x.outcome), rounds: [...rounds] };
  };
  const fuelId = w.fuel.id;

  t.same(await step([purchaseAt(w, a.id, 1_000, { profileHint: fuelId }), purchaseAt(w, c.id, 2_000, { profileHint: fuelId })]), { outcomes: ['approved', 'approved'], rounds: [`by id ${fuelId}`] }, 'right hints: the profile read once, by id, one attempt');
  // b's purchase declined for its own profile, without hints: the reference
  const unhinted = await step([purchaseAt(w, b.id, 1_000)]);
  t.same(unhinted.rounds, ['joined'], 'no hint: the read joins the profile');
  t.not(unhinted.outcomes[0], 'approved', `a card whose profile refuses fuel: ${unhinted.outcomes[0]}`);
  t.same(
    await step([purchaseAt(w, b.id, 1_000, { profileHint: fuelId })]),
    { outcomes: unhinted.outcomes, rounds: [`by id ${fuelId}`, 'joined'] },
    "a hint naming another profile than the card's (it changed profile): the batch starts over, joining the card's profile, and is decided on it",
  );
  t.same(
    await step([purchaseAt(w, a.id, 500, { profileHint: fuelId }), purchaseAt(w, b.id, 500)]),
    { outcomes: ['approved', unhinted.outcomes[0]], rounds: ['joined'] },
    'an item with a card and no hint: the whole batch joins the profiles',
  );
  t.same(
    await step([purchaseAt(w, a.id, 100, { profileHint: fuelId }), purchaseAt(w, b.id, 100, { profileHint: noFuel.id })]),
    { outcomes: ['approved', unhinted.outcomes[0]], rounds: [`by id ${[fuelId, noFuel.id].sort((x, y) => x - y).join(',')}`] },
    'two profiles: each read once, and each card decided on its own',
  );
  t.equal(await balance(a.account_id), 10_000 - 1_000 - 500 - 100, 'a charged once per approval');
  t.equal(await balance(b.account_id), 10_000, 'b never charged');
  t.equal(await balance(c.account_id), 10_000 - 2_000, 'c charged');
  t.ok((await checkLedger(pool)).ok, 'the ledger check passes');
});

