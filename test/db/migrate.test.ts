// The migration runner (db/migrate.ts): migrations in order and once, the functions file
// applied once and again only when it changes, and the runs it refuses.
import t from 'tap';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { createPool } from '../../db/pool.js';
import { functionsFile, loadMigrations, migrate, migrationsDir, type MigrateOptions } from '../../db/migrate.js';
import { DATABASE_URL, queryIn, testSchemaName } from '../helpers/db.js';
import type { TestContext } from '../helpers/tap.js';

interface Fixture {
  pool: pg.Pool;
  schema: string;
  /** A copy of db/migrations and db/functions.sql to edit. */
  opts: Required<MigrateOptions>;
  run(): ReturnType<typeof migrate>;
  /** Runs a query on the schema. */
  q(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
}

async function fixture(t: TestContext): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'cynod-migrate-'));
  const migrations = join(dir, 'migrations');
  mkdirSync(migrations);
  for (const f of readdirSync(migrationsDir())) copyFileSync(join(migrationsDir(), f), join(migrations, f));
  copyFileSync(functionsFile(), join(dir, 'functions.sql'));
  const opts = { migrationsDir: migrations, functionsFile: join(dir, 'functions.sql') };
  const schema = testSchemaName('migrate');
  const pool = createPool({ url: DATABASE_URL, max: 3 });
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  });
  const q = queryIn(pool, schema);
  return { pool, schema, opts, run: () => migrate(pool, schema, () => {}, opts), q };
}

/** Every migration of db/migrations, as the runner names those it applies. */
const ALL = loadMigrations().map((m) => `${m.version}_${m.name}`);
const pad = (n: number): string => String(n).padStart(3, '0');

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const recorded = async (f: Fixture): Promise<string | undefined> =>
  (await f.q("SELECT checksum FROM schema_functions WHERE name = 'functions.sql'")).rows[0]?.checksum;
const hasFunction = async (f: Fixture, name: string): Promise<boolean> =>
  (await f.q('SELECT 1 FROM pg_proc WHERE proname = $1 AND pronamespace = $2::regnamespace', [name, f.schema])).rowCount === 1;

t.test('a new schema: functions, then every migration; a second run applies nothing', async (t) => {
  const f = await fixture(t);
  const lines: string[] = [];
  const first = await migrate(f.pool, f.schema, (l) => lines.push(l), f.opts);
  t.same(first.applied, ALL);
  t.equal(ALL[0], '1_baseline');
  t.equal(first.functions, true, 'the functions file applied');
  t.equal(first.current, ALL.length);
  t.same(lines, ['applied functions.sql', ...ALL.map((m) => `applied migration ${m}`)], 'functions first: the baseline triggers need them');
  t.equal(await recorded(f), sha256(readFileSync(f.opts.functionsFile, 'utf8')), "the file's checksum recorded");
  t.ok(await hasFunction(f, 'journal_entries_append_only'));
  t.ok(await hasFunction(f, 'ledger_entries_append_only'));

  const again = await f.run();
  t.same(again.applied, [], 'no migration applied twice');
  t.equal(again.functions, false, 'the functions file not re-applied: its checksum is unchanged');
});

t.test('the functions file is re-applied when, and only when, its checksum changes', async (t) => {
  const f = await fixture(t);
  await f.run();
  // A marker a re-run would overwrite: a function of the file replaced behind the runner's back.
  await f.q("CREATE OR REPLACE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END; $$");
  const body = async (): Promise<string> =>
    (await f.q("SELECT prosrc FROM pg_proc WHERE proname = 'ledger_entries_append_only' AND pronamespace = $1::regnamespace", [f.schema])).rows[0].prosrc;
  t.equal((await f.run()).functions, false);
  t.match(await body(), /RETURN NULL/, 'unchanged file: not re-applied');

  const original = readFileSync(f.opts.functionsFile, 'utf8');
  const edited = `${original}\nCREATE OR REPLACE FUNCTION cynod_test_answer() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 42';\n`;
  writeFileSync(f.opts.functionsFile, edited);
  const r = await f.run();
  t.equal(r.functions, true, 'changed file: re-applied');
  t.same(r.applied, [], 'no migration for it');
  t.equal((await f.q('SELECT cynod_test_answer() AS x')).rows[0].x, 42, 'the new function exists');
  t.match(await body(), /append-only/, 'every function of the file replaced');
  t.equal(await recorded(f), sha256(edited), 'the new checksum recorded');
  t.equal((await f.q('SELECT count(*)::int AS n FROM schema_functions')).rows[0].n, 1, 'one row for the file');
  t.equal((await f.run()).functions, false, 'and not again');

  writeFileSync(f.opts.functionsFile, original);
  t.equal((await f.run()).functions, true, 'changed back: re-applied');
  t.equal(await recorded(f), sha256(original));
});

t.test('a failing functions file changes nothing', async (t) => {
  const f = await fixture(t);
  await f.run();
  const before = await recorded(f);
  const original = readFileSync(f.opts.functionsFile, 'utf8');
  writeFileSync(
    f.opts.functionsFile,
    `CREATE OR REPLACE FUNCTION cynod_test_half() RETURNS int LANGUAGE sql AS 'SELECT 1';\n${original}\nCREATE FUNCTION broken( RETURNS;\n`,
  );
  await t.rejects(f.run(), /functions\.sql failed: syntax error/);
  t.equal(await recorded(f), before, 'checksum unchanged: the next run tries again');
  t.notOk(await hasFunction(f, 'cynod_test_half'), 'the statements before the error rolled back');
});

t.test('an edited applied migration stops the run before the functions are touched', async (t) => {
  const f = await fixture(t);
  await f.run();
  await f.q("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1");
  writeFileSync(f.opts.functionsFile, `${readFileSync(f.opts.functionsFile, 'utf8')}\n-- edited\n`);
  const before = await recorded(f);
  await t.rejects(f.run(), /migration 1_baseline was applied with different content; write a new migration/);
  t.equal(await recorded(f), before, 'functions not re-applied');
});

t.test('a schema newer than the code stops the run before the functions are touched', async (t) => {
  const f = await fixture(t);
  await f.run();
  await f.q("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, 'future', 'x')", [ALL.length + 1]);
  writeFileSync(f.opts.functionsFile, `${readFileSync(f.opts.functionsFile, 'utf8')}\n-- older code\n`);
  const before = await recorded(f);
  await t.rejects(f.run(), new RegExp(`schema ${f.schema} is at migration ${ALL.length + 1}, newer than this code \\(${ALL.length}\\)`));
  t.equal(await recorded(f), before, "the newer schema's functions left alone");
});

t.test('migration versions must run without gaps', async (t) => {
  const f = await fixture(t);
  writeFileSync(join(f.opts.migrationsDir, `${pad(ALL.length + 2)}_later.sql`), 'SELECT 1;');
  t.throws(() => loadMigrations(f.opts.migrationsDir), new RegExp(`migration ${ALL.length + 2}_later: versions must run 001, 002, \\.\\.\\. without gaps`));
  await t.rejects(f.run(), /without gaps/);
  t.equal((await f.pool.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [f.schema])).rows[0].n, 0, 'nothing created');
});

t.test('a later migration applies after the baseline, once', async (t) => {
  const f = await fixture(t);
  await f.run();
  const next = ALL.length + 1;
  writeFileSync(join(f.opts.migrationsDir, `${pad(next)}_note_length.sql`), 'ALTER TABLE journal ADD CONSTRAINT journal_note_length CHECK (length(note) <= 500);');
  const r = await f.run();
  t.same(r.applied, [`${next}_note_length`]);
  t.equal(r.current, next);
  t.equal(r.functions, false);
  t.same((await f.run()).applied, []);
});

t.test('a schema built by the migrations before the baseline is refused, with what to do', async (t) => {
  for (const rows of [
    // the whole old chain, as a demo schema of before 0.1.0 has it
    [[1, 'core'], [2, 'ledger'], [3, 'ledger_guards'], [4, 'ledger_post_cost'], [5, 'journal_counter_card'], [6, 'ledger_post_entries_in_journal'], [7, 'ledger_post_lookups_per_item']],
    [[1, 'core']],
    [[6, 'ledger_post_entries_in_journal']],
  ] as const) {
    const f = await fixture(t);
    await f.pool.query(`CREATE SCHEMA ${f.schema}`);
    await f.q('CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const [v, name] of rows) await f.q('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [v, name, 'old']);
    const err = await f.run().then(() => null, (e: Error) => e);
    t.ok(err, `refused: ${rows.map(([v, n]) => `${v}_${n}`).join(', ')}`);
    t.match(err?.message, new RegExp(`^schema ${f.schema} was built by the migrations before 001_baseline`), 'names the schema');
    t.match(err?.message, /make demo-reset/, 'says what to do');
    t.match(err?.message, new RegExp(`DROP SCHEMA ${f.schema} CASCADE`), '... or by hand');
    t.notMatch(err?.message, /different content|newer than this code/);
    t.equal(await recorded(f), undefined, 'nothing applied to it');
  }
});

t.test('two runners at once on one schema: one migrates, the other waits and finds nothing to do', async (t) => {
  const f = await fixture(t);
  const other = createPool({ url: DATABASE_URL, max: 1 });
  t.teardown(() => other.end());
  const [a, b] = await Promise.all([f.run(), migrate(other, f.schema, () => {}, f.opts)]);
  t.same([...a.applied, ...b.applied], ALL, 'each migration applied once');
  t.equal(Number(a.functions) + Number(b.functions), 1, 'the functions file applied once');
});

t.test('006_pan_encrypted refuses a schema that holds cards with clear PANs, with what to do', async (t) => {
  const f = await fixture(t);
  const pan006 = readdirSync(f.opts.migrationsDir).find((n) => n.startsWith('006_'));
  if (pan006 === undefined) throw new Error('no migration 006');
  const held = join(f.opts.migrationsDir, '..', pan006);
  copyFileSync(join(f.opts.migrationsDir, pan006), held);
  for (const n of readdirSync(f.opts.migrationsDir)) if (Number(n.slice(0, 3)) >= 6) rmSync(join(f.opts.migrationsDir, n));
  await f.run();
  const client = (await f.q("INSERT INTO clients (code, name) VALUES ('OLD', 'Old') RETURNING id")).rows[0].id as number;
  const member = (await f.q("INSERT INTO members (client_id, name) VALUES ($1, 'Driver') RETURNING id", [client])).rows[0].id as number;
  const profile = (await f.q("INSERT INTO card_profiles (client_id, code, name) VALUES ($1, 'FUEL', 'Fuel') RETURNING id", [client])).rows[0].id as number;
  const account = (await f.q("INSERT INTO accounts (kind, client_id) VALUES ('card', $1) RETURNING id", [client])).rows[0].id as number;
  await f.q("INSERT INTO cards (pan, name, client_id, member_id, profile_id, account_id, expiry) VALUES ('6280001234567897', 'Old card', $1, $2, $3, $4, '9912')", [client, member, profile, account]);
  copyFileSync(held, join(f.opts.migrationsDir, pan006));
  await t.rejects(f.run(), /holds cards with clear PANs.*make demo-reset/, 'refused, naming what to do');
  t.equal((await f.q('SELECT pan FROM cards')).rows[0].pan, '6280001234567897', 'nothing half converted: the migration rolled back');
  await f.q('DELETE FROM cards');
  const later = await f.run();
  t.ok(later.applied.some((m) => m.startsWith('6_')), 'an empty cards table converts');
  t.equal((await f.q("SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'cards' AND column_name = 'pan'", [f.schema])).rows[0].n, 0);
});
