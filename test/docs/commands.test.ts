// Every command in README.md and docs/*.md is run here, so the docs cannot rot: make targets
// must exist and dry-run (make demo is run for real by demo.test.ts, make test by CI, the
// codec benchmark below); every other command runs for real against a demo installation
// (real PostgreSQL and Redis, a schema and key prefix of its own). Also: the README lists every
// environment variable, and docs/messages.md is what the code generates.
import t from 'tap';
import { spawn, execSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { ROOT } from '../helpers/paths.js';
import { DATABASE_URL } from '../helpers/db.js';
import { REDIS_URL, dropPrefix, HASH_SECRET } from '../helpers/switch.js';
import { createPool } from '../../db/pool.js';
import { switchEnv } from '../../switch/config.js';
import { backofficeEnv } from '../../backoffice/config.js';
import { messageReference } from '../../tools/message-reference.js';

const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Commands of the ```sh blocks of a markdown file (continuation lines joined, comments dropped). */
function commandsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const joined = m[1].replace(/\\\n\s*/g, '');
    for (const raw of joined.split('\n')) {
      const line = raw.replace(/\s+#\s.*$/, '').trim();
      if (line && !line.startsWith('#')) out.push(line);
    }
  }
  return out;
}

const all = DOCS.flatMap((f) => commandsOf(f).map((cmd) => ({ file: f, cmd })));

t.test('the docs have commands, and every make target they name exists and dry-runs', async (t) => {
  t.ok(all.length > 20, `${all.length} commands in ${DOCS.join(', ')}`);
  const makefile = readFileSync(join(ROOT, 'Makefile'), 'utf8');
  for (const { file, cmd } of all.filter((c) => c.cmd.startsWith('make '))) {
    const target = cmd.split(/\s+/)[1];
    t.match(makefile, new RegExp(`^${target}:`, 'm'), `${file}: make ${target} is a target`);
    let ok = true;
    try {
      execSync(`make -n ${target}`, { cwd: ROOT, stdio: 'pipe' });
    } catch {
      ok = false;
    }
    t.ok(ok, `${file}: make -n ${target}`);
  }
});

t.test('the codec benchmark runs', async (t) => {
  const out = execSync('node dist/bench/codec.js', { cwd: ROOT, env: { ...process.env, BENCH_SECONDS: '0.05' } }).toString();
  t.match(out, /lowest ratio: decode [0-9.]+x, encode [0-9.]+x/);
});

t.test('every other command runs against a demo installation', async (t) => {
  const schema = `docs_${process.pid}_${randomBytes(3).toString('hex')}`;
  const prefix = `${schema}:`;
  // The demo's files and what the docs' commands write under /tmp go to a directory of the test's, removed after.
  const scratch = mkdtempSync(join(tmpdir(), 'cynod-docs-'));
  t.teardown(async () => {
    const admin = createPool({ url: DATABASE_URL, max: 1 });
    if (!process.env.KEEP_DOCS_SCHEMA) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
    await dropPrefix(prefix);
  });
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    DATABASE_URL,
    REDIS_URL,
    DB_SCHEMA: schema,
    REDIS_PREFIX: prefix,
    HASH_SECRET,
    // as the operator guide says: the demo's shell is a development one
    CYNOD_DEV: '1',
    DEMO_LOAD_SECONDS: '1', // as after make demo: the short load signs the terminals on
    DEMO_DIR: join(scratch, 'demo'),
    SWITCH_LISTENERS: '127.0.0.1:0/binary2/ascii87',
    BACKOFFICE_PORT: '0',
    METRICS_PORT: '0',
  };
  const demo = spawn(process.execPath, ['dist/tools/demo.js'], { cwd: ROOT, env });
  let text = '';
  demo.stdout.on('data', (d: Buffer) => (text += d.toString()));
  demo.stderr.on('data', () => {});
  t.teardown(async () => {
    if (demo.exitCode === null && demo.signalCode === null) {
      const exited = new Promise((r) => demo.once('exit', r));
      demo.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    rmSync(scratch, { recursive: true, force: true });
  });
  for (let i = 0; i < 600 && !text.includes('serving'); i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(text.includes('serving'), 'the demo installation is serving');
  const port = /switch {6}tcp:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1];
  const metrics = /metrics {5}http:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1];
  const bo = /back office http:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1];
  env.TOKEN = /ADMIN token (\S+)/.exec(text)?.[1] ?? '';
  t.ok(port && metrics && bo && env.TOKEN, 'ports and token read from its output');

  let pin: string | undefined;
  let code: string | undefined;
  const runnable = all.filter((c) => !c.cmd.startsWith('make '));
  for (const { file, cmd: original } of runnable) {
    let cmd = original
      .replace(/--port 8583/g, `--port ${port}`)
      .replace(/127\.0\.0\.1:9464/g, `127.0.0.1:${metrics}`)
      .replace(/127\.0\.0\.1:8080/g, `127.0.0.1:${bo}`)
      .replace(/(^|\s)\/tmp\//g, `$1${scratch}/`)
      .replace(/(^|\s)\.demo\//g, `$1${env.DEMO_DIR}/`);
    if (pin) cmd = cmd.replace(/--pin 1234\b/, `--pin ${pin}`);
    if (code) cmd = cmd.replace(/--code 1234567890\b/, `--code ${code}`);
    let out = '';
    let status = 0;
    try {
      out = execSync(cmd, { cwd: ROOT, env, shell: '/bin/bash', stdio: 'pipe', timeout: 60_000 }).toString();
    } catch (e) {
      const err = e as { status?: number; stdout?: Buffer; stderr?: Buffer };
      status = err.status ?? 1;
      out = `${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}`;
    }
    pin = /"pin":\s*"(\d{4})"/.exec(out)?.[1] ?? pin;
    code = /"code":\s*"(\d{4,16})"/.exec(out)?.[1] ?? code;
    t.equal(status, 0, `${file}: ${original.slice(0, 110)}`);
    if (cmd.startsWith('curl')) t.notMatch(out, /"error"\s*:/, `${file}: ${original.slice(0, 60)}... answered without an error`);
    if (status !== 0) t.comment(out.slice(-1200));
  }
  t.ok(runnable.length > 15, `${runnable.length} commands run`);
});

t.test('the README lists every environment variable of the services and the demo', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const demo = readFileSync(join(ROOT, 'tools/demo.ts'), 'utf8');
  const names = new Set([...Object.keys(switchEnv.shape), ...Object.keys(backofficeEnv.shape), ...[...demo.matchAll(/^\s+(DEMO_[A-Z_]+):/gm)].map((m) => m[1])]);
  for (const name of names) t.ok(readme.includes(`\`${name}\``) || readme.includes(`${name}\``) || readme.includes(name), `README: ${name}`);
});

t.test('docs/messages.md is what the code generates', async (t) => {
  t.equal(readFileSync(join(ROOT, 'docs/messages.md'), 'utf8'), messageReference(), 'run make docs after changing a table it documents');
});

t.test("docs/messages.md's PIN examples read back to the PIN with Node's ciphers alone (another implementation's view)", async (t) => {
  const doc = readFileSync(join(ROOT, 'docs/messages.md'), 'utf8');
  const requestOf = (title: string): Buffer => {
    const at = doc.indexOf(`### ${title}`);
    t.ok(at >= 0, `example "${title}"`);
    const dump = /```\n([\s\S]*?)```/.exec(doc.slice(at));
    const bytes = (dump?.[1] ?? '').split('\n').flatMap((l) => l.slice(6, 53).trim().split(/\s+/).filter(Boolean));
    return Buffer.from(bytes.join(''), 'hex');
  };
  const pinKey = Buffer.from(/PIN key `([0-9A-F]{32})`/.exec(doc)?.[1] ?? '', 'hex');
  t.equal(pinKey.length, 16, 'the PIN key of the examples is printed');
  const pan = '6280000000000011';
  const nibbles = (b: Buffer): string => b.toString('hex').toUpperCase();
  const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((x, i) => x ^ b[i]));
  const ecb = (alg: string, key: Buffer, data: Buffer): Buffer => {
    const d = createDecipheriv(alg, key, null).setAutoPadding(false);
    return Buffer.concat([d.update(data), d.final()]);
  };

  // format 0: the message's last 8 bytes (DE52 follows DE49, nothing after it)
  const m0 = requestOf('The purchase with the PIN 1234 in DE52');
  const clear0 = xor(ecb('des-ede-ecb', pinKey, m0.subarray(m0.length - 8)), Buffer.from(`0000${pan.slice(3, 15)}`, 'hex'));
  t.equal(nibbles(clear0), '041234FFFFFFFFFF', 'format 0: control 0, length 4, PIN 1234, fill F');

  // format 4: DE48 PB, 32 hex digits
  const m4 = requestOf('The purchase with the PIN 1234 in DE48 PB');
  const pb = /PB032([0-9A-F]{32})/.exec(m4.toString('latin1'))?.[1] ?? '';
  t.equal(pb.length, 32, 'PB found');
  const panField = Buffer.from(`${pan.length - 12}${pan}`.padEnd(32, '0'), 'hex');
  const clear4 = ecb('aes-128-ecb', pinKey, xor(ecb('aes-128-ecb', pinKey, Buffer.from(pb, 'hex')), panField));
  t.equal(nibbles(clear4).slice(0, 16), '441234AAAAAAAAAA', 'format 4: control 4, length 4, PIN 1234, fill A');
});
