// The CPU pause probe of `make bench-cpu`, `make bench` and the CI check: its figures from known
// timings, a real probe on this machine, its verdict and its command line.
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PAUSE_MS, calibrate, describePauses, pausesVerdict, probeCpuPauses, summarize, type PauseReport } from '../../../bench/probes/cpu-pause.js';
import { ROOT } from '../../helpers/paths.js';

const run = promisify(execFile);

t.test('summarize: the median piece, the pieces paused 5 ms or more past it, those over 10 ms, the longest first', async (t) => {
  // 96 pieces of 1 ms, one of 5.9 ms (paused 4.9: not counted), 6.0 ms (paused 5), 10.5 and 12 ms
  const times = [...Array<number>(96).fill(1), 5.9, 6, 10.5, 12];
  const starts = times.map((_, i) => i * 6);
  const r = summarize(times, starts, 0.6, 5);
  t.equal(r.pieces, 100);
  t.equal(r.p50Ms, 1);
  t.equal(r.workMs, 1);
  t.equal(r.maxMs, 12);
  t.equal(r.p99Ms, 12, 'nearest rank: the 100th of 100');
  t.equal(r.paused, 3, '6.0, 10.5 and 12 ms: 5 ms or more past the median');
  t.equal(r.pausedShare, 0.03);
  t.equal(r.over10Ms, 2);
  t.equal(r.over10Share, 0.02);
  t.same(r.worst, [
    { atSecond: 0.6, ms: 12 },
    { atSecond: 0.6, ms: 10.5 },
    { atSecond: 0.6, ms: 6 },
  ]);
  t.equal(PAUSE_MS, 5);
  const none = summarize([], [], 0, 5);
  t.same([none.pieces, none.paused, none.pausedShare, none.over10Share, none.maxMs], [0, 0, 0, 0, 0], 'no pieces: no shares, no division by zero');
});

t.test('calibrate: more iterations for more work', async (t) => {
  const small = calibrate(0.2);
  const large = calibrate(2);
  t.ok(small >= 1000 && large > small, `${small} iterations for 0.2 ms, ${large} for 2 ms`);
});

t.test('probeCpuPauses: pieces for the time asked, ordered percentiles, until its signal aborts, bad arguments refused', async (t) => {
  const r = await probeCpuPauses(0.3, 0.5, 2);
  t.ok(r.pieces > 10, `${r.pieces} pieces in 0.3 s`);
  t.ok(r.seconds >= 0.3 && r.seconds < 5, `ran ${r.seconds} s`);
  t.ok(r.p50Ms > 0 && r.p50Ms <= r.p99Ms && r.p99Ms <= r.p99_9Ms && r.p99_9Ms <= r.maxMs, JSON.stringify(r));
  t.ok(r.paused <= r.pieces && r.over10Ms <= r.pieces && r.worst.length === Math.min(5, r.paused));
  t.equal(r.gapMs, 2);
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 150);
  const started = Date.now();
  const cut = await probeCpuPauses(60, 0.5, 2, stop.signal);
  t.ok(Date.now() - started < 5000 && cut.pieces > 0, `stopped after ${cut.seconds} s`);
  await t.rejects(probeCpuPauses(0), /seconds must be a positive number/);
  await t.rejects(probeCpuPauses(Number.POSITIVE_INFINITY), /seconds must be a positive number/);
  await t.rejects(probeCpuPauses(1, 0), /work must take some time/);
  await t.rejects(probeCpuPauses(1, 1, -1), /gap may not be negative/);
});

t.test('describePauses and pausesVerdict: the figures, and when the p99 target is out of this machine\'s reach', async (t) => {
  const r: PauseReport = {
    seconds: 10.01,
    workMs: 1.03,
    gapMs: 5,
    pieces: 1560,
    p50Ms: 1.03,
    p99Ms: 8.62,
    p99_9Ms: 12.89,
    maxMs: 13.1,
    paused: 23,
    pausedShare: 23 / 1560,
    over10Ms: 13,
    over10Share: 13 / 1560,
    worst: [
      { atSecond: 5.7, ms: 13.1 },
      { atSecond: 8.7, ms: 12.9 },
    ],
  };
  t.equal(
    describePauses(r),
    'cpu pauses (1.03 ms of work every 5 ms, 1560 in 10 s): p50 1.03 ms, p99 8.62, p99.9 12.89, max 13.1 ms; 23 (1.47%) took 5 ms or more longer, 13 longer than 10 ms; longest 13.1 ms at 5.7 s, 12.9 ms at 8.7 s',
  );
  t.notMatch(describePauses({ ...r, worst: [] }), /longest/);
  t.equal(
    pausesVerdict(r),
    'cpu: 1.03 ms of work took 5 ms or more longer 1.47% of the time, max 13.1 ms (an answer needs 1 ms of CPU or more, and a pause holds its whole batch and the answers queued behind it); 0.83% took longer than 10 ms',
  );
  t.match(pausesVerdict({ ...r, over10Ms: 30, over10Share: 30 / 1560 }), /; 1\.92% took longer than 10 ms: no p99 <= 10 ms on this machine, whatever the code does$/);
});

t.test('bench-cpu: prints its line; a bad variable is a clear error', async (t) => {
  const env = { ...process.env, BENCH_CPU_SECONDS: '0.3' };
  const ok = await run(process.execPath, [join(ROOT, 'dist/bench/probes/cpu-pause.js')], { env });
  t.match(ok.stdout, /^cpu pauses \([\d.]+ ms of work every 5 ms, \d+ in 0 s\): p50 [\d.]+ ms, .* took 5 ms or more longer, \d+ longer than 10 ms.*\n$/);
  const bad = await run(process.execPath, [join(ROOT, 'dist/bench/probes/cpu-pause.js')], { env: { ...env, BENCH_CPU_SECONDS: 'soon' } }).catch((e: { code: number; stderr: string }) => e);
  t.equal((bad as { code: number }).code, 1);
  t.match((bad as { stderr: string }).stderr, /BENCH_CPU_SECONDS: .*got "soon"/);
});
