// make demo as a newcomer meets it: with no PostgreSQL and no Redis answering (a network
// namespace of its own, whose loopback has neither), it runs the embedded database and the
// in-process cache; with them answering, it uses them. Either way it reaches "serving", the
// simulated load MACs every message and sends PINs, the pasted purchase (MACed, with the
// card's PIN, from the fleet file) is approved, the virtualized card declined 57, and Ctrl-C
// exits 0 within 5 s.
import t from 'tap';
import { spawn, execFileSync, execSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT } from '../helpers/paths.js';
import { DATABASE_URL } from '../helpers/db.js';
import { REDIS_URL, dropPrefix } from '../helpers/switch.js';
import { createPool } from '../../db/pool.js';
import type { TestContext } from '../helpers/tap.js';

interface Demo {
  /** Lines printed so far. */
  readonly out: string[];
  exit: Promise<number | null>;
  kill(): void;
}

function startDemo(env: Record<string, string>, netns?: string): Demo {
  const argv = [process.execPath, join(ROOT, 'dist/tools/demo.js')];
  const child = netns ? spawn('ip', ['netns', 'exec', netns, ...argv], { cwd: ROOT, env: { ...process.env, ...env } }) : spawn(argv[0], argv.slice(1), { cwd: ROOT, env: { ...process.env, ...env } });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', () => {});
  return {
    get out() {
      return text.split('\n');
    },
    exit: new Promise((r) => child.once('exit', (code) => r(code))),
    kill: () => child.kill('SIGINT'),
  };
}

async function until(demo: Demo, text: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (demo.out.some((l) => l.includes(text))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function pasted(demo: Demo, after: string): string {
  const i = demo.out.findIndex((l) => l.includes(after));
  return demo.out[i + 1].trim();
}

function run(cmd: string, netns?: string): string {
  try {
    return netns ? execFileSync('ip', ['netns', 'exec', netns, 'bash', '-c', cmd], { cwd: ROOT }).toString() : execSync(cmd, { cwd: ROOT }).toString();
  } catch (e) {
    return String((e as { stdout?: Buffer }).stdout ?? '');
  }
}

async function checkDemo(t: TestContext, demo: Demo, netns?: string): Promise<void> {
  t.ok(await until(demo, 'serving', 90_000), 'reaches "serving"');
  t.ok(demo.out.some((l) => /simulated load/.test(l)) && demo.out.some((l) => /errors: 0 /.test(l)), 'the simulated load ran without errors');
  t.ok(
    demo.out.some((l) => /security: [1-9][0-9]* messages MACed, [1-9][0-9]* with a PIN block/.test(l)),
    'the simulated terminals MAC their messages and send the cardholders\' PINs (the switch requires both)',
  );
  t.match(run(pasted(demo, 'a purchase (approved, 00)'), netns), /result: 00 approved/, 'the pasted purchase is approved');
  t.match(run(pasted(demo, 'virtualized card at the same TPE'), netns), /result: 57/, 'the pasted virtualized card is declined 57');
  const started = Date.now();
  demo.kill();
  t.equal(await demo.exit, 0, 'Ctrl-C: exit 0');
  t.ok(Date.now() - started < 5000, `... within 5 s (${Date.now() - started} ms)`);
}

t.test('no PostgreSQL, no Redis answering: embedded database and in-process cache', async (t) => {
  const ns = `cyn${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => void execFileSync('ip', ['netns', 'delete', ns]));
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  const dir = mkdtempSync(join(tmpdir(), 'cynod-demo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { DEMO_DIR: dir, DEMO_LOAD_SECONDS: '2', DATABASE_URL: '', REDIS_URL: '' };
  const demo = startDemo(env, ns);
  t.teardown(() => demo.kill());
  await checkDemo(t, demo, ns);
  t.ok(demo.out.some((l) => /embedded PostgreSQL \(PGlite\)/.test(l)), 'says it uses the embedded database');
  t.ok(demo.out.some((l) => /cache {7}in-process/.test(l)), 'and the in-process cache');
  t.ok(demo.out.some((l) => /schema cynod_demo \(demo data created now\)/.test(l)), 'in a schema of its own, cynod_demo, never cynod');
  const again = startDemo({ ...env, DEMO_LOAD_SECONDS: '0' }, ns);
  t.teardown(() => again.kill());
  t.ok(await until(again, 'serving', 60_000), 'a second make demo starts');
  t.ok(again.out.some((l) => l.includes('demo data from an earlier run')), 'and keeps the data');
  again.kill();
  t.equal(await again.exit, 0);
});

t.test('PostgreSQL and Redis answering: the demo uses them', async (t) => {
  const schema = `demo_${process.pid}_${randomBytes(3).toString('hex')}`;
  const prefix = `${schema}:`;
  t.teardown(async () => {
    const admin = createPool({ url: DATABASE_URL, max: 1 });
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
    await dropPrefix(prefix);
  });
  const dir = mkdtempSync(join(tmpdir(), 'cynod-demo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const demo = startDemo({
    DEMO_DIR: dir,
    DEMO_LOAD_SECONDS: '2',
    DATABASE_URL,
    REDIS_URL,
    DB_SCHEMA: schema,
    REDIS_PREFIX: prefix,
    SWITCH_LISTENERS: '127.0.0.1:0/binary2/ascii87',
    BACKOFFICE_PORT: '0',
    METRICS_PORT: '0',
  });
  t.teardown(() => demo.kill());
  await checkDemo(t, demo);
  t.ok(demo.out.some((l) => l.includes(`schema ${schema}`) && l.includes('PostgreSQL 127.0.0.1:5432')), 'says it uses the PostgreSQL server');
  t.ok(demo.out.some((l) => l.includes(`cache       Redis ${REDIS_URL}`)), 'and Redis');
});
