// The CPU budget of `make bench`: /proc parsing, the step's window, the cost per answer, and a
// real sample of this process and the machine's PostgreSQL.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { CpuSampler, describeBudget, isSimulatorCommand, lastSeen, localPortsOf, parsePidStat, parseProcStat, parseTcpTable, perAnswer, postgresClientPort, sampleCpu, sharesBetween, stealDisturbed, MAX_STEAL_SHARE, ticksBetween, TICKS_PER_SECOND, type CpuSample } from '../../../bench/probes/cpu-budget.js';
import { createPool } from '../../../db/pool.js';

t.test('parseProcStat: busy is everything but idle and iowait', async (t) => {
  const s = parseProcStat('cpu  100 5 30 800 40 2 3 7 0 0\ncpu0 50 2 15 400 20 1 1 3 0 0\n');
  t.equal(s.busy, 100 + 5 + 30 + 2 + 3 + 7);
  t.equal(s.total, 147 + 800 + 40);
  t.equal(s.steal, 7, 'steal: the eighth number, and a part of busy');
  t.equal(parseProcStat('cpu  100 5 30 800 40 2 3\n').steal, 0, 'a kernel that does not count steal');
  t.throws(() => parseProcStat('intr 1 2 3'), /not a \/proc\/stat cpu line/);
});

t.test('parsePidStat: a name with spaces and parentheses, utime + stime', async (t) => {
  // fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  const s = parsePidStat('4242 (node (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 56 0 0 20 0 11 0');
  t.equal(s.comm, 'node (x) y');
  t.equal(s.ticks, 1290);
  const full = parsePidStat('4242 (node) S 17 4242 4242 0 -1 4194560 900 0 0 0 1234 56 0 0 20 0 11 0 987654 1000000 300');
  t.equal(full.start, 987654, 'start time: the 22nd field');
  t.equal(full.ppid, 17, 'the parent: the 4th field');
});

const sample = (at: number, busy: number, total: number, process: number, postgres: number, simulator: [number, number][] = [], redis = 0, steal = 0): CpuSample => ({
  at,
  busy,
  total,
  steal,
  process,
  rss: 0,
  postgres: new Map([[7, postgres]]),
  redis: new Map([[9, redis]]),
  simulator: new Map(simulator),
});

t.test('ticksBetween: PostgreSQL processes come and go between readings', async (t) => {
  const a = new Map([[10, 500], [11, 40], [12, 7]]);
  const b = new Map([[10, 530], [12, 9], [13, 25]]); // 11 exited, 13 started (a new backend)
  t.equal(ticksBetween(a, b), 30 + 2 + 25, 'differences of the survivors plus the newcomer; the gone one is not negative');
  t.equal(ticksBetween(b, b), 0);
});

t.test('sharesBetween: the samples around the window, cores from ticks', async (t) => {
  // 2 cores, 100 ticks per second each: 200 total ticks per second
  const samples = [sample(0, 0, 0, 0, 0), sample(1000, 150, 200, 40, 60), sample(2000, 300, 400, 80, 120), sample(3000, 450, 600, 120, 180)];
  const s = sharesBetween(samples, 1100, 2900, 2);
  t.ok(s);
  t.equal(s?.seconds, 2, 'from the last sample before the window to the first after it');
  t.equal(s?.process, 0.4);
  t.equal(s?.postgres, 0.6);
  t.equal(s?.busyShare, 0.75);
  t.equal(s?.machine, 1.5);
  t.equal(s?.simulator, 0, 'no simulator sampled');
  t.equal(s?.redis, 0, 'Redis idle');
  t.equal(Number(s?.other.toFixed(9)), 0.5);
  // Redis has its own share, out of other
  const withRedis = sharesBetween([sample(0, 0, 0, 0, 0, [], 0), sample(1000, 150, 200, 40, 60, [], 10)], 0, 1000, 2);
  t.equal(withRedis?.redis, 0.1);
  t.equal(Number(withRedis?.other.toFixed(9)), 0.5 - 0.1);
  t.equal(sharesBetween(samples, -5, 2000, 2), undefined, 'no sample before the window');
  t.equal(sharesBetween(samples, 1000, 3500, 2), undefined, 'no sample after the window');
  // a machine whose counters say less than the processes (sampling skew): other is never negative
  const skew = sharesBetween([sample(0, 0, 0, 0, 0), sample(1000, 10, 200, 40, 60)], 0, 1000, 2);
  t.equal(skew?.other, 0);
  t.equal(skew?.stolen, 0);
  // the host's steal is a part of other: 40 of 200 ticks stolen on 2 cores is 0.4 of a core, of other's 0.5
  const stolen = sharesBetween([sample(0, 0, 0, 0, 0, [], 0, 0), sample(1000, 150, 200, 40, 60, [], 0, 40)], 0, 1000, 2);
  t.equal(Number(stolen?.stolen.toFixed(9)), 0.4);
  t.equal(Number(stolen?.other.toFixed(9)), 0.5, 'other unchanged: steal was always in it');
  // never more than other (the processes' ticks may include time the host took)
  const capped = sharesBetween([sample(0, 0, 0, 0, 0, [], 0, 0), sample(1000, 150, 200, 40, 60, [], 0, 80)], 0, 1000, 2);
  t.equal(Number(capped?.stolen.toFixed(9)), Number(capped?.other.toFixed(9)));
});

t.test('sharesBetween: the simulator, counted up to its last sample even when it exits before the window closes', async (t) => {
  // pid 50 runs from before the window and exits between the samples at 2000 and 3000; pid 51
  // starts inside the window (counted in full, as a new PostgreSQL backend is)
  const samples = [
    sample(0, 0, 0, 0, 0, [[50, 100]]),
    sample(1000, 150, 200, 40, 60, [[50, 130]]),
    sample(2000, 300, 400, 80, 120, [[50, 160], [51, 5]]),
    sample(3000, 450, 600, 120, 180, [[51, 9]]),
  ];
  const s = sharesBetween(samples, 1000, 3000, 2);
  t.equal(s?.seconds, 2);
  t.equal(Number(s?.simulator.toFixed(9)), 0.195, '(160 - 130) + 9 ticks, 0.39 s over 2 s');
  t.equal(Number(s?.other.toFixed(9)), 0.305, 'the simulator no longer in other (1.5 - 0.4 - 0.6 - 0.195)');
  const seen = lastSeen(samples, samples[1], samples[3], (x) => x.simulator);
  t.same([...seen], [[50, 160], [51, 9]], 'each pid at its last sample in the window');
  t.same([...lastSeen(samples, samples[0], samples[1], (x) => x.simulator)], [[50, 130]], 'samples outside the window are not read');
});

t.test('stealDisturbed: steal over a fifth of the CPU per answer counted', async (t) => {
  t.equal(MAX_STEAL_SHARE, 0.2);
  t.equal(stealDisturbed(700, undefined), false, 'no steal measured');
  t.equal(stealDisturbed(700, 140), false, 'a fifth exactly');
  t.equal(stealDisturbed(700, 141), true);
  t.equal(stealDisturbed(230, 84), true, 'a ceiling round seen on one host (37%)');
  t.equal(stealDisturbed(230, 10, 0.01), true, 'another share');
});

t.test('isSimulatorCommand: the simulator started by the bench, by npx, with node flags; not a test about it', async (t) => {
  const cmd = (...argv: string[]): string => argv.map((a) => `${a}\u0000`).join('');
  t.ok(isSimulatorCommand(cmd('/usr/bin/node', 'dist/terminal-sim/cli.js', 'load', '--rate', '100')));
  t.ok(isSimulatorCommand(cmd('node', '--cpu-prof', '/work/x/dist/terminal-sim/cli.js', 'send')));
  t.ok(isSimulatorCommand(cmd('node', '/work/x/node_modules/.bin/terminal-sim', 'load')));
  t.notOk(isSimulatorCommand(cmd('node', 'dist/test/terminal-sim/load.test.js')));
  t.notOk(isSimulatorCommand(cmd('node', 'dist/switch/main.js')));
  t.notOk(isSimulatorCommand(cmd('terminal-sim/cli.js')), 'argv[0] alone is the executable, not a script');
  t.notOk(isSimulatorCommand(''));
});

t.test('perAnswer: µs of CPU per answered message and the rate it bounds', async (t) => {
  const shares = { seconds: 10, process: 0.44, postgres: 0.65, redis: 0.012, simulator: 0.15, other: 0.04, stolen: 0, machine: 1.292, busyShare: 0.646 };
  const b = perAnswer(shares, 6000, 2);
  t.ok(b);
  t.equal(Math.round(b?.processUs ?? 0), 73);
  t.equal(Math.round(b?.postgresUs ?? 0), 108);
  t.equal(Math.round(b?.redisUs ?? 0), 2);
  t.equal(Math.round(b?.simulatorUs ?? 0), 25);
  t.equal(Math.round(b?.otherUs ?? 0), 7);
  t.equal(Math.round(b?.countedUs ?? 0), 209, 'the run\'s processes, other left out');
  t.equal(Math.round(b?.totalUs ?? 0), 215, 'the whole machine');
  t.equal(Math.round(b?.boundPerSecond ?? 0), 9288, '2 cores / 215.3 µs');
  t.equal(describeBudget(shares, b), 'CPU per answer: switch 73 + PostgreSQL 108 + Redis 2 + simulator 25 = 209 µs (+ other 7), machine 65% busy');
  t.equal(describeBudget(undefined, b), 'CPU per answer: not measured');
  const robbed = { ...shares, other: 0.5, stolen: 0.4 };
  const rb = perAnswer(robbed, 1000, 2);
  t.equal(Math.round(rb?.stolenUs ?? 0), 400);
  t.equal(describeBudget(robbed, rb), 'CPU per answer: switch 440 + PostgreSQL 650 + Redis 12 + simulator 150 = 1252 µs (+ other 500, of which host steal 400), machine 65% busy');
  t.equal(perAnswer({ seconds: 1, process: 0, postgres: 0, redis: 0, simulator: 0, other: 0, stolen: 0, machine: 0, busyShare: 0 }, 0, 2), undefined, 'nothing answered: no cost per answer');
});

t.test('sampleCpu and CpuSampler on this machine: this process busy shows up', async (t) => {
  const a = sampleCpu(process.pid);
  t.ok(a.total >= a.busy && a.busy > 0, 'machine counters read');
  t.ok(a.postgres.size >= 3, 'the PostgreSQL processes of the machine are found (postmaster, writers, checkpointer)');
  const sampler = new CpuSampler(process.pid);
  sampler.start();
  const from = Date.now();
  // 0.5 s of CPU on this process, however busy the machine is with other tests
  const cpu0 = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 100_000; i++) x += Math.sqrt(x + i);
    const used = process.cpuUsage(cpu0);
    if (used.user + used.system >= 500_000) break;
  }
  const to = Date.now();
  await new Promise((r) => setTimeout(r, 300));
  sampler.stop();
  t.ok(x > 0);
  const s = sampler.window(new Date(from).toISOString(), (to - from) / 1000);
  t.ok(s, 'the window is covered');
  const cpuSeconds = (s?.process ?? 0) * (s?.seconds ?? 0);
  t.ok(cpuSeconds >= 0.45, `the window holds this process's 0.5 s of CPU (${cpuSeconds.toFixed(2)} s)`);
  t.ok((s?.machine ?? 0) * (s?.seconds ?? 0) >= 0.45, 'the machine was at least that busy');
  t.equal(sampler.window(new Date(to + 60_000).toISOString(), 1), undefined, 'a window after the last sample');
  t.ok(sampler.processCores() * ((Date.now() - from) / 1000) >= 0.4, 'start to stop, the process used its 0.5 s of CPU');
  t.ok(sampler.maxRss() > 10 * 2 ** 20, 'its resident memory was read');
  const m = sampler.measure(new Date(from).toISOString(), (to - from) / 1000, 1000);
  t.same(m.shares, s, 'measure: the same window');
  t.equal(Math.round(m.budget?.processUs ?? 0), Math.round(((s?.process ?? 0) / 1000) * 1e6), 'and its cost per answer');
});

t.test('sampleCpu finds a running simulator by its command line, and the sampler counts it after it exited', async (t) => {
  // A stand-in with the simulator's script path: it burns 0.4 s of CPU and exits.
  const dir = mkdtempSync(join(tmpdir(), 'cynod-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'terminal-sim', 'cli.js');
  (await import('node:fs')).mkdirSync(join(dir, 'terminal-sim'));
  writeFileSync(script, "const c0 = process.cpuUsage(); let x = 0; for (;;) { for (let i = 0; i < 1e5; i++) x += Math.sqrt(i); const u = process.cpuUsage(c0); if (u.user + u.system >= 400000) break; } const all = process.cpuUsage(); process.stdout.write(String(all.user + all.system));");
  const sampler = new CpuSampler(process.pid);
  sampler.start();
  const from = Date.now();
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  // Our own samples, to follow this child alone: other test files run real simulators meanwhile.
  const samples: CpuSample[] = [sampleCpu(process.pid)];
  let said = '';
  child.stdout.on('data', (d: Buffer) => (said += d.toString()));
  const probe = setInterval(() => samples.push(sampleCpu(process.pid)), 50);
  await new Promise((r) => child.once('exit', r));
  clearInterval(probe);
  const to = Date.now();
  await new Promise((r) => setTimeout(r, 300));
  samples.push(sampleCpu(process.pid));
  sampler.stop();
  const pid = child.pid ?? -1;
  t.ok(samples.some((s) => s.simulator.has(pid)), 'sampleCpu lists it while it runs');
  const a = samples[0];
  const b = samples[samples.length - 1];
  t.notOk(b.simulator.has(pid), 'gone by the closing sample');
  const only = (m: ReadonlyMap<number, number>): Map<number, number> => new Map([...m].filter(([p]) => p === pid));
  t.equal(ticksBetween(only(a.simulator), only(b.simulator)), 0, 'from the two ends alone, its CPU would be lost');
  const childSeconds = ticksBetween(only(a.simulator), only(lastSeen(samples, a, b, (s) => s.simulator))) / TICKS_PER_SECOND;
  // what it used by its own account (its 0.4 s and its start-up), but for what came after its
  // last sample (50 ms apart, more on a busy machine); counted once, not more
  const own = Number(said) / 1e6;
  t.ok(own >= 0.4, `it reports its own CPU (${own.toFixed(2)} s)`);
  t.ok(childSeconds >= own / 2 && childSeconds <= own + 0.05, `its CPU up to its last sample counts (${childSeconds.toFixed(2)} s of ${own.toFixed(2)})`);
  const s = sampler.window(new Date(from).toISOString(), (to - from) / 1000);
  const simSeconds = (s?.simulator ?? 0) * (s?.seconds ?? 0);
  // the sampler (every 250 ms) may miss its last 250 ms; other simulators only add to it
  t.ok(simSeconds >= 0.1, `the sampler counts it after it exited (${simSeconds.toFixed(2)} s)`);
  t.notOk(sampleCpu(process.pid).simulator.has(process.pid), 'the process sampled for itself is never the simulator');
});

t.test('postgresClientPort: a backend names its client; the background processes none', async (t) => {
  const title = (s: string): string => s + '\u0000'.repeat(20);
  t.equal(postgresClientPort(title('postgres: 15/main: postgres test 127.0.0.1(51644) idle')), 51644);
  t.equal(postgresClientPort(title('postgres: postgres test 127.0.0.1(40001) idle in transaction')), 40001, 'no cluster name');
  t.equal(postgresClientPort(title('postgres: 15/main: app db ::1(5999) SELECT')), 5999, 'IPv6');
  t.equal(postgresClientPort(title('postgres: 15/main: postgres test [local] idle')), null, 'a Unix socket: no port to match');
  t.equal(postgresClientPort(title('postgres: 15/main: walwriter ')), undefined);
  t.equal(postgresClientPort(title('postgres: 15/main: checkpointer ')), undefined);
  t.equal(postgresClientPort(title('postgres: 15/main: autovacuum worker test')), undefined);
  t.equal(postgresClientPort('/usr/lib/postgresql/15/bin/postgres\u0000-D\u0000/var/lib/postgresql/15/main\u0000'), undefined, 'the postmaster');
});

t.test('parseTcpTable: local port by socket inode', async (t) => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 9855 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:C9BC 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 47925 1 0000000000000000 20 4 30 10 -1',
    '',
  ].join('\n');
  t.same([...parseTcpTable(text)], [[9855, 5432], [47925, 51644]]);
  const v6 = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123 1 0 100 0 0 10 0\n';
  t.same([...parseTcpTable(v6)], [[123, 8080]]);
});

t.test('localPortsOf: this process\'s TCP sockets', async (t) => {
  const server = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  t.teardown(() => socket.destroy());
  const ports = localPortsOf(process.pid);
  t.ok(ports.has(port), 'the listening socket');
  t.ok(ports.has(socket.localPort as number), 'the client socket');
  t.equal(localPortsOf(2 ** 22 + 1).size, 0, 'a process that does not exist has none');
});

t.test('sampleCpu counts the backends of this process\'s connections and not those of another process', async (t) => {
  const pool = createPool({ url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', max: 1 });
  t.teardown(() => pool.end());
  const ours = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  // another process's connection: a child holding one open until told to stop
  const child = spawn(process.execPath, ['--input-type=module', '-e', "import pg from 'pg'; const c = new pg.Client({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' }); await c.connect(); const r = await c.query('SELECT pg_backend_pid() AS pid'); process.stdout.write(String(r.rows[0].pid) + '\\n'); process.stdin.on('data', async () => { await c.end(); process.exit(0); });"], { stdio: ['pipe', 'pipe', 'inherit'], cwd: process.cwd() });
  t.teardown(() => child.kill());
  const theirs = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const s = sampleCpu(process.pid);
  t.ok(s.postgres.has(ours), 'the backend of this process\'s connection');
  t.notOk(s.postgres.has(theirs), 'not the backend of another process\'s connection');
  t.ok(s.postgres.size >= 3, 'the postmaster and the background processes (writers, checkpointer)');
  t.ok(sampleCpu(child.pid as number).postgres.has(theirs), 'sampled for that process, its backend is counted');
  t.ok(s.redis.size >= 1, 'the machine\'s Redis');
  child.stdin.write('stop\n');
});

t.test('sampleCpu: a simulator this process did not start is not counted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cynod-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  (await import('node:fs')).mkdirSync(join(dir, 'terminal-sim'));
  const script = join(dir, 'terminal-sim', 'cli.js');
  writeFileSync(script, "process.stdout.write(String(process.pid) + '\\n'); setTimeout(() => {}, 5000);");
  // started by a shell: its parent is the shell, not this process ("; true" keeps the shell from exec'ing it)
  const sh = spawn('/bin/sh', ['-c', `"${process.execPath}" "${script}"; true`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => sh.kill());
  const grandchild = await new Promise<number>((resolve) => sh.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  t.teardown(() => {
    try {
      process.kill(grandchild);
    } catch {
      /* gone */
    }
  });
  t.notOk(sampleCpu(process.pid).simulator.has(grandchild), 'another process\'s simulator (another checkout\'s bench) is not ours');
});

t.test('CpuSampler: a backend of a connection opened after start() counts, read from the sockets at stop()', async (t) => {
  const sampler = new CpuSampler(process.pid);
  sampler.start();
  const from = Date.now();
  const pool = createPool({ url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', max: 1 });
  t.teardown(() => pool.end());
  // about half a second of the backend's CPU
  const t0 = Date.now();
  while (Date.now() - t0 < 500) await pool.query('SELECT count(*) FROM generate_series(1, 300000)');
  const to = Date.now();
  await new Promise((r) => setTimeout(r, 300));
  sampler.stop();
  const s = sampler.window(new Date(from).toISOString(), (to - from) / 1000);
  const pgSeconds = (s?.postgres ?? 0) * (s?.seconds ?? 0);
  t.ok(pgSeconds >= 0.2, `its backend's CPU is counted (${pgSeconds.toFixed(2)} s of PostgreSQL)`);
});
