// The batch's array literals for ledger_post_arrays (db/ledger.ts toColumns) are written out by
// hand for speed: PostgreSQL must read them back exactly as the items hold them, whatever the
// strings hold (quotes, backslashes, commas, braces, the word NULL, line breaks, any script).
import t from 'tap';
import { COLUMNS, toColumns, type LedgerItem } from '../../db/ledger.js';
import { testDb } from '../helpers/db.js';

const BIGINT = new Set(['card', 'sp', 'to', 'amt', 'usr']);

/** What each column should read back as: one value per item (absent and NaN are NULL), or NULL when no item has the field. */
function reference(items: readonly LedgerItem[]): Record<string, (string | number | null)[] | null> {
  const field: Record<(typeof COLUMNS)[number], (it: LedgerItem) => string | number | undefined> = {
    op: (it) => it.op,
    src: (it) => it.source,
    term: (it) => it.terminalId,
    stan: (it) => it.stan,
    dt: (it) => it.transmissionAt,
    mti: (it) => it.mti,
    card: (it) => it.cardId,
    code: (it) => it.codeHash,
    sp: (it) => it.servicePointId,
    to: (it) => it.toCardId,
    amt: (it) => it.amount,
    cur: (it) => it.currency,
    svc: (it) => it.service,
    ostan: (it) => it.original?.stan,
    odt: (it) => it.original?.transmissionAt,
    rh: (it) => it.requestHash,
    preset: (it) => it.preset,
    usr: (it) => it.userId,
    note: (it) => it.note,
  };
  const out: Record<string, (string | number | null)[] | null> = {};
  for (const c of COLUMNS) {
    // a field no item has is sent as NULL, not as an array of NULLs
    if (items.every((it) => field[c](it) === undefined)) {
      out[c] = null;
      continue;
    }
    out[c] = items.map((it) => {
      const v = field[c](it);
      return v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? null : v;
    });
  }
  return out;
}

t.test('toColumns reads back in PostgreSQL as the items hold them', async (t) => {
  const { pool } = await testDb(t, { max: 1 });
  const nasty = ['', 'TPE00001', 'NULL', 'null', 'a"b', 'back\\slash', '\\"', 'a,b', '{x}', ' lead', 'trail ', 'line\nbreak', 'tab\tand\u0001ctl', 'é ü 日本', '\ud83d\ude00', '</script>'];
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)];
  const maybe = <T>(v: T): T | undefined => (rnd(3) === 0 ? undefined : v);
  const sql = `SELECT ${COLUMNS.map((c, i) => `$${i + 1}::${BIGINT.has(c) ? 'bigint' : 'text'}[] AS "${c}"`).join(', ')}`;
  for (let round = 0; round < 200; round++) {
    const items: LedgerItem[] = Array.from({ length: 1 + rnd(5) }, () => ({
      op: pick(['purchase', 'preauth', 'completion', 'reversal', 'inquiry', 'recharge', 'transfer', 'record'] as const),
      source: pick(['terminal', 'backoffice'] as const),
      terminalId: maybe(pick(nasty)),
      stan: maybe(pick(nasty)),
      transmissionAt: maybe(pick(nasty)),
      mti: maybe('0200'),
      cardId: maybe(rnd(1_000_000)),
      codeHash: maybe(pick(nasty)),
      servicePointId: maybe(rnd(1000)),
      toCardId: maybe(rnd(1000)),
      amount: maybe(pick([0, 1, 15_000, -7, 2 ** 53 - 1, Number.NaN])),
      currency: maybe('952'),
      service: maybe(pick(['fuel', 'dotation', 'ticket'] as const)),
      original: maybe({ stan: pick(nasty), transmissionAt: pick(nasty) }),
      requestHash: maybe('ab'.repeat(32)),
      preset: maybe('unknown_card' as const),
      userId: maybe(rnd(10)),
      note: maybe(pick(nasty)),
    }));
    const row = (await pool.query(sql, toColumns(items))).rows[0] as Record<string, (string | null)[] | null>;
    const got: Record<string, (string | number | null)[] | null> = {};
    for (const c of COLUMNS) got[c] = row[c] === null ? null : row[c].map((v) => (v === null ? null : BIGINT.has(c) ? Number(v) : v));
    t.same(got, reference(items), `round ${round}`);
    if (t.passing() === false) break;
  }
  t.same(toColumns([]), Array(COLUMNS.length).fill(null), 'an empty batch has no arrays');
});
