// The ledger suite (ledger-suite.ts) against the real PostgreSQL, and the outcome list.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { ledgerSuite } from './ledger-suite.js';

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
