// The pools' idle connections on the real PostgreSQL: closed after idleTimeoutMillis, or kept
// (0), as the switch's pool keeps its own (a new connection plans the ledger's statements at its first batch).
// Counts are read from the pool's own events (connect, remove), so each failure message says
// what happened to every connection, and a closing is waited for (up to 5 s) rather than timed:
// the suite runs beside other test files on two cores.
import t from 'tap';
import type pg from 'pg';
import { createPool } from '../../db/pool.js';
import { DATABASE_URL, testDb } from '../helpers/db.js';
import { testSwitch } from '../helpers/switch.js';
import type { TestContext } from '../helpers/tap.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Connections opened and closed by the pool since this was called, and errors it reported. */
function watch(pool: pg.Pool): { opened: number; removed: number; errors: string[] } {
  const w = { opened: 0, removed: 0, errors: [] as string[] };
  pool.on('connect', () => w.opened++);
  pool.on('remove', () => w.removed++);
  pool.on('error', (e) => w.errors.push(e.message));
  return w;
}

/** Resolves when `done()` holds, or after `ms`; returns whether it held. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await sleep(20);
  return done();
}

/** Three queries at once (three connections), then a quiet spell. */
async function quietSpell(idleTimeoutMillis: number | undefined, t: TestContext): Promise<void> {
  const pool = createPool({ url: DATABASE_URL, max: 5, idleTimeoutMillis });
  const w = watch(pool);
  try {
    await Promise.all([1, 2, 3].map(() => pool.query('SELECT pg_sleep(0.05)')));
    t.equal(pool.totalCount, 3, `three connections for three queries at once (${JSON.stringify(w)})`);
    if (idleTimeoutMillis === 50) {
      t.ok(await until(() => pool.totalCount === 0, 5000), `all closed once idle for 50 ms (${pool.totalCount} left, ${JSON.stringify(w)})`);
    } else {
      await sleep(400);
      t.equal(pool.totalCount, 3, `none closed after 400 ms idle (${JSON.stringify(w)})`);
      t.equal(w.removed, 0, 'none removed');
    }
  } finally {
    await pool.end();
  }
}

t.test('idle connections: closed after idleTimeoutMillis', (t) => quietSpell(50, t));
t.test('idle connections: kept with 0', (t) => quietSpell(0, t));
t.test('idle connections: the default (30 s) keeps them through a short wait', (t) => quietSpell(undefined, t));

t.test("the switch's pool keeps its idle connections", async (t) => {
  const db = await testDb(t);
  const sw = await testSwitch(t, db);
  const w = watch(sw.pool);
  await Promise.all([1, 2, 3].map(() => sw.pool.query('SELECT pg_sleep(0.05)')));
  const busy = sw.pool.totalCount;
  t.ok(busy >= 3, `${busy} connections for three queries at once (${JSON.stringify(w)})`);
  t.equal((sw.pool as unknown as { options: { idleTimeoutMillis: number } }).options.idleTimeoutMillis, 0, 'no idle timeout');
  await sleep(400);
  t.equal(w.removed, 0, `none closed while idle (${sw.pool.totalCount} of ${busy} left, ${JSON.stringify(w)})`);
});
