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
  // every version of the posting function (002, then 004 replaces it)
  const sql = readdirSync(migrationsDir())
    .filter((f) => f.endsWith('.sql'))
    .map((f) => readFileSync(`${migrationsDir()}/${f}`, 'utf8'))
    .join('\n');
  const named = new Set([...sql.matchAll(/verdict := '([a-z_]+)'/g)].map((m) => m[1]));
  t.ok(named.size >= 20, `${named.size} outcomes in the SQL`);
  for (const o of named) t.ok(isOutcome(o), `${o} is listed`);
});
