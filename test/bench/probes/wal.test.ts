// The bench's WAL line: LSN arithmetic, the wording, and a reading of the real server.
import t from 'tap';
import { describeWal, lsnBytes, readWal, walBetween } from '../../../bench/probes/wal.js';
import { walAhead } from '../../../db/wal.js';
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

t.test('walBetween: the segment files the WAL moved into, against those ready at the start', async (t) => {
  const seg = 16 << 20;
  const ahead = (segments: number): { segments: number; segmentBytes: number; maxBytes: number } => ({ segments, segmentBytes: seg, maxBytes: 1024 << 20 });
  const at = (bytes: number, ready?: number): { bytes: bigint; checkpoints: number; ahead?: ReturnType<typeof ahead> } => ({ bytes: BigInt(bytes), checkpoints: 1, ...(ready === undefined ? {} : { ahead: ahead(ready) }) });
  t.same(walBetween(at(seg - 10, 3), at(3 * seg + 10, 0)), { bytes: 2 * seg + 20, checkpoints: 0, segments: { used: 3, ready: 3 } }, 'from the end of one file into the fourth: three used');
  t.same(walBetween(at(seg + 10, 1), at(seg + 5000, 1)).segments, { used: 0, ready: 1 }, 'within one file: none used');
  t.same(walBetween(at(0, 0), at(5 * seg)).segments, { used: 5, ready: 0 }, 'the after reading needs no pg_wal: only the position');
  t.equal(walBetween(at(0), at(5 * seg, 2)).segments, undefined, 'pg_wal not readable at the start: nothing said of files');
});

t.test('describeWal: segment files used, and how many were ready', async (t) => {
  const seg = 16 << 20;
  const at = (bytes: number, ready?: number): { bytes: bigint; checkpoints: number; ahead?: { segments: number; segmentBytes: number; maxBytes: number } } => ({
    bytes: BigInt(bytes),
    checkpoints: 5,
    ...(ready === undefined ? {} : { ahead: { segments: ready, segmentBytes: seg, maxBytes: 1024 << 20 } }),
  });
  t.equal(describeWal(at(0, 0), at(2 * seg + 1000, 0), 33_000), 'PostgreSQL: 34 MB of WAL, 1.0 kB per answer, no checkpoint started, segment files: 2 used, none ready');
  t.equal(describeWal(at(0, 1), at(2 * seg + 1000, 0), 33_000), 'PostgreSQL: 34 MB of WAL, 1.0 kB per answer, no checkpoint started, segment files: 2 used, 1 of them ready');
  t.equal(describeWal(at(0, 40), at(2 * seg + 1000, 38), 33_000), 'PostgreSQL: 34 MB of WAL, 1.0 kB per answer, no checkpoint started, segment files: 2 used, all ready');
  t.equal(describeWal(at(0, 40), at(1_000_000, 40), 1000), 'PostgreSQL: 1.0 MB of WAL, 1.0 kB per answer, no checkpoint started', 'no file used: nothing said of files');
});

t.test('readWal carries what lies ahead when pg_wal is readable', async (t) => {
  const db = await testDb(t, { max: 1 });
  const ahead = await walAhead(db.pool);
  const r = await readWal(db.pool);
  if (ahead === undefined) t.equal(r.ahead, undefined, 'not readable: nothing');
  else t.match(r.ahead, { segmentBytes: ahead.segmentBytes, maxBytes: ahead.maxBytes }, 'the segment size and max_wal_size, with the files ahead');
});
