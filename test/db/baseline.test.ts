// 001_baseline.sql against the schema built by the migrations it replaced (their catalog, in
// catalog-before-baseline.ts): the same tables, columns, constraints, indexes, triggers and
// view, but for the intended changes listed here. Then what those changes and the journal's
// guards do.
import t from 'tap';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { createPool } from '../../db/pool.js';
import { migrate, migrationsDir } from '../../db/migrate.js';
import { DATABASE_URL, queryIn, testSchemaName } from '../helpers/db.js';
import { catalog } from '../helpers/catalog.js';
import type { TestContext } from '../helpers/tap.js';
import { BEFORE_BASELINE } from './catalog-before-baseline.js';

/** A schema migrated by 001_baseline alone (later migrations change the catalog on purpose). */
async function baselineSchema(t: TestContext): Promise<{ pool: pg.Pool; schema: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cynod-baseline-'));
  copyFileSync(join(migrationsDir(), '001_baseline.sql'), join(dir, '001_baseline.sql'));
  const schema = testSchemaName('baseline');
  const pool = createPool({ url: DATABASE_URL, max: 2 });
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  });
  const m = await migrate(pool, schema, () => {}, { migrationsDir: dir });
  t.same(m.applied, ['1_baseline']);
  return { pool, schema };
}

const REMOVED = [
  // the posting machinery the TypeScript ledger replaces
  /^function ledger_post\(p_items jsonb,/,
  /^function ledger_post_arrays\(/,
  /^function ledger_account_position\(/,
  /^type ledger_item c$/,
  // changed: the hold-expiry sweep posts as the system
  /^constraint journal\.journal_source_check CHECK \(\(source = ANY \(ARRAY\['terminal'::text, 'backoffice'::text\]\)\)\)$/,
];
const LATER_FUNCTIONS = [/^function audit_log_append_only\(\) trigger/, /^function card_virtual_on_service_point\(\) trigger/];
const ADDED = [
  "constraint journal.journal_source_check CHECK ((source = ANY (ARRAY['terminal'::text, 'backoffice'::text, 'system'::text])))",
  "index CREATE INDEX holds_open_expiry ON holds USING btree (expires_at) WHERE (status = 'open'::text)",
];

t.test('the baseline builds what 001-007 built, but for the intended changes', async (t) => {
  const { pool, schema } = await baselineSchema(t);
  const after = await catalog(pool, schema);
  const before = new Set(BEFORE_BASELINE);
  const now = new Set(after);
  const removed = BEFORE_BASELINE.filter((l) => !now.has(l));
  // functions.sql also holds the functions of later migrations' triggers (the audit log's guard,
  // the virtual card written on its service point)
  const added = after.filter((l) => !before.has(l) && !LATER_FUNCTIONS.some((re) => re.test(l)));
  t.equal(removed.length, REMOVED.length, `removed: ${removed.map((l) => l.slice(0, 80)).join(' | ')}`);
  for (const re of REMOVED) t.ok(removed.some((l) => re.test(l)), `removed: ${re.source.slice(1, 60)}`);
  t.same(added, ADDED, 'added: system as a source, the sweep index');
  t.ok(after.length > 250, `${after.length} lines compared`);
});

t.test('what the baseline enforces', async (t) => {
  const { pool, schema } = await baselineSchema(t);
  const one = queryIn(pool, schema);
  const row = (source: string, entries: [number, number, number] | null): Promise<pg.QueryResult> =>
    one(
      `INSERT INTO journal (op, source, outcome, debit_account, credit_account, entry_amount) VALUES ('recharge', $1, 'approved', $2, $3, $4) RETURNING id`,
      [source, ...(entries ?? [null, null, null])],
    );
  const sys = await row('system', null);
  t.ok(sys.rows[0].id, "the journal takes rows of source 'system'");
  await t.rejects(row('sweeper', null), /journal_source_check/, 'and no other source');

  const money = Number((await row('backoffice', [1, 2, 500])).rows[0].id);
  const entries = await one('SELECT account_id, amount FROM ledger_entries WHERE journal_id = $1 ORDER BY amount', [money]);
  t.same(entries.rows.map((r) => [Number(r.account_id), Number(r.amount)]), [[1, -500], [2, 500]], 'the view reads a row as its two entries');
  await t.rejects(one('UPDATE journal SET entry_amount = 1 WHERE id = $1', [money]), /append-only \(UPDATE/, 'entries never change');
  await t.rejects(one('DELETE FROM journal WHERE id = $1', [money]), /append-only \(DELETE/, 'a row with entries is never deleted');
  await t.rejects(one('TRUNCATE journal CASCADE'), /append-only \(TRUNCATE refused\)/, 'the journal is never truncated');
  await one('UPDATE journal SET reversed_by = $1 WHERE id = $2', [sys.rows[0].id, money]);
  t.equal(Number((await one('SELECT reversed_by FROM journal WHERE id = $1', [money])).rows[0].reversed_by), Number(sys.rows[0].id), 'other columns of the row may change');
  await one('DELETE FROM journal WHERE id = $1', [sys.rows[0].id]);
  t.equal((await one('SELECT count(*)::int AS n FROM journal')).rows[0].n, 1, 'a row without entries may be deleted');

  // The sweep's index serves the open holds past their expiry.
  const plan = await one(
    "EXPLAIN (COSTS OFF) SELECT id FROM holds WHERE status = 'open' AND expires_at < now() ORDER BY expires_at LIMIT 100",
  );
  t.match(plan.rows.map((r) => r['QUERY PLAN']).join('\n'), /holds_open_expiry/, 'the sweep reads holds_open_expiry');
});
