// The two ledger benchmarks run, briefly, against the real PostgreSQL: every purchase they post
// must be approved and journaled (each fails otherwise), through the ledger's own client and the
// two it was measured against.
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/paths.js';
import { DATABASE_URL } from '../helpers/db.js';

const run = promisify(execFile);

t.test('make bench-ledger: every size posts approvals and prints its cost', async (t) => {
  const { stdout } = await run(process.execPath, ['dist/bench/ledger.js'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL, BENCH_LEDGER_SCHEMA: `t_bench_ledger_${process.pid}`, BENCH_LEDGER_SIZES: '1,4', BENCH_LEDGER_SECONDS: '0.3', BENCH_LEDGER_RATES: '400', BENCH_LEDGER_RATE_SECONDS: '0.5' },
  });
  t.match(stdout, /^\s+1\s+\d+/m, 'a line for batches of 1');
  t.match(stdout, /^\s+4\s+\d+/m, 'a line for batches of 4');
  t.match(stdout, /PostgreSQL CPU per batch ~ -?\d+ µs \+ -?[\d.]+ µs x items/);
  // the batcher at a fixed rate: it throws unless every purchase is approved
  const line = /^\s+400\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+) \((\d+) \+ (\d+)\)/m.exec(stdout);
  t.ok(line, 'a line for 400/s');
  if (line) {
    t.ok(Number(line[1]) >= 300 && Number(line[1]) <= 500, `posted at about the rate (${line[1]}/s)`);
    t.ok(Number(line[2]) >= 1, 'a batch holds one item or more');
    t.ok(Number(line[3]) > 0 && Number(line[4]) >= Number(line[3]), 'p50 then p99');
  }
});

t.test('make bench-ledger-transports: the three clients give the same approvals, all journaled', async (t) => {
  const { stdout } = await run(process.execPath, ['dist/bench/ledger-transports.js'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL, BENCH_TRANSPORT_SCHEMA: `t_bench_transports_${process.pid}`, BENCH_TRANSPORT_SIZES: '1,4', BENCH_TRANSPORT_SECONDS: '0.2', BENCH_TRANSPORT_ROUNDS: '2' },
  });
  for (const client of ['exchange', 'pg-pipeline', 'postgres']) for (const size of [1, 4]) t.match(stdout, new RegExp(`^\\s+${size}\\s+${client}\\s+\\d+`, 'm'), `${client}, batches of ${size}`);
  t.match(stdout, /every purchase approved and journaled \(\d+\)/);
});
