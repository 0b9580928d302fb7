// The disk flush probe of `make bench-disk`, `make bench` and the CI check: a real probe in a
// directory of its own, where it writes, the data directory read from the real PostgreSQL, and
// the command line.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createPool } from '../../../db/pool.js';
import { dataDirectoryOf, describeFlushes, flushDir, probeFlushes, type FlushReport } from '../../../bench/probes/disk-flush.js';
import { DATABASE_URL } from '../../helpers/db.js';
import { ROOT } from '../../helpers/paths.js';

const run = promisify(execFile);

t.test('probeFlushes: flushes for the time asked, ordered percentiles, stalls counted, its file removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cynod-flush-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await probeFlushes(dir, 0.3, 'a note', 1);
  t.ok(r.flushes > 10, `${r.flushes} flushes in 0.3 s`);
  t.ok(r.seconds >= 0.3 && r.seconds < 5, `ran ${r.seconds} s`);
  t.ok(r.p50Ms > 0, 'a flush takes time');
  t.ok(r.p50Ms <= r.p99Ms && r.p99Ms <= r.p99_9Ms && r.p99_9Ms <= r.maxMs, JSON.stringify(r));
  t.ok(r.over50Ms <= r.over10Ms && r.over10Ms <= r.flushes);
  t.ok(r.worst.length <= 5 && r.worst.length <= r.over10Ms);
  for (let i = 1; i < r.worst.length; i++) t.ok(r.worst[i - 1].ms >= r.worst[i].ms, 'slowest first');
  for (const w of r.worst) t.ok(w.ms > 10 && w.atSecond >= 0 && w.atSecond <= r.seconds + 0.1);
  t.same(readdirSync(dir), [], 'the probe file is gone');
  t.equal(r.dir, dir);
  t.equal(r.dirNote, 'a note');
});

t.test('probeFlushes: without an end, until its signal aborts (the CI check probes during its load)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cynod-flush-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 200);
  const r = await probeFlushes(dir, Number.POSITIVE_INFINITY, '', 20, stop.signal);
  t.ok(r.flushes > 0 && r.seconds >= 0.15 && r.seconds < 5, `${r.flushes} flushes in ${r.seconds} s`);
  t.same(readdirSync(dir), []);
});

t.test('probeFlushes: a missing directory or no time is an error, and nothing is left behind', async (t) => {
  await t.rejects(probeFlushes(join(tmpdir(), 'cynod-no-such-dir-' + process.pid), 1), /is not a directory/);
  const dir = mkdtempSync(join(tmpdir(), 'cynod-flush-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await t.rejects(probeFlushes(dir, 0), /seconds must be positive/);
  await t.rejects(probeFlushes(dir, Number.NaN), /seconds must be positive/);
  t.same(readdirSync(dir), []);
});

t.test('describeFlushes: the figures, the stalls and where', async (t) => {
  const r: FlushReport = {
    dir: '/var/lib/x',
    dirNote: "next to PostgreSQL's data directory",
    seconds: 10.02,
    flushes: 4200,
    p50Ms: 0.21,
    p99Ms: 0.69,
    p99_9Ms: 37.68,
    maxMs: 424.6,
    over10Ms: 9,
    over50Ms: 6,
    worst: [
      { atSecond: 3.1, ms: 424.6 },
      { atSecond: 8, ms: 199.2 },
    ],
  };
  t.equal(
    describeFlushes(r),
    "disk flush (8 kB + fdatasync, 4200 in 10 s): p50 0.21 ms, p99 0.69, p99.9 37.68, max 424.6 ms; over 10 ms: 9, over 50 ms: 6; slowest 425 ms at 3.1 s, 199 ms at 8 s (/var/lib/x, next to PostgreSQL's data directory)",
  );
  t.notMatch(describeFlushes({ ...r, worst: [] }), /slowest/);
});

t.test('flushDir: explicit first, then the temporary directory on the same device, else next to the data directory', async (t) => {
  t.same(flushDir('/somewhere', '/var/lib/postgresql/15/main'), { dir: '/somewhere', note: 'BENCH_DISK_DIR' });
  t.match(flushDir(undefined, undefined), { dir: tmpdir(), note: /not readable here/ });
  t.match(flushDir(undefined, join(tmpdir(), 'cynod-no-such-data-' + process.pid)), { dir: tmpdir(), note: /not readable here/ });
  const sameDevice = mkdtempSync(join(tmpdir(), 'cynod-data-'));
  t.teardown(() => rmSync(sameDevice, { recursive: true, force: true }));
  t.same(flushDir(undefined, sameDevice), { dir: tmpdir(), note: "same device as PostgreSQL's data directory" });
  // No temporary directory at all: next to the data directory, and no throw.
  const saved = process.env.TMPDIR;
  const realTmp = tmpdir();
  process.env.TMPDIR = join(realTmp, 'cynod-no-such-tmp-' + process.pid);
  try {
    mkdirSync(join(sameDevice, 'main'));
    t.same(flushDir(undefined, join(sameDevice, 'main')), { dir: sameDevice, note: "next to PostgreSQL's data directory" });
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  // A data directory on another device: /dev/shm (a tmpfs) when it is not the temporary directory's.
  const shm = '/dev/shm';
  if (!existsSync(shm) || statSync(shm).dev === statSync(tmpdir()).dev) {
    t.comment('no second device to try the data directory on');
    return;
  }
  const parent = mkdtempSync(join(shm, 'cynod-pg-'));
  t.teardown(() => rmSync(parent, { recursive: true, force: true }));
  const data = join(parent, 'main');
  mkdirSync(data);
  t.same(flushDir(undefined, data), { dir: parent, note: "next to PostgreSQL's data directory" });
  t.same(readdirSync(parent), ['main'], 'its write check left nothing');
});

t.test("dataDirectoryOf: the real PostgreSQL's, or undefined when the role may not read it", async (t) => {
  const pool = createPool({ url: DATABASE_URL, max: 1 });
  t.teardown(() => pool.end());
  const dir = await dataDirectoryOf(pool);
  const superuser = (await pool.query<{ s: boolean }>("SELECT current_setting('is_superuser') = 'on' AS s")).rows[0].s;
  if (superuser) {
    t.type(dir, 'string');
    t.match(dir, /^\//, 'an absolute path');
  }
  t.equal(await dataDirectoryOf({ query: () => Promise.reject(new Error('permission denied to examine "data_directory"')) }), undefined);
});

t.test('bench-disk: prints its line; a bad variable is a clear error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cynod-flush-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, BENCH_DISK_SECONDS: '0.3', BENCH_DISK_DIR: dir };
  const ok = await run(process.execPath, [join(ROOT, 'dist/bench/probes/disk-flush.js')], { env });
  t.match(ok.stdout, /^disk flush \(8 kB \+ fdatasync, \d+ in 0 s\): p50 [\d.]+ ms, .*BENCH_DISK_DIR\)\n$/);
  t.same(readdirSync(dir), []);
  const bad = await run(process.execPath, [join(ROOT, 'dist/bench/probes/disk-flush.js')], { env: { ...env, BENCH_DISK_SECONDS: 'soon' } }).catch((e: { code: number; stderr: string }) => e);
  t.equal((bad as { code: number }).code, 1);
  t.match((bad as { stderr: string }).stderr, /BENCH_DISK_SECONDS: .*got "soon"/);
});
