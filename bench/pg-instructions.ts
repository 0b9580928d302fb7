/**
 * PostgreSQL's cost of the ledger's batches in instructions, counted by callgrind: a number that
 * repeats within a few percent from run to run, where CPU time on the machines this runs on
 * moves by a fifth between two runs of the same code (`make bench-ledger`). A change to the
 * ledger's SQL or schema is measured by running this on both versions.
 *
 *   make bench-pg-instructions   BENCH_PG_SIZES=1,4,200 (batch sizes), BENCH_PG_BATCHES=40 (measured
 *                                batches for a size of 1; fewer for larger sizes, at least 5)
 *
 * It makes a cluster of its own in a temporary directory (initdb, a free port on 127.0.0.1, the
 * machine's PostgreSQL binaries; as the postgres user when run as root), seeds the bench fleet
 * there with PostgreSQL running natively, then starts PostgreSQL under `valgrind --tool=callgrind`
 * and posts batches of fuel purchases through `Ledger.post`, one connection, as one lane of the
 * switch does. Each backend's count is written when it exits, so each measurement is two runs on
 * two connections: warm-up batches alone, then the same warm-up and the measured batches (the same
 * items: the purchases come from a seeded generator); the difference is the measured batches'.
 * Kernel work (the socket, the WAL's fsync) is not counted: only the server's own code.
 *
 * Per statement, at each size: the same measurement with the lock statement, then the read
 * statement, sent twice in the first round (the copy's rows dropped): what each adds is its cost.
 * The rest is the write statement and the commit. Its pool is one of the ledger's own, as the
 * switch's: no planner settings statement (db/ledger/sql.ts SETTINGS).
 *
 * Needs valgrind (`apt-get install valgrind`) and PostgreSQL's server binaries (pg_config --bindir).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { Ledger } from '../db/ledger.js';
import { createPool } from '../db/pool.js';
import { exchangeTransport, type Transport } from '../db/ledger/wire.js';
import type { SeedResult } from '../backoffice/seed.js';
import { BENCH_FLEET, seedFreshSchema } from '../tools/bench-fleet.js';
import { freePort } from '../tools/free-port.js';
import { fleetAccounts, purchaseMaker, seededRandom, type FleetAccounts } from './ledger-purchases.js';

const env = z
  .object({
    BENCH_PG_SIZES: z.string().regex(/^\d+(,\d+)*$/).default('1,4,200'),
    BENCH_PG_BATCHES: z.coerce.number().int().min(5).max(10_000).default(40),
    BENCH_PG_BINDIR: z.string().optional(),
  })
  .parse(process.env);

const SCHEMA = 'cynod_pg_instructions';
const asRoot = process.getuid?.() === 0;

/** The machine's PostgreSQL server binaries: pg_config's, or the newest under /usr/lib/postgresql. */
function binDir(): string {
  if (env.BENCH_PG_BINDIR) return env.BENCH_PG_BINDIR;
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const fromConfig = r.status === 0 ? r.stdout.trim() : '';
  if (fromConfig && existsSync(join(fromConfig, 'initdb'))) return fromConfig;
  const versions = spawnSync('ls', ['/usr/lib/postgresql'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)) return `/usr/lib/postgresql/${v}/bin`;
  throw new Error('no PostgreSQL server binaries found (set BENCH_PG_BINDIR)');
}

/** A command, as the postgres user when this runs as root (PostgreSQL refuses to run as root). */
function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

function run(cmd: string, args: string[]): void {
  const [c, a] = asServerUser(cmd, args);
  const r = spawnSync(c, a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

async function waitReady(url: string, server: ChildProcess | undefined): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (server && server.exitCode !== null) throw new Error(`PostgreSQL exited with ${server.exitCode}`);
    const pool = createPool({ url, max: 1 });
    try {
      await pool.query('SELECT 1');
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      await pool.end().catch(() => {});
    }
  }
  throw new Error('PostgreSQL did not start');
}

/** Instructions callgrind counted in the process, from its output file (written at its exit). */
async function instructionsOf(dir: string, pid: number): Promise<number> {
  const file = join(dir, `cg.${pid}`);
  for (let i = 0; i < 200; i++) {
    if (existsSync(file)) {
      const m = /^totals:\s+(\d+)/m.exec(readFileSync(file, 'utf8'));
      if (m) return Number(m[1]);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no callgrind count for backend ${pid}`);
}

/**
 * One connection's run: `warm` batches then `measured` ones of `size` purchases (the same items
 * for the same seed); `duplicate`: the first round's statement of that name (prefix) sent twice in
 * the measured batches.
 * Returns the backend's pid.
 */
async function oneRun(url: string, seeded: SeedResult, accounts: FleetAccounts, size: number, warm: number, measured: number, runId: number, duplicate?: string): Promise<number> {
  // a pool of the ledger's own, as the switch's (db/pool.ts `ledger`)
  const pool = createPool({ url, schema: SCHEMA, max: 1, ledger: true });
  try {
    const c = await pool.connect();
    const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    c.release();
    let counting = false;
    const transport: Transport = (client, first) => {
      const copy = duplicate === undefined ? undefined : first.find((s) => s.name.startsWith(duplicate));
      if (!counting || copy === undefined) return exchangeTransport(client, first);
      const r = exchangeTransport(client, [...first, copy]);
      return { first: r.first.then((all) => all.slice(0, first.length)), commit: (s) => r.commit(s), abandon: () => r.abandon() };
    };
    const ledger = new Ledger(pool, undefined, undefined, transport);
    // every run its own DE7, so that its STANs never repeat an earlier run's keys
    const dt = String(1_000_000_000 + runId).padStart(10, '0');
    // with the account hints the switch gives
    const make = purchaseMaker(seeded, seededRandom(size), accounts);
    for (let i = 0; i < warm + measured; i++) {
      counting = i >= warm;
      const r = await ledger.post(Array.from({ length: size }, () => ({ ...make(), transmissionAt: dt })));
      const bad = r.find((x) => x.outcome !== 'approved');
      if (bad) throw new Error(`a purchase was not approved: ${bad.outcome}`);
    }
    return pid;
  } finally {
    await pool.end();
  }
}

async function main(): Promise<void> {
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    console.error('valgrind is not installed (apt-get install valgrind)');
    process.exit(2);
  }
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'cynod-pg-instructions-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let server: ChildProcess | undefined;
  try {
    run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    appendFileSync(
      join(data, 'postgresql.conf'),
      // the benchmark machines' settings that bear on the ledger's work; no autovacuum, so that
      // nothing runs beside the measured backend
      `port = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nautovacuum = off\nshared_buffers = 128MB\nmax_wal_size = 4GB\n`,
    );
    // seeded with PostgreSQL running natively (under valgrind it takes a minute)
    run(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'native.log'), '-w', 'start']);
    let seeded: SeedResult;
    let accounts: FleetAccounts;
    try {
      const s = await seedFreshSchema(url, SCHEMA, BENCH_FLEET, 1);
      seeded = s.seeded;
      accounts = await fleetAccounts(s.pool);
      await s.pool.end();
    } finally {
      run(join(bin, 'pg_ctl'), ['-D', data, '-w', 'stop']);
    }
    const [cmd, args] = asServerUser('valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'cg.%p')}`, join(bin, 'postgres'), '-D', data]);
    server = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    server.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    await waitReady(url, server).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}: ${stderr}`);
    });

    console.log(`PostgreSQL instructions per batch of fuel purchases (callgrind; ${bin}; the bench fleet: ${BENCH_FLEET.cards.toLocaleString('en')} cards)`);
    console.log('  size   per batch   per item   lock statement/item   read statement/item   journal statement/item   rest/item');
    let runId = 0;
    for (const size of env.BENCH_PG_SIZES.split(',').map(Number)) {
      const measured = Math.max(5, Math.round(env.BENCH_PG_BATCHES / Math.sqrt(size)));
      const warm = Math.max(5, Math.round(measured / 2));
      const cost = async (duplicate?: string): Promise<number> => {
        const base = await oneRun(url, seeded, accounts, size, warm, 0, ++runId);
        const full = await oneRun(url, seeded, accounts, size, warm, measured, ++runId, duplicate);
        return ((await instructionsOf(dir, full)) - (await instructionsOf(dir, base))) / measured;
      };
      const batch = await cost();
      const lock = (await cost('ledger_lock_')) - batch;
      const read = (await cost('ledger_read_')) - batch;
      const journal = (await cost('ledger_journal_')) - batch;
      const k = (n: number): string => `${Math.round(n / 1000).toLocaleString('en')}k`;
      console.log(
        `  ${String(size).padStart(4)} ${k(batch).padStart(11)} ${k(batch / size).padStart(10)} ${k(lock / size).padStart(21)} ${k(read / size).padStart(21)} ${k(journal / size).padStart(20)} ${k((batch - lock - read - journal) / size).padStart(11)}`,
      );
    }
  } finally {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server?.once('exit', r));
      try {
        run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', '-t', '120', 'stop']);
      } catch {
        server.kill('SIGKILL');
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
