// The benchmarks' fleet is measured as a live network holds it: seeding rewrites every card (its
// PIN is set after the insert), and a fresh schema is vacuumed before any load, so that no lookup
// by key steps over the dead rows and index entries seeding left (autovacuum is off on the
// benchmark machines).
import t from 'tap';
import { DATABASE_URL } from '../helpers/db.js';
import { dropSchema, seedFreshSchema } from '../../tools/bench-fleet.js';

t.test('seedFreshSchema leaves the card and account tables vacuumed, with no dead rows', async (t) => {
  const schema = `t_bench_fleet_${process.pid}`;
  const { pool } = await seedFreshSchema(DATABASE_URL, schema, { cards: 40, servicePoints: 2, terminalsPerServicePoint: 1 }, 1);
  t.teardown(async () => {
    await pool.end();
    await dropSchema(DATABASE_URL, schema);
  });
  const r = await pool.query<{ relname: string; vacuumed: boolean; analyzed: boolean; dead: string }>(
    `SELECT relname, last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS analyzed, n_dead_tup AS dead
     FROM pg_stat_user_tables WHERE schemaname = $1 AND relname IN ('cards', 'accounts', 'terminals') ORDER BY relname`,
    [schema],
  );
  t.same(
    r.rows.map((x) => [x.relname, x.vacuumed, x.analyzed, Number(x.dead)]),
    [
      ['accounts', true, true, 0],
      ['cards', true, true, 0],
      ['terminals', true, true, 0],
    ],
  );
});
