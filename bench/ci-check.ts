/**
 * The performance check CI runs after the tests (at most two minutes): a short load at a
 * modest fixed rate against a switch process, failing when
 *  - the SLO is missed (p99 and errors; margins wide enough not to flake on a noisy machine),
 *  - any answer is missing,
 *  - the approvals counted by the simulator differ from the journal's,
 *  - the ledger check fails.
 * It prints its figures (with the CPU each answer cost the switch, PostgreSQL, the simulator and
 * the rest of the machine: a figure the machine's noise moves less than latency; how late the
 * simulator sent; the switch's own latency and ledger batches, from its /metrics; PostgreSQL's WAL
 * and checkpoints over the load) and exits 0 or 1.
 *
 * The p99 bound is wide on purpose: it catches a saturated or stalled switch, not machine noise.
 * Measured at 1,000/s: p99 14.1-22.4 ms on machine B, 29.4-45.6 ms over 10 runs on machine C (a
 * machine of the same kind whose PostgreSQL runs about 2x slower, 60-62% busy at this rate);
 * 50 ms was too close.
 * The answer, error and journal checks are exact and fail at once; a run that misses only the p99
 * is run once more (CI_CHECK_ATTEMPTS), as `make bench` does with a missed step: one of 7 CI runs
 * on machine C measured p99 172.5 ms (p99.9 337 ms, max 368 ms) right after the tests, the next
 * three 37.1-39.5 ms. Before measuring, a CHECKPOINT writes out what the tests left behind.
 * The disk: an approval waits for its batch's flush, and on machine D the disk alone, idle, took
 * 50-425 ms for 6-8 of its flushes in 30 s; the CI runs there measured p99 8-245 ms (979 ms
 * right after a probe flushing at full speed) at the same p50 (2.6-3.5 ms). So during the load a probe flushes 8 kB every 50 ms (bench/disk-flush.ts) and
 * the p99 bound is CI_CHECK_P99_MS plus twice the slowest of those flushes: the switch is judged
 * on what it adds to its disk's stalls, and the line printed says what the disk did.
 *
 * The CPU: on machine H the host paused the guest's processes for about 10 ms a few times a
 * second: idle, 1-2% of 1 ms pieces of work took 5 ms or more longer, 0.3-1.0% over 10 ms. Before
 * the load, a probe (bench/cpu-pause.ts) says so; it does not move the bound (100 ms is far above
 * such pauses).
 *
 * Environment: CI_CHECK_RATE (1000), CI_CHECK_SECONDS (30, at most 45 so that two attempts fit in
 * two minutes), CI_CHECK_P99_MS (100), CI_CHECK_ATTEMPTS (2), CI_CHECK_SCHEMA (cynod_ci),
 * CI_CHECK_DISK_PROBE (1; 0: no probe, the bound is CI_CHECK_P99_MS alone), CI_CHECK_CPU_SECONDS
 * (3; 0: no CPU pause probe).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteKeys } from '../backoffice/redis.js';
import { z } from 'zod';
import { commonEnv, parseEnv } from '../db/config.js';
import { checkLedger } from '../db/check.js';
import { fleetOf } from '../backoffice/seed.js';
import { seedFreshSchema } from './fleet.js';
import { CpuSampler, describeBudget } from './cpu-budget.js';
import { startStepCounters } from './step-counters.js';
import { startChild, stop } from './child.js';
import { describeFlushes, probeDirFor, probeFlushes } from './disk-flush.js';
import { describePauses, pausesVerdict, probeCpuPauses } from './cpu-pause.js';
import { describeSendLag, type LoadReport } from '../terminal-sim/load/report.js';

const env = parseEnv(
  commonEnv.extend({
    CI_CHECK_RATE: z.coerce.number().int().min(1).default(1000),
    CI_CHECK_SECONDS: z.coerce.number().int().min(1).max(45).default(30),
    CI_CHECK_P99_MS: z.coerce.number().positive().default(100),
    CI_CHECK_ATTEMPTS: z.coerce.number().int().min(1).max(3).default(2),
    CI_CHECK_DISK_PROBE: z.enum(['0', '1']).default('1'),
    CI_CHECK_CPU_SECONDS: z.coerce.number().min(0).max(10).default(3),
    CI_CHECK_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('cynod_ci'),
    REPORT_DIR: z.string().default('reports'),
  }),
);
const say = (s: string): void => void process.stdout.write(s + '\n');

async function main(): Promise<number> {
  mkdirSync(env.REPORT_DIR, { recursive: true });
  const schema = env.CI_CHECK_SCHEMA;
  const prefix = `${schema}:${process.pid}:`;
  const { pool, seeded } = await seedFreshSchema(env.DATABASE_URL, schema, { cards: 1_000, servicePoints: 10, terminalsPerServicePoint: 5 }, 2);
  const fleet = join(env.REPORT_DIR, 'ci-fleet.json');
  writeFileSync(fleet, JSON.stringify(fleetOf(seeded)), { mode: 0o600 });

  const sw = await startChild('dist/switch/main.js', { DB_SCHEMA: schema, REDIS_PREFIX: prefix, SWITCH_LISTENERS: '127.0.0.1:0/binary2/ascii87', METRICS_PORT: '0', LOG_LEVEL: 'info' });
  const { port, metricsPort } = sw;
  const load = async (args: string[], name: string): Promise<LoadReport> => {
    const json = join(env.REPORT_DIR, `${name}.json`);
    const p = spawn(process.execPath, ['dist/terminal-sim/cli.js', 'load', '--fleet', fleet, '--port', String(port), '--no-sign-on', '--quiet', '--json', json, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    await new Promise((r) => p.once('exit', r));
    return JSON.parse(readFileSync(json, 'utf8')) as LoadReport;
  };
  const problems: string[] = [];
  let r: LoadReport | undefined;
  let boundText = `${env.CI_CHECK_P99_MS} ms`;
  try {
    await load(['--rate', '500', '--duration', '3s', '--mix', 'inquiry=100', '--timeout', '30s'], 'ci-warmup');
    const journal = async (): Promise<number> =>
      (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM journal WHERE source = 'terminal' AND outcome = 'approved' AND duplicate_of IS NULL")).rows[0].n;
    // What the tests before this check left for PostgreSQL to write goes to disk now, not during the measurement.
    await pool.query('CHECKPOINT').catch(() => {}); // a role without the right skips it
    const diskDir = env.CI_CHECK_DISK_PROBE === '1' ? await probeDirFor(pool) : undefined;
    // Whether this machine pauses a process in its work, measured idle, before the load: said, not judged.
    if (env.CI_CHECK_CPU_SECONDS > 0) {
      const pauses = await probeCpuPauses(env.CI_CHECK_CPU_SECONDS);
      say(`performance check: before the load, ${describePauses(pauses)}`);
      say(`performance check: ${pausesVerdict(pauses)}`);
    }
    for (let attempt = 1; ; attempt++) {
      const before = await journal();
      const counted = await startStepCounters(metricsPort, pool);
      const cpu = new CpuSampler(sw.child.pid as number);
      cpu.start();
      // The disk's own flushes during the load, one every 50 ms (a load's ledger flushes several hundred a second).
      const stopProbe = new AbortController();
      // A probe that cannot write (a read-only temporary directory) only leaves the bound at CI_CHECK_P99_MS.
      const probe = diskDir
        ? probeFlushes(diskDir.dir, Number.POSITIVE_INFINITY, diskDir.note, 50, stopProbe.signal).catch((e: Error) => {
            say(`performance check: no disk probe (${e.message})`);
            return undefined;
          })
        : undefined;
      r = await load(
        ['--rate', String(env.CI_CHECK_RATE), '--duration', `${env.CI_CHECK_SECONDS}s`, '--mix', 'purchase=80,preauth=10,inquiry=10', '--connections', '50', '--html', join(env.REPORT_DIR, 'ci-check.html')],
        'ci-check',
      );
      cpu.stop();
      stopProbe.abort();
      const disk = await probe;
      const bound = env.CI_CHECK_P99_MS + 2 * (disk?.maxMs ?? 0);
      const { shares, budget } = cpu.measure(r.startedAt, r.elapsedSeconds, r.throughput.answeredPerSecond);
      await new Promise((res) => setTimeout(res, 500));
      const approvedInJournal = (await journal()) - before;
      const counters = await counted();
      const ledger = await checkLedger(pool);
      say(
        `performance check: ${env.CI_CHECK_RATE}/s for ${env.CI_CHECK_SECONDS} s (purchases, pump sessions, inquiries over 50 terminals): ` +
          `sent ${r.sent}, answered ${r.answered}, approved ${r.approved} (journal ${approvedInJournal}), errors ${r.errors}; ` +
          `latency p50 ${r.latencyMs.p50Ms} ms, p99 ${r.latencyMs.p99Ms} ms, p99.9 ${r.latencyMs.p99_9Ms} ms, max ${r.latencyMs.maxMs} ms; ` +
          `throughput ${r.throughput.answeredPerSecond}/s`,
      );
      say(`performance check: ${describeBudget(shares, budget)}`);
      say(`performance check: ${describeSendLag(r)}`);
      for (const line of counters.lines) say(`performance check: ${line}`);
      if (disk) say(`performance check: during the load, ${describeFlushes(disk)}`);
      // Wrong answers fail at once; a missed p99 alone is measured once more (a stall of the machine, or a slower switch twice).
      if (r.errors > 0) problems.push(`${r.errors} errors`);
      if (r.answered !== r.sent) problems.push(`${r.sent - r.answered} answers missing`);
      if (r.approved !== approvedInJournal) problems.push(`simulator counted ${r.approved} approvals, the journal ${approvedInJournal}`);
      if (!ledger.ok) problems.push(`ledger check failed: ${JSON.stringify(ledger)}`);
      // The p99 bound: CI_CHECK_P99_MS, plus twice the slowest flush the disk itself made during the
      // load (a stalled flush holds its batch, the next batch waits behind it): what the disk
      // stalls is the disk's, what the switch adds beyond it is the switch's.
      boundText = bound > env.CI_CHECK_P99_MS ? `${bound.toFixed(1)} ms (${env.CI_CHECK_P99_MS} + 2 x the disk's slowest flush, ${(disk?.maxMs ?? 0).toFixed(1)} ms)` : `${env.CI_CHECK_P99_MS} ms`;
      if (problems.length > 0 || r.latencyMs.p99Ms <= bound) break;
      if (attempt >= env.CI_CHECK_ATTEMPTS) {
        problems.push(`p99 ${r.latencyMs.p99Ms} ms above ${boundText} (${attempt} attempt${attempt > 1 ? 's' : ''})`);
        break;
      }
      say(`performance check: p99 ${r.latencyMs.p99Ms} ms above ${boundText}, once more`);
    }
  } finally {
    await stop(sw);
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await pool.end();
    const { Redis } = await import('ioredis');
    const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1 });
    await deleteKeys(redis, prefix);
    redis.disconnect();
  }
  if (problems.length) {
    say(`performance check FAILED: ${problems.join('; ')}`);
    return 1;
  }
  say(`performance check passed (SLO p99 <= ${boundText}, no errors, every answer, approvals = journal)`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`performance check: ${(e as Error).stack ?? String(e)}\n`);
    process.stdout.write('performance check FAILED: could not run\n');
    process.exit(1);
  },
);
