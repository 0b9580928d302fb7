// The same migrations, functions file and ledger suite against the embedded database of
// make demo (PGlite served over the wire protocol, tools/embedded-postgres.ts): the schema and the ledger's
// SQL work on both.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../tools/embedded-postgres.js';
import { createPool } from '../../db/pool.js';
import { loadMigrations, migrate } from '../../db/migrate.js';
import { catalog } from '../helpers/catalog.js';
import { BEFORE_BASELINE } from './catalog-before-baseline.js';
import { ledgerSuite } from './ledger-suite.js';

t.test('the embedded PGlite', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cynod-pglite-'));
  const db = await startEmbeddedPostgres(join(dir, 'pgdata'));
  t.teardown(async () => {
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // One pool at a time: the embedded database has a single session (tools/embedded-postgres.ts).
  const pool = createPool({ url: db.url, schema: 'cynod', max: 1 });
  t.teardown(() => pool.end());

  await t.test('migrations and functions', async (t) => {
    const m = await migrate(pool, 'cynod');
    t.same(m.applied, loadMigrations().map((x) => `${x.version}_${x.name}`), 'the baseline and every later migration apply');
    t.equal(m.functions, true, 'so does the functions file');
    const again = await migrate(pool, 'cynod');
    t.same([again.applied, again.functions], [[], false], 'a second run applies nothing');
    // The catalog the baseline builds on the real PostgreSQL (test/db/baseline.test.ts), less
    // the posting functions, plus the source 'system' and the sweep index, less the clear PAN
    // (006_pan_encrypted replaced it by its HMAC and sealed form): the same here.
    const now = new Set(await catalog(pool, 'cynod'));
    const missing = BEFORE_BASELINE.filter(
      (l) => !now.has(l) && !/^function ledger_(post|post_arrays|account_position)\(|^type ledger_item |journal_source_check|^column cards\.pan #|cards_pan_(check|key)\b/.test(l),
    );
    t.same(missing, [], 'every table, column, constraint, index, trigger and view of the baseline');
    t.ok(now.has('constraint cards.cards_pan_key UNIQUE (pan_key)'), 'a PAN unique by its key');
    t.ok(now.has("index CREATE INDEX holds_open_expiry ON holds USING btree (expires_at) WHERE (status = 'open'::text)"), 'and the sweep index');
    // The journal's guards run (PL/pgSQL trigger functions from db/functions.sql); in a
    // transaction rolled back, to leave the ledger suite an empty journal.
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const j = await c.query(
        "INSERT INTO journal (op, source, outcome, debit_account, credit_account, entry_amount) VALUES ('recharge', 'system', 'approved', 1, 2, 5) RETURNING id",
      );
      await c.query('SAVEPOINT guard');
      await t.rejects(c.query('UPDATE journal SET entry_amount = 6 WHERE id = $1', [j.rows[0].id]), /append-only \(UPDATE/);
      await c.query('ROLLBACK TO SAVEPOINT guard');
      await t.rejects(c.query('TRUNCATE journal CASCADE'), /append-only \(TRUNCATE/);
    } finally {
      await c.query('ROLLBACK');
      c.release();
    }
  });

  await t.test('ledger suite', async (t) => {
    await ledgerSuite(t, pool);
  });
});
