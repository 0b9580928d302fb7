/**
 * The ledger's two rounds a batch over three clients, on the same statements and values, so that
 * the one the ledger keeps is the one measured cheapest here:
 *  - exchange: the ledger's own (db/ledger/wire.ts): node-pg's connection, the extended protocol
 *    written by hand, Flush after the first round, Sync after the last (two writes, two reads);
 *  - pg-pipeline: node-pg's pipeline mode (`pipeline: true`): BEGIN, the first round's statements,
 *    then the write and COMMIT, each query sent without waiting, each ended by its own Sync;
 *  - postgres: the postgres package (porsager/postgres) on a reserved connection, its queries
 *    prepared and pipelined the same way (BEGIN ... COMMIT, each query with its Sync).
 * The decisions, statements and row decoding are the ledger's for all three (Ledger with a
 * Transport, db/ledger/wire.ts); only the client and what goes on the wire differ.
 *
 * Batches of fuel purchases, one in flight, per size and client in rounds whose order rotates
 * (the machine drifts; each client gets each position). Per batch: wall time, this process's CPU
 * (the client's work), and PostgreSQL's CPU (the backends of this process's connections and the
 * background processes, from /proc). Every purchase must be approved, and the journal must hold
 * them all.
 *
 *   make bench-ledger-transports   BENCH_TRANSPORT_SECONDS=3 (per size, client and round),
 *                                  BENCH_TRANSPORT_SIZES=1,10,100, BENCH_TRANSPORT_ROUNDS=3
 */
import { z } from 'zod';
import pg from 'pg';
import postgres from 'postgres';
import { Ledger } from '../db/ledger.js';
import { arrayLiteral } from '../db/ledger/posting.js';
import { arrayElements, isRecordArray, recordElements } from '../db/ledger/params.js';
import { SCHEMA_RE } from '../db/pool.js';
import { decode, exchangeTransport, type Columns, type Row, type Rounds, type StatementResult, type Transport, type WireStatement } from '../db/ledger/wire.js';
import { BENCH_FLEET, dropSchema, seedFreshSchema } from '../tools/bench-fleet.js';
import { TICKS_PER_SECOND, sampleCpu, ticksBetween } from './probes/cpu-budget.js';
import { purchaseMaker } from './ledger-purchases.js';
import { percentile } from './stats.js';

const env = z
  .object({
    DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/test'),
    BENCH_TRANSPORT_SCHEMA: z.string().regex(SCHEMA_RE).default('cynod_bench_transports'),
    BENCH_TRANSPORT_SECONDS: z.coerce.number().positive().max(600).default(3),
    BENCH_TRANSPORT_SIZES: z.string().regex(/^\d+(,\d+)*$/).default('1,10,100'),
    BENCH_TRANSPORT_ROUNDS: z.coerce.number().int().min(1).max(10).default(3),
  })
  .parse(process.env);

/** A statement's rows as the ledger's declared columns read them, from a client that gives each field as text. */
const rowsOf = (columns: Columns, rows: readonly (readonly (string | null)[])[]): Row[] => (columns.length === 0 ? [] : rows.map((f) => decode(columns, f)));

/** Every value left as PostgreSQL's text: the ledger decodes by its declared columns. */
const TEXT_TYPES = { getTypeParser: () => (v: string) => v };

/**
 * A client that pipelines queries sent without waiting, each with its own Sync: BEGIN and the first
 * round's statements go at once, then the write and COMMIT. `send` runs one of the ledger's
 * statements, `simple` a statement without parameters or rows.
 */
function pipelined(send: (s: WireStatement) => Promise<StatementResult>, simple: (text: string) => PromiseLike<unknown>): (first: WireStatement[]) => Rounds {
  const round = (begin: string | undefined, statements: WireStatement[], end: string | undefined): Promise<StatementResult[]> => {
    const before = begin === undefined ? undefined : simple(begin);
    const results = Promise.all(statements.map(send));
    const after = end === undefined ? undefined : simple(end);
    return Promise.all([before, results, after]).then(([, r]) => r);
  };
  return (first) => ({
    first: round('BEGIN', first, undefined),
    commit: (statements) => round(undefined, statements, 'COMMIT'),
    abandon: () => void Promise.resolve(simple('ROLLBACK')).catch(() => {}),
  });
}

/** node-pg's pipeline mode, on the client the ledger checked out of a pool made with `pipeline: true`. */
const pgPipeline: Transport = (client, first) =>
  pipelined(
    (s) =>
      client
        .query<string[]>({ name: s.name, text: s.text, values: s.values as (string | Buffer | null)[], rowMode: 'array', types: TEXT_TYPES })
        .then((r) => ({ rows: rowsOf(s.columns, r.rows), command: `${r.command} ${r.rowCount ?? ''}`.trim() })),
    (text) => client.query(text),
  )(first);

/** A record's text form: an attribute quoted when it could be misread, NULL as nothing. */
const recordLiteral = (row: readonly (number | string | null)[]): string =>
  `(${row.map((v) => (v === null ? '' : typeof v === 'number' ? String(v) : `"${v.replace(/["\\]/g, '\\$&')}"`)).join(',')})`;

/** The ledger's binary array parameters (db/ledger/params.ts) as text literals, for a client that serializes by the server's types. */
const asText = (v: string | Buffer | null): string | null =>
  !Buffer.isBuffer(v) ? v : isRecordArray(v) ? arrayLiteral(recordElements(v).map(recordLiteral)) : arrayLiteral(arrayElements(v));

/** The postgres package on one reserved connection; the pg client the ledger checked out stays unused. */
function postgresRounds(sql: postgres.ReservedSql): Transport {
  const rounds = pipelined(
    (s) =>
      Promise.resolve(sql.unsafe(s.text, s.values.map(asText), { prepare: true }).raw()).then((rows) => ({
        rows: rowsOf(
          s.columns,
          rows.map((r) => r.map((b) => (b === null ? null : b.toString('utf8')))),
        ),
        command: rows.command,
      })),
    (text) => sql.unsafe(text),
  );
  return (_client, first) => rounds(first);
}

/** What one client measured at one size, over its rounds. */
interface Measured {
  times: number[];
  clientUs: number;
  pgUs: number;
}

interface Client {
  name: string;
  ledger: Ledger;
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const schema = env.BENCH_TRANSPORT_SCHEMA;
  const { pool, seeded } = await seedFreshSchema(env.DATABASE_URL, schema, BENCH_FLEET, 1);
  const pipelinePool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 1, options: `-c search_path=${schema}`, pipeline: true });
  const sql = postgres(env.DATABASE_URL, { max: 1, prepare: true, connection: { search_path: schema }, onnotice: () => {} });
  const reserved = await sql.reserve();
  const clients: Client[] = [
    { name: 'exchange', ledger: new Ledger(pool, undefined, undefined, exchangeTransport), close: async () => {} },
    { name: 'pg-pipeline', ledger: new Ledger(pipelinePool, undefined, undefined, pgPipeline), close: () => pipelinePool.end() },
    { name: 'postgres', ledger: new Ledger(pool, undefined, undefined, postgresRounds(reserved)), close: async () => reserved.release() },
  ];
  const purchase = purchaseMaker(seeded);
  let approvedTotal = 0;
  const journaled = async (): Promise<number> => (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM journal WHERE outcome = 'approved'")).rows[0].n;
  try {
    const before = await journaled();
    const post = async (c: Client, size: number): Promise<void> => {
      const r = await c.ledger.post(Array.from({ length: size }, purchase));
      const declined = r.find((x) => x.outcome !== 'approved');
      if (declined) throw new Error(`${c.name}: a purchase of a batch of ${size} not approved (${declined.outcome})`);
      approvedTotal += size;
    };
    // warm-up: each client's statements prepared on its connection, plans cached, pages in shared buffers
    for (const c of clients) for (let i = 0; i < 30; i++) await post(c, 50);

    console.log(`The ledger's two rounds a batch over three clients; one batch in flight, ${env.BENCH_TRANSPORT_SECONDS} s per size, client and round, ${env.BENCH_TRANSPORT_ROUNDS} rounds (node ${process.version})`);
    console.log('  size  client        batches   avg ms   p99 ms   client CPU µs/batch   PostgreSQL CPU µs/batch   both µs/item');
    const sizes = env.BENCH_TRANSPORT_SIZES.split(',').map(Number);
    for (const size of sizes) {
      const acc = new Map<Client, Measured>(clients.map((c) => [c, { times: [], clientUs: 0, pgUs: 0 }]));
      for (let round = 0; round < env.BENCH_TRANSPORT_ROUNDS; round++) {
        for (let i = 0; i < clients.length; i++) {
          const c = clients[(i + round) % clients.length];
          const a = acc.get(c) as Measured;
          const until = performance.now() + env.BENCH_TRANSPORT_SECONDS * 1000;
          const pg0 = sampleCpu(process.pid);
          const cpu0 = process.cpuUsage();
          while (performance.now() < until) {
            const t0 = performance.now();
            await post(c, size);
            a.times.push(performance.now() - t0);
          }
          const cpu = process.cpuUsage(cpu0);
          const pg1 = sampleCpu(process.pid);
          a.clientUs += cpu.user + cpu.system;
          a.pgUs += (ticksBetween(pg0.postgres, pg1.postgres) / TICKS_PER_SECOND) * 1e6;
        }
      }
      for (const c of clients) {
        const a = acc.get(c) as Measured;
        const n = a.times.length;
        const sorted = [...a.times].sort((x, y) => x - y);
        const avg = a.times.reduce((x, y) => x + y, 0) / n;
        console.log(
          `  ${String(size).padStart(4)}  ${c.name.padEnd(12)} ${String(n).padStart(8)} ${avg.toFixed(2).padStart(8)} ${percentile(sorted, 99).toFixed(2).padStart(8)} ` +
            `${(a.clientUs / n).toFixed(0).padStart(21)} ${(a.pgUs / n).toFixed(0).padStart(25)} ${((a.clientUs + a.pgUs) / n / size).toFixed(1).padStart(14)}`,
        );
      }
    }
    const journal = (await journaled()) - before;
    if (journal !== approvedTotal) throw new Error(`approved ${approvedTotal}, journal ${journal}`);
    console.log(`every purchase approved and journaled (${approvedTotal})`);
  } finally {
    for (const c of clients) await c.close();
    await sql.end();
    await pool.end();
    await dropSchema(env.DATABASE_URL, schema);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
