// The same migrations and the same ledger suite against the embedded database of make demo
// (PGlite served over the wire protocol, db/embedded.ts): the ledger's SQL, functions
// included, works on both.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../db/embedded.js';
import { createPool } from '../../db/pool.js';
import { migrate } from '../../db/migrate.js';
import { ledgerSuite } from './ledger-suite.js';

t.test('ledger suite on the embedded PGlite', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cynod-pglite-'));
  const db = await startEmbeddedPostgres(join(dir, 'pgdata'));
  t.teardown(async () => {
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const admin = createPool({ url: db.url, max: 1 });
  const m = await migrate(admin, 'cynod');
  await admin.end();
  t.same(m.applied, ['1_core', '2_ledger', '3_ledger_guards', '4_ledger_post_cost', '5_journal_counter_card', '6_ledger_post_entries_in_journal', '7_ledger_post_lookups_per_item'], 'every migration applies');
  const pool = createPool({ url: db.url, schema: 'cynod', max: 1 });
  t.teardown(() => pool.end());
  await ledgerSuite(t, pool);
});
