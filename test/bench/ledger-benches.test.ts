// The ledger benchmark runs, briefly, against the real PostgreSQL: every purchase it posts must
// be approved (it fails otherwise).
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/paths.js';
import { DATABASE_URL } from '../helpers/db.js';

const run = promisify(execFile);

t.test('make bench-ledger: every size posts approvals and prints its cost', async (t) => {
  const { stdout } = await run(process.execPath, ['dist/bench/ledger.js'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL, BENCH_LEDGER_SCHEMA: `t_bench_ledger_${process.pid}`, BENCH_LEDGER_SIZES: '1,4', BENCH_LEDGER_SECONDS: '0.3' },
  });
  t.match(stdout, /^\s+1\s+\d+/m, 'a line for batches of 1');
  t.match(stdout, /^\s+4\s+\d+/m, 'a line for batches of 4');
  t.match(stdout, /PostgreSQL CPU per batch ~ -?\d+ µs \+ -?[\d.]+ µs x items/);
});
