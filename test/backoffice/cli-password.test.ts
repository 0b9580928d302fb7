// The CLI's set-password: a new random web password, printed once, that signs in; it lifts a lock-out.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import * as store from '../../db/store.js';
import { verifyPassword } from '../../db/secrets.js';
import { testDb } from '../helpers/db.js';
import { HASH_SECRET, REDIS_URL, testRedis } from '../helpers/backoffice.js';
import { ROOT } from '../helpers/paths.js';

const CLI = join(ROOT, 'dist', 'backoffice', 'cli.js');

t.test('set-password prints a password once; it signs in and lifts a lock-out', async (t) => {
  const { pool, schema, url } = await testDb(t);
  const { prefix } = await testRedis(t);
  const env = { ...process.env, DATABASE_URL: url, DB_SCHEMA: schema, REDIS_URL, REDIS_PREFIX: prefix, HASH_SECRET, LOG_LEVEL: 'silent' };
  const u = await store.createUser(pool, { username: 'carol', role: 'VIEWER' });
  await pool.query("UPDATE users SET locked_until = now() + interval '1 hour' WHERE id = $1", [u.id]);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [CLI, 'set-password', 'carol'], { env, timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
  );
  const printed = JSON.parse(out) as { password: string; user: { username: string } };
  t.equal(printed.user.username, 'carol');
  t.match(printed.password, /^[A-Za-z0-9_-]{24}$/);
  const r = await store.signIn(pool, 'carol', (hash) => verifyPassword(printed.password, hash), { maxFailures: 5, lockSeconds: 60 });
  t.equal(r.ok, true, 'it signs in: the lock-out is lifted');
  const audit = await pool.query<{ d: string }>("SELECT details::text AS d FROM audit_log WHERE action = 'user.password'");
  t.equal(audit.rows.length, 1, 'audited');
  t.notMatch(audit.rows[0].d, printed.password, 'without the password');
});
