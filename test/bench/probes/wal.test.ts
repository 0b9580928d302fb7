// The bench's WAL line: LSN arithmetic, the wording, and a reading of the real server.
import t from 'tap';
import { describeWal, lsnBytes, readWal, walBetween } from '../../../bench/probes/wal.js';
import { testDb } from '../../helpers/db.js';

t.test('lsnBytes: the high word is shifted by 32 bits; anything else is refused', async (t) => {
  t.equal(lsnBytes('0/0'), 0n);
  t.equal(lsnBytes('0/8B4C8AE0'), 0x8b4c8ae0n);
  t.equal(lsnBytes('1/10'), (1n << 32n) + 16n);
  t.equal(lsnBytes('A/ff'), (10n << 32n) + 255n, 'hex digits of either case');
  t.throws(() => lsnBytes('12345'), /not an LSN/);
  t.throws(() => lsnBytes('0/xyz'), /not an LSN/);
});

t.test('describeWal: megabytes, per answer, checkpoints started', async (t) => {
  const at = (bytes: number, checkpoints?: number): { bytes: bigint; checkpoints?: number } => ({ bytes: BigInt(bytes), checkpoints });
  t.equal(describeWal(at(1_000_000, 5), at(227_000_000, 5), 160_000), 'PostgreSQL: 226 MB of WAL, 1.4 kB per answer, no checkpoint started');
  t.equal(describeWal(at(0, 5), at(2_500_000, 6), 1000), 'PostgreSQL: 2.5 MB of WAL, 2.5 kB per answer, 1 checkpoint started');
  t.equal(describeWal(at(0, 5), at(2_500_000, 7), 0), 'PostgreSQL: 2.5 MB of WAL, 2 checkpoints started', 'no answers: no per-answer figure');
  t.equal(describeWal(at(0), at(2_500_000), 1000), 'PostgreSQL: 2.5 MB of WAL, 2.5 kB per answer', 'statistics not readable: no checkpoint figure');
});

t.test('readWal on the real server: the WAL grows with writes, checkpoints are counted', async (t) => {
  const db = await testDb(t, { max: 1 });
  await db.pool.query('CREATE TABLE wal_probe (id int, pad text)');
  const before = await readWal(db.pool);
  t.type(before.checkpoints, 'number', 'pg_stat_bgwriter or pg_stat_checkpointer read');
  await db.pool.query("INSERT INTO wal_probe SELECT g, repeat('x', 100) FROM generate_series(1, 10000) g");
  const after = await readWal(db.pool);
  t.ok(after.bytes - before.bytes > 1_000_000n, `10,000 rows of 100 bytes wrote over 1 MB of WAL (${after.bytes - before.bytes} bytes)`);
  t.ok((after.checkpoints ?? 0) >= (before.checkpoints ?? 0), 'the checkpoint count never goes back');
});

t.test('walBetween: bytes, and checkpoints only when both readings have them', async (t) => {
  t.same(walBetween({ bytes: 100n, checkpoints: 3 }, { bytes: 1100n, checkpoints: 4 }), { bytes: 1000, checkpoints: 1 });
  t.same(walBetween({ bytes: 100n }, { bytes: 1100n, checkpoints: 4 }), { bytes: 1000 });
});
