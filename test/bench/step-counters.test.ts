// The before/after reading `make bench` and the CI check share: a real metrics endpoint and the real server.
import t from 'tap';
import type { AddressInfo } from 'node:net';
import { SwitchMetrics, startMetricsServer } from '../../switch/metrics.js';
import { startStepCounters } from '../../bench/step-counters.js';
import { testDb } from '../helpers/db.js';

t.test('only what happened between the two readings, as numbers and as lines', async (t) => {
  const db = await testDb(t, { max: 1 });
  await db.pool.query('CREATE TABLE wal_probe (id int, pad text)');
  const m = new SwitchMetrics();
  m.batchSize.observe(5);
  m.batchSeconds.observe(0.5); // before: must not count
  const server = await startMetricsServer(m, [], '127.0.0.1', 0);
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const stop = await startStepCounters((server.address() as AddressInfo).port, db.pool);
  for (let i = 0; i < 4; i++) {
    m.batchSize.observe(2);
    m.batchSeconds.observe(0.0015);
    m.countRequest('0200', '00');
    m.countRequest('0200', '00');
    m.observeLatency('0200', 0.004);
    m.observeLatency('0200', 0.008);
  }
  await db.pool.query("INSERT INTO wal_probe SELECT g, repeat('x', 100) FROM generate_series(1, 10000) g");
  const c = await stop();
  t.equal(c.batches?.batches, 4);
  t.equal(c.batches?.items, 8);
  t.equal(c.batches?.requests, 8);
  t.ok((c.wal?.bytes ?? 0) > 1_000_000, 'the insert wrote over 1 MB of WAL');
  t.type(c.wal?.checkpoints, 'number');
  t.equal(c.lines.length, 3);
  t.equal(c.lines[0], 'inside the switch: 99% of 8 answers within 10 ms; over 5 ms 50.00%, over 10 ms 0.00%');
  t.match(c.lines[1], /^ledger: 4 batches, 2\.0 items each, 1\.50 ms mean, 99% within 2 ms, all within 2 ms$/);
  t.match(c.lines[2], /^PostgreSQL: [\d.]+ MB of WAL, [\d.]+ kB per answer, /);
});

t.test('nothing to read: no lines', async (t) => {
  const c = await (await startStepCounters(undefined, undefined))();
  t.same(c, { batches: undefined, lines: [] });
});
