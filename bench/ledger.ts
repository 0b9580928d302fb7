/**
 * Ledger benchmark: the posting alone (Ledger.post), without the switch. Batches of fuel
 * purchases go through `Ledger.post` one after the other (one connection, one batch in
 * flight, as one lane of the switch does), and it prints per batch size the batches/s,
 * the average and p99 batch time and the cost per item: wall time, and the CPU every PostgreSQL
 * process used (the backend, the WAL writer...; read from /proc on Linux). This is where the switch's
 * throughput limit comes from: at R purchases/s, a lane is busy R × (cost per item) of
 * every second, and the batch time, which is what an answer waits for, grows without
 * bound as that nears 1.
 *
 *   make bench-ledger     BENCH_LEDGER_SECONDS=3 per size (default), BENCH_LEDGER_SIZES=1,10,50,100,200
 *
 * Then the switch's batcher over the same posting at fixed rates (BENCH_LEDGER_RATES, default
 * 1000,3000,6000; BENCH_LEDGER_RATE_SECONDS=8 each, after 2 s not counted): purchases posted as
 * they fall due, one lane, gathering as the switch does (LEDGER_GATHER_MS, LEDGER_GATHER_ITEMS).
 * Per rate: the batches' mean size, each purchase's time from its post to its result, and the CPU
 * per purchase of this process and of PostgreSQL, with the share of the machine the host stole.
 * Without the switch, the terminals and the simulator, a change to the batcher or the posting is
 * measured with the CPU those leave out and their noise: the full bench's steps on these hosts
 * move more between two runs than such a change does.
 *
 * It migrates its own schema (cynod_bench_ledger), seeds 10,000 cards, 100 service points
 * and 500 terminals, and drops the schema at the end.
 */
import { z } from 'zod';
import { Ledger, LedgerBatcher, type LedgerItem } from '../db/ledger.js';
import { fleetAccounts, purchaseMaker } from './ledger-purchases.js';
import { BENCH_FLEET, dropSchema, seedFreshSchema } from '../tools/bench-fleet.js';
import { createPool } from '../db/pool.js';
import { TICKS_PER_SECOND, sampleCpu, stealShare, ticksBetween, type CpuSample } from './probes/cpu-budget.js';
import { fitPerBatch, percentile } from './stats.js';

const env = z
  .object({
    DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/test'),
    BENCH_LEDGER_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('cynod_bench_ledger'),
    BENCH_LEDGER_SECONDS: z.coerce.number().positive().max(600).default(3),
    BENCH_LEDGER_SIZES: z.string().regex(/^\d+(,\d+)*$/).default('1,10,50,100,200'),
    BENCH_LEDGER_KEEP: z.enum(['0', '1']).default('0'),
    BENCH_LEDGER_RATES: z.string().regex(/^(\d+(,\d+)*)?$/).default('1000,3000,6000'),
    BENCH_LEDGER_RATE_SECONDS: z.coerce.number().positive().max(600).default(8),
    // the switch's defaults (switch/config.ts)
    LEDGER_GATHER_MS: z.coerce.number().int().min(0).max(50).default(4),
    LEDGER_GATHER_ITEMS: z.coerce.number().int().min(1).max(5_000).default(4),
  })
  .parse(process.env);

async function main(): Promise<void> {
  const schema = env.BENCH_LEDGER_SCHEMA;
  const { pool, seeded } = await seedFreshSchema(env.DATABASE_URL, schema, BENCH_FLEET, 2);
  // a pool of the ledger's own, as the switch's (db/pool.ts `ledger`: no planner settings statement a batch)
  const ledgerPool = createPool({ url: env.DATABASE_URL, schema, max: 1, ledger: true });
  try {
    const ledger = new Ledger(ledgerPool);
    // with the account hints the switch gives
    const purchase = purchaseMaker(seeded, Math.random, await fleetAccounts(pool));
    console.log(`Ledger.post, one batch in flight, ${env.BENCH_LEDGER_SECONDS} s per size (node ${process.version})`);
    console.log('  size  batches/s  items/s   avg ms   p99 ms  µs/item  PostgreSQL CPU µs/item  Node CPU µs/item');
    const perBatchCpu: { items: number; cost: number }[] = [];
    const perBatchNode: { items: number; cost: number }[] = [];
    // warm-up: plans cached, pages in shared buffers
    for (let i = 0; i < 50; i++) await ledger.post(Array.from({ length: 50 }, purchase));
    for (const size of env.BENCH_LEDGER_SIZES.split(',').map(Number)) {
      const times: number[] = [];
      const until = performance.now() + env.BENCH_LEDGER_SECONDS * 1000;
      let approved = 0;
      const cpu0 = readCpu();
      let ownUs = 0;
      while (performance.now() < until) {
        const batch = Array.from({ length: size }, purchase);
        const own0 = process.cpuUsage();
        const t0 = performance.now();
        const r = await ledger.post(batch);
        times.push(performance.now() - t0);
        const own = process.cpuUsage(own0);
        ownUs += own.user + own.system;
        for (const x of r) if (x.outcome === 'approved') approved++;
      }
      const cpu1 = readCpu();
      // µs of this process's CPU in Ledger.post (building, sending and reading the rounds,
      // deciding) per batch: nothing else runs while a post is awaited
      const nodeBatchUs = ownUs / times.length;
      perBatchNode.push({ items: size, cost: nodeBatchUs });
      // µs of PostgreSQL CPU per batch over the size's run
      const pgUs = postgresUsBetween(cpu0, cpu1);
      const pgBatchUs = pgUs === undefined ? undefined : pgUs / times.length;
      if (pgBatchUs !== undefined) perBatchCpu.push({ items: size, cost: pgBatchUs });
      const total = times.reduce((a, b) => a + b, 0);
      const sorted = [...times].sort((a, b) => a - b);
      const avg = total / times.length;
      if (approved !== times.length * size) throw new Error(`${times.length * size - approved} purchases not approved at size ${size}`);
      console.log(
        `  ${String(size).padStart(4)} ${(times.length / (total / 1000)).toFixed(0).padStart(10)} ${((times.length * size) / (total / 1000)).toFixed(0).padStart(8)} ` +
          `${avg.toFixed(2).padStart(8)} ${percentile(sorted, 99).toFixed(2).padStart(8)} ${((avg * 1000) / size).toFixed(1).padStart(8)}  ${(pgBatchUs === undefined ? '-' : (pgBatchUs / size).toFixed(1)).padStart(8)}  ${(nodeBatchUs / size).toFixed(1).padStart(8)}`,
      );
    }
    // What a batch costs whatever its size (call, plans' start-up, commit) and what each item adds.
    const fit = fitPerBatch(perBatchCpu);
    if (fit) console.log(`PostgreSQL CPU per batch ~ ${fit.fixed.toFixed(0)} µs + ${fit.perItem.toFixed(1)} µs x items (least squares over the sizes)`);
    const nodeFit = fitPerBatch(perBatchNode);
    if (nodeFit) console.log(`Node CPU per batch ~ ${nodeFit.fixed.toFixed(0)} µs + ${nodeFit.perItem.toFixed(1)} µs x items (this process: the posting's side)`);
    const rates = env.BENCH_LEDGER_RATES === '' ? [] : env.BENCH_LEDGER_RATES.split(',').map(Number);
    if (rates.length > 0) {
      console.log(
        `\nLedgerBatcher at fixed rates: one lane, gathering ${env.LEDGER_GATHER_MS} ms or ${env.LEDGER_GATHER_ITEMS} items, ${env.BENCH_LEDGER_RATE_SECONDS} s per rate after 2 s not counted`,
      );
      console.log('  rate/s  posted/s  items/batch   p50 ms   p99 ms  Node CPU µs/item (user + sys)  PostgreSQL CPU µs/item  host steal');
      for (const rate of rates) console.log(describeRate(await atRate(ledger, purchase, rate)));
    }
  } finally {
    await ledgerPool.end();
    await pool.end();
    if (env.BENCH_LEDGER_KEEP === '0') await dropSchema(env.DATABASE_URL, schema);
  }
}

/** The machine and PostgreSQL's processes from /proc (Linux); elsewhere undefined, and the CPU columns read "-". */
function readCpu(): CpuSample | undefined {
  try {
    return sampleCpu(process.pid);
  } catch {
    return undefined;
  }
}

/** µs of CPU PostgreSQL's processes used between two readings. */
function postgresUsBetween(a: CpuSample | undefined, b: CpuSample | undefined): number | undefined {
  return a && b ? (ticksBetween(a.postgres, b.postgres) / TICKS_PER_SECOND) * 1e6 : undefined;
}

interface RateRun {
  rate: number;
  seconds: number;
  /** Each counted purchase's time from its post to its result, ms, sorted. */
  times: number[];
  batches: number;
  items: number;
  nodeUser: number;
  nodeSystem: number;
  /** µs of PostgreSQL CPU over the counted window; undefined without /proc. */
  postgresUs: number | undefined;
  /** Share of the machine's ticks the host stole over the window. */
  steal: number | undefined;
}

/**
 * Purchases posted through a LedgerBatcher as they fall due at `rate` a second (a 1 ms timer, as
 * the simulator's), the first 2 s not counted. Every purchase must be approved.
 */
async function atRate(ledger: Ledger, purchase: () => LedgerItem, rate: number): Promise<RateRun> {
  let batches = 0;
  let items = 0;
  const batcher = new LedgerBatcher(ledger, {
    maxBatch: 400,
    gatherMs: env.LEDGER_GATHER_MS,
    gatherItems: env.LEDGER_GATHER_ITEMS,
    onBatch: (size) => {
      batches++;
      items += size;
    },
  });
  const times: number[] = [];
  const failures: string[] = [];
  let counting = false;
  const start = performance.now();
  const warmMs = 2000;
  const endMs = warmMs + env.BENCH_LEDGER_RATE_SECONDS * 1000;
  let sent = 0;
  // the counted window's ends: `own` at its end is this process's CPU since its start
  type Mark = { cpu: CpuSample | undefined; own: NodeJS.CpuUsage; at: number; batches: number; items: number };
  let mark: Mark | undefined;
  let last: Mark | undefined;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now() - start;
      if (!counting && now >= warmMs) {
        counting = true;
        mark = { cpu: readCpu(), own: process.cpuUsage(), at: performance.now(), batches, items };
      }
      if (now >= endMs) {
        last = { cpu: readCpu(), own: process.cpuUsage(mark?.own), at: performance.now(), batches, items };
        resolve();
        return;
      }
      const due = Math.floor((now * rate) / 1000);
      for (; sent < due; sent++) {
        const counted = counting;
        const t0 = performance.now();
        batcher.post(purchase(), 0).then(
          (r) => {
            if (r.outcome !== 'approved') failures.push(r.outcome);
            else if (counted) times.push(performance.now() - t0);
          },
          (e: unknown) => failures.push(String(e)),
        );
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  await batcher.drain();
  if (failures.length > 0) throw new Error(`${failures.length} purchases not approved at ${rate}/s: ${failures[0]}`);
  const a = mark as Mark;
  const b = last as Mark;
  const postgresUs = postgresUsBetween(a.cpu, b.cpu);
  const steal = a.cpu && b.cpu ? stealShare(a.cpu, b.cpu) : undefined;
  return {
    rate,
    seconds: (b.at - a.at) / 1000,
    times: times.sort((x, y) => x - y),
    batches: b.batches - a.batches,
    items: b.items - a.items,
    nodeUser: b.own.user,
    nodeSystem: b.own.system,
    postgresUs,
    steal,
  };
}

function describeRate(r: RateRun): string {
  // per purchase posted in the counted window (the window's own CPU over its own posts)
  const n = (r.seconds * r.rate) || 1;
  const node = `${((r.nodeUser + r.nodeSystem) / n).toFixed(0)} (${(r.nodeUser / n).toFixed(0)} + ${(r.nodeSystem / n).toFixed(0)})`;
  return (
    `  ${String(r.rate).padStart(6)} ${(r.times.length / r.seconds).toFixed(0).padStart(9)} ${(r.items / Math.max(1, r.batches)).toFixed(1).padStart(12)} ` +
    `${percentile(r.times, 50).toFixed(2).padStart(8)} ${percentile(r.times, 99).toFixed(2).padStart(8)}  ${node.padStart(29)}  ${(r.postgresUs === undefined ? '-' : (r.postgresUs / n).toFixed(0)).padStart(22)}  ${r.steal === undefined ? '-' : `${(r.steal * 100).toFixed(0)}%`}`
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
