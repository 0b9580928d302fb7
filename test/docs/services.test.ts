// make test on a machine without PostgreSQL or Redis: .ci/services says what is missing and
// how to get it, and fails (no silent skips). Run in a network namespace of its own (nothing
// answers on its loopback) with a PATH where neither server is installed.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT } from '../helpers/paths.js';

const ns = `svc${randomBytes(3).toString('hex')}`;
execFileSync('ip', ['netns', 'add', ns]);
t.teardown(() => void execFileSync('ip', ['netns', 'delete', ns]));
execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);

// A bin directory with the basic tools only.
const bin = mkdtempSync(join(tmpdir(), 'cynod-bin-'));
t.teardown(() => rmSync(bin, { recursive: true, force: true }));
for (const tool of ['bash', 'ls', 'seq', 'sleep', 'cat', 'printf']) {
  const where = execFileSync('bash', ['-c', `command -v ${tool} || true`]).toString().trim();
  if (where.startsWith('/')) symlinkSync(where, join(bin, tool));
}

const IP = execFileSync('bash', ['-c', 'command -v ip']).toString().trim();

function services(env: Record<string, string>): { status: number | null; out: string } {
  const r = spawnSync(IP, ['netns', 'exec', ns, join(bin, 'bash'), join(ROOT, '.ci/services')], {
    cwd: ROOT,
    env: { PATH: bin, ...env },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout.toString()}${r.stderr.toString()}` };
}

t.test('neither installed nor answering: both named, with how to get them; exit 1', async (t) => {
  const r = services({});
  t.equal(r.status, 1);
  t.match(r.out, /PostgreSQL on 127\.0\.0\.1:5432.*apt-get install postgresql.*pg_ctlcluster/);
  t.match(r.out, /Redis on 127\.0\.0\.1:6379.*apt-get install redis-server.*redis-server --daemonize yes/);
  t.match(r.out, /make demo needs neither/);
});

t.test('one named by its URL: only the other is missing', async (t) => {
  const r = services({ DATABASE_URL: 'postgres://elsewhere/test' });
  t.equal(r.status, 1);
  t.notMatch(r.out, /PostgreSQL on/);
  t.match(r.out, /Redis on 127\.0\.0\.1:6379/);
});

t.test('both named: nothing to start, exit 0', async (t) => {
  const r = services({ DATABASE_URL: 'postgres://elsewhere/test', REDIS_URL: 'redis://elsewhere:6379' });
  t.equal(r.status, 0, r.out);
});
