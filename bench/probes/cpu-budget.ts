/**
 * Where the machine's CPU goes during a load step, per answered message: the switch process,
 * PostgreSQL (its backends serving the switch's connections and its own background processes:
 * the WAL writer, the checkpointer; not the backends of other clients), Redis, the simulator
 * (the processes this one started running `terminal-sim/cli.js` or its bin: the measuring
 * instrument, which on the bench machine shares the cores), and the rest of the machine (kernel
 * work charged to no process, other services, other clients' PostgreSQL backends). Read from
 * /proc (Linux) every 250 ms; a step's window is the simulator's own measurement window, so its
 * warm-up and start-up are left out. The processes are told apart so that a machine shared with
 * other work (tests of other checkouts against the same PostgreSQL, their simulators) does not
 * charge that work to the switch: it falls to "other", which the figures compared leave out.
 *
 * On a machine where everything shares 2 cores, the sum per answer bounds the rate:
 * cores x 1,000,000 / (µs per answer) answers per second at 100% busy, before any latency target.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cpus } from 'node:os';

/** Cumulative CPU in clock ticks (USER_HZ) at one instant. */
export interface CpuSample {
  /** Date.now() when read. */
  at: number;
  /** Busy ticks of the whole machine (user, nice, system, irq, softirq, steal). */
  busy: number;
  /** Every tick of the whole machine (busy, idle, iowait). */
  total: number;
  /** Steal ticks of the whole machine: time the host gave this virtual machine's cores to others (part of busy). */
  steal: number;
  /** utime + stime of the switch process. */
  process: number;
  /** Resident memory of the switch process, bytes (0 once it is gone). */
  rss: number;
  /** utime + stime of each PostgreSQL process counted (see postgresClientPort), by pid. */
  postgres: ReadonlyMap<number, number>;
  /** utime + stime of each `redis-server` process, by pid. */
  redis: ReadonlyMap<number, number>;
  /** utime + stime of each simulator process (see isSimulatorCommand) this process started, by pid. */
  simulator: ReadonlyMap<number, number>;
}

/** Cores used on average (1.0 = one core busy the whole window). */
export interface CpuShares {
  seconds: number;
  process: number;
  postgres: number;
  redis: number;
  simulator: number;
  /** Machine busy minus the four above (never below 0). */
  other: number;
  /** Of the machine busy, the time the host took from its cores (steal): a part of other. */
  stolen: number;
  machine: number;
  /** Share of the machine busy, 0..1. */
  busyShare: number;
}

export interface CpuPerAnswer {
  processUs: number;
  postgresUs: number;
  redisUs: number;
  simulatorUs: number;
  otherUs: number;
  /** The host's steal, a part of otherUs. */
  stolenUs: number;
  /** The run's own processes: the switch (or the ceiling server), PostgreSQL, Redis, the simulator. */
  countedUs: number;
  /** countedUs + otherUs: the whole machine. */
  totalUs: number;
  /** cores x 1e6 / totalUs: answers per second with every core busy at this cost. */
  boundPerSecond: number;
}

/** Clock ticks per second of /proc's CPU counters (USER_HZ on Linux). */
export const TICKS_PER_SECOND = 100;

/** The first line of /proc/stat ("cpu  user nice system idle iowait irq softirq steal ..."). */
export function parseProcStat(text: string): { busy: number; total: number; steal: number } {
  const line = text.split('\n', 1)[0];
  if (!line.startsWith('cpu ')) throw new Error('not a /proc/stat cpu line');
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = user + nice + system + irq + softirq + (steal || 0);
  return { busy, total: busy + idle + iowait, steal: steal || 0 };
}

/**
 * utime + stime, the command name (which may hold spaces), the parent's pid and the start time
 * (clock ticks after boot: with the pid, a process's identity) of a /proc/PID/stat line.
 */
export function parsePidStat(text: string): { comm: string; ticks: number; start: number; ppid: number } {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const f = text.slice(close + 2).split(' ');
  return { comm: text.slice(open + 1, close), ticks: Number(f[11]) + Number(f[12]), start: Number(f[19]), ppid: Number(f[1]) };
}

function readTicks(pid: number | string): { comm: string; ticks: number; start: number; ppid: number } | undefined {
  try {
    return parsePidStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Resident memory (VmRSS) of a process in bytes; 0 when it is gone. */
export function readRss(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Whether a command line (NUL-separated, as in /proc/PID/cmdline) runs the simulator: one of its
 * arguments is `terminal-sim/cli.js` (as `make bench` and the CI check start it, node flags or
 * not) or the `terminal-sim` bin (npx). A test file about the simulator is not one.
 */
export function isSimulatorCommand(cmdline: string): boolean {
  return cmdline
    .split('\0')
    .slice(1)
    .some((arg) => /(^|\/)terminal-sim(\/cli\.js)?$/.test(arg));
}

function isSimulator(pid: number | string): boolean {
  try {
    return isSimulatorCommand(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * What a PostgreSQL process title (its /proc/PID/cmdline, e.g. `postgres: 15/main: postgres test
 * 127.0.0.1(51644) idle`) says of its client: the client's TCP port for a backend serving one,
 * null for a backend serving a Unix socket (`[local]`), undefined for the postmaster and the
 * background processes (checkpointer, WAL writer, autovacuum...), which work for every client.
 */
export function postgresClientPort(cmdline: string): number | null | undefined {
  const title = cmdline.replace(/\0/g, ' ');
  if (/\s\[local\](\s|$)/.test(title)) return null;
  const m = /\s\S+\((\d+)\)(\s|$)/.exec(title);
  return m ? Number(m[1]) : undefined;
}

/** Socket inode -> local port of each TCP socket in a /proc/net/tcp or tcp6 table. */
export function parseTcpTable(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const port = parseInt(f[1].slice(f[1].lastIndexOf(':') + 1), 16);
    out.set(Number(f[9]), port);
  }
  return out;
}

/**
 * The local ports of a process's TCP sockets: among them its connections to PostgreSQL, whose
 * backends name that port in their titles (the client's port, as PostgreSQL sees it).
 */
export function localPortsOf(pid: number): Set<number> {
  const inodes: number[] = [];
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.push(Number(m[1]));
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    return new Set(); // gone
  }
  const ports = new Set<number>();
  if (inodes.length === 0) return ports;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let byInode: Map<number, number>;
    try {
      byInode = parseTcpTable(readFileSync(table, 'utf8'));
    } catch {
      continue; // no IPv6
    }
    for (const i of inodes) {
      const port = byInode.get(i);
      if (port !== undefined) ports.add(port);
    }
  }
  return ports;
}

/** Processes (pid and start time) already recognised, so that a command line is read once per process. */
const simulatorPids = new Map<string, boolean>();
const postgresPorts = new Map<string, number | null | undefined>();
/**
 * Processes that are none of those counted (not PostgreSQL, Redis or node), skipped while they
 * live: of a hundred processes, a reading then opens a dozen files instead of a hundred.
 */
const ignored = new Set<string>();

function postgresPortOf(pid: string, start: number): number | null | undefined {
  const key = `${pid}:${start}`;
  if (postgresPorts.has(key)) return postgresPorts.get(key);
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return null; // gone: nothing to count
  }
  const port = postgresClientPort(cmdline);
  // Only a title PostgreSQL has set is kept: a backend just forked may still show the postmaster's.
  if (cmdline.startsWith('postgres:')) {
    if (postgresPorts.size > 10_000) postgresPorts.clear();
    postgresPorts.set(key, port);
  }
  return port;
}

/**
 * One reading of the machine, the process `pid`, every PostgreSQL process with the client port its
 * title names, Redis, and the simulators this process started. Which PostgreSQL backends work for
 * `pid` is decided apart (countedFor), from its sockets.
 */
interface Reading extends Omit<CpuSample, 'postgres'> {
  postgres: Map<number, { ticks: number; port: number | null | undefined }>;
}

function readMachine(pid: number): Reading {
  const at = Date.now();
  const { busy, total, steal } = parseProcStat(readFileSync('/proc/stat', 'utf8'));
  const postgres = new Map<number, { ticks: number; port: number | null | undefined }>();
  const redis = new Map<number, number>();
  const simulator = new Map<number, number>();
  const alive = new Set<string>();
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    alive.add(d);
    if (ignored.has(d)) continue;
    const s = readTicks(d);
    if (s === undefined) continue;
    if (s.comm !== 'postgres' && s.comm !== 'redis-server' && s.comm !== 'node') ignored.add(d);
    else if (s.comm === 'postgres') postgres.set(Number(d), { ticks: s.ticks, port: postgresPortOf(d, s.start) });
    else if (s.comm === 'redis-server') redis.set(Number(d), s.ticks);
    else if (s.comm === 'node' && Number(d) !== pid && s.ppid === process.pid) {
      const key = `${d}:${s.start}`;
      let sim = simulatorPids.get(key);
      if (sim === undefined) {
        sim = isSimulator(d);
        if (simulatorPids.size > 10_000) simulatorPids.clear();
        simulatorPids.set(key, sim);
      }
      if (sim) simulator.set(Number(d), s.ticks);
    }
  }
  for (const d of ignored) if (!alive.has(d)) ignored.delete(d);
  return { at, busy, total, steal, process: readTicks(pid)?.ticks ?? 0, rss: readRss(pid), postgres, redis, simulator };
}

/**
 * The reading with the PostgreSQL processes that work for a process whose local TCP ports are
 * `ports`: the backends of its connections and the background processes (no client); a process
 * gone meanwhile (null: no port to match) is left out.
 */
function countedFor(r: Reading, ports: ReadonlySet<number>): CpuSample {
  const postgres = new Map<number, number>();
  for (const [pid, p] of r.postgres) if (p.port === undefined || (p.port !== null && ports.has(p.port))) postgres.set(pid, p.ticks);
  return { ...r, postgres };
}

/**
 * One reading of the machine, the process `pid`, the PostgreSQL processes that work for it (its
 * own connections' backends and the background processes), Redis, and the simulators this
 * process started.
 */
export function sampleCpu(pid: number): CpuSample {
  return countedFor(readMachine(pid), localPortsOf(pid));
}

/**
 * A measurement in which the host's steal took more than this share of the CPU per answer counted
 * is disturbed: steal raises what each wake-up costs, so at a modest rate, where an answer costs
 * mostly wake-ups, the figure reads high, and the ceiling's (nearly all wake-ups) more than the
 * switch's (docs/benchmarks.md, "Host steal"). The CI check measures such a round again
 * (bench/ci-budget.ts), `make bench` its step at 1,000/s (bench/summary.ts costStepsUsed).
 */
export const MAX_STEAL_SHARE = 0.2;

/** Whether the steal during a measurement exceeded MAX_STEAL_SHARE of `countedUs` (false when it was not measured). */
export function stealDisturbed(countedUs: number, stolenUs: number | undefined, share = MAX_STEAL_SHARE): boolean {
  return (stolenUs ?? 0) > share * countedUs;
}

/** The share of the machine's ticks from `a` to `b` that the host stole (0 when no tick passed). */
export function stealShare(a: CpuSample, b: CpuSample): number {
  const total = b.total - a.total;
  return total > 0 ? (b.steal - a.steal) / total : 0;
}

/**
 * The shares between the last sample at or before `from` and the first at or after `to`
 * (the samples in time order); undefined when the samples do not cover the window.
 */
export function sharesBetween(samples: readonly CpuSample[], from: number, to: number, cores: number): CpuShares | undefined {
  let a: CpuSample | undefined;
  let b: CpuSample | undefined;
  for (const s of samples) {
    if (s.at <= from) a = s;
    if (s.at >= to && !b) b = s;
  }
  if (!a || !b || b.at <= a.at) return undefined;
  const seconds = (b.at - a.at) / 1000;
  const process = (b.process - a.process) / TICKS_PER_SECOND / seconds;
  const postgres = ticksBetween(a.postgres, b.postgres) / TICKS_PER_SECOND / seconds;
  const redis = ticksBetween(a.redis, b.redis) / TICKS_PER_SECOND / seconds;
  const simulator = ticksBetween(a.simulator, lastSeen(samples, a, b, (s) => s.simulator)) / TICKS_PER_SECOND / seconds;
  const totalTicks = b.total - a.total;
  const busyShare = totalTicks > 0 ? (b.busy - a.busy) / totalTicks : 0;
  const machine = busyShare * cores;
  const other = Math.max(0, machine - process - postgres - redis - simulator);
  const stolen = Math.min(other, stealShare(a, b) * cores);
  return { seconds, process, postgres, redis, simulator, other, stolen, machine, busyShare };
}

/**
 * Each process's ticks at the last sample from a to b in which it was alive. The simulator
 * exits right after its window, often before the sample that closes it: what it used up to
 * its last sample still counts (the ticks after it, at most 250 ms worth, fall to "other").
 */
export function lastSeen(samples: readonly CpuSample[], a: CpuSample, b: CpuSample, of: (s: CpuSample) => ReadonlyMap<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of samples) {
    if (s.at < a.at || s.at > b.at) continue;
    for (const [pid, ticks] of of(s)) out.set(pid, ticks);
  }
  return out;
}

/**
 * CPU the processes used between two readings: a process in both counts its difference, one
 * started meanwhile (a new connection's backend) all of its ticks; one gone by the second
 * reading is left out (its last ticks are lost, never counted negative).
 */
export function ticksBetween(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): number {
  let n = 0;
  for (const [pid, ticks] of b) n += Math.max(0, ticks - (a.get(pid) ?? 0));
  return n;
}

export function perAnswer(s: CpuShares, answeredPerSecond: number, cores: number): CpuPerAnswer | undefined {
  if (!(answeredPerSecond > 0)) return undefined;
  const us = (c: number): number => (c / answeredPerSecond) * 1e6;
  const countedUs = us(s.process + s.postgres + s.redis + s.simulator);
  const totalUs = countedUs + us(s.other);
  return {
    processUs: us(s.process),
    postgresUs: us(s.postgres),
    redisUs: us(s.redis),
    simulatorUs: us(s.simulator),
    otherUs: us(s.other),
    stolenUs: us(s.stolen),
    countedUs,
    totalUs,
    boundPerSecond: totalUs > 0 ? (cores * 1e6) / totalUs : Infinity,
  };
}

/**
 * "CPU per answer: switch 72 + PostgreSQL 108 + Redis 2 + simulator 25 = 207 µs (+ other 8), machine 69% busy";
 * other says how much of it the host stole, when it stole any ("(+ other 478, of which host steal 400)").
 */
export function describeBudget(shares: CpuShares | undefined, budget: CpuPerAnswer | undefined, name = 'switch'): string {
  if (!shares || !budget) return 'CPU per answer: not measured';
  const b = budget;
  const f = (us: number): string => us.toFixed(0);
  return `CPU per answer: ${name} ${f(b.processUs)} + PostgreSQL ${f(b.postgresUs)} + Redis ${f(b.redisUs)} + simulator ${f(b.simulatorUs)} = ${f(b.countedUs)} µs (+ other ${f(b.otherUs)}${b.stolenUs >= 0.5 ? `, of which host steal ${f(b.stolenUs)}` : ''}), machine ${(shares.busyShare * 100).toFixed(0)}% busy`;
}

/**
 * Samples every 250 ms while a step runs (and once at its start and its end). The process's
 * sockets, which tell its PostgreSQL backends from other clients', are read at start() and at
 * stop() only (a backend opened in between is still open at stop(): the pools keep their
 * connections): with 500 terminal connections, reading them (/proc/net/tcp, every descriptor's
 * link) cost about 10 ms of CPU, and that burst every 250 ms on the measured cores raised the
 * p99 of the load being measured (the switch at 2,500/s for 30 s: 11.0-12.5 ms in four runs
 * sampled so, 8.6-9.6 in eight without a sampler). A reading costs about 0.3 ms: the processes
 * that are none of those counted are skipped (see `ignored`).
 */
export class CpuSampler {
  readonly cores = cpus().length;
  private readonly readings: Reading[] = [];
  private readonly ports = new Set<number>();
  private counted: CpuSample[] | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pid: number) {}

  start(): void {
    for (const p of localPortsOf(this.pid)) this.ports.add(p);
    this.read();
    this.timer = setInterval(() => this.read(), 250);
  }

  stop(): void {
    clearInterval(this.timer);
    for (const p of localPortsOf(this.pid)) this.ports.add(p);
    this.read();
  }

  private read(): void {
    this.readings.push(readMachine(this.pid));
    this.counted = undefined;
  }

  private get samples(): CpuSample[] {
    return (this.counted ??= this.readings.map((r) => countedFor(r, this.ports)));
  }

  /** The step's window: from the simulator's report (start of measurement, seconds measured). */
  window(startedAt: string, elapsedSeconds: number): CpuShares | undefined {
    const from = Date.parse(startedAt);
    return sharesBetween(this.samples, from, from + elapsedSeconds * 1000, this.cores);
  }

  /** The window's shares and what they cost per answered message. */
  measure(startedAt: string, elapsedSeconds: number, answeredPerSecond: number): { shares?: CpuShares; budget?: CpuPerAnswer } {
    const shares = this.window(startedAt, elapsedSeconds);
    return { shares, budget: shares && perAnswer(shares, answeredPerSecond, this.cores) };
  }

  /** Cores the process used from start() to stop(), warm-up included. */
  processCores(): number {
    const a = this.readings[0];
    const b = this.readings[this.readings.length - 1];
    return b && b.at > a.at ? (b.process - a.process) / TICKS_PER_SECOND / ((b.at - a.at) / 1000) : 0;
  }

  /** The process's largest resident memory seen, bytes. */
  maxRss(): number {
    let m = 0;
    for (const s of this.readings) m = Math.max(m, s.rss);
    return m;
  }
}
