// The pools' idle connections on the real PostgreSQL: closed after idleTimeoutMillis, or kept
// (0), as the switch's pool keeps its own (a new connection plans the ledger's statements at its first batch).
import t from 'tap';
import { createPool } from '../../db/pool.js';
import { DATABASE_URL, testDb } from '../helpers/db.js';
import { testSwitch } from '../helpers/switch.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Three queries at once (three connections), then a wait longer than a 50 ms idle timeout. */
async function connectionsAfterAQuietSpell(idleTimeoutMillis: number | undefined): Promise<{ busy: number; after: number }> {
  const pool = createPool({ url: DATABASE_URL, max: 5, idleTimeoutMillis });
  try {
    await Promise.all([1, 2, 3].map(() => pool.query('SELECT pg_sleep(0.05)')));
    const busy = pool.totalCount;
    await sleep(400);
    return { busy, after: pool.totalCount };
  } finally {
    await pool.end();
  }
}

t.test('idle connections: closed after idleTimeoutMillis, kept with 0', async (t) => {
  t.same(await connectionsAfterAQuietSpell(50), { busy: 3, after: 0 }, 'closed after 50 ms idle');
  t.same(await connectionsAfterAQuietSpell(0), { busy: 3, after: 3 }, 'kept');
  t.same(await connectionsAfterAQuietSpell(undefined), { busy: 3, after: 3 }, 'the default (30 s) keeps them through a short wait');
});

t.test("the switch's pool keeps its idle connections", async (t) => {
  const db = await testDb(t);
  const sw = await testSwitch(t, db);
  await Promise.all([1, 2, 3].map(() => sw.pool.query('SELECT pg_sleep(0.05)')));
  const busy = sw.pool.totalCount;
  t.ok(busy >= 3, `${busy} connections for three queries at once`);
  t.equal((sw.pool as unknown as { options: { idleTimeoutMillis: number } }).options.idleTimeoutMillis, 0, 'no idle timeout');
  await sleep(400);
  t.ok(sw.pool.totalCount >= busy, 'none closed while idle');
});
