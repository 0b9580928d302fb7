// Migration 002: holders are members or beneficiaries, service points belong to an
// establishment client, users have passwords with a lock-out, and the audit log is append-only.
import t from 'tap';
import * as store from '../../db/store.js';
import { hashPassword, verifyPassword } from '../../db/secrets.js';
import { testDb } from '../helpers/db.js';

t.test('holder kinds and service points of an establishment', async (t) => {
  const { pool } = await testDb(t);
  const c = await store.createClient(pool, { code: 'ELTON', name: 'ELTON' });
  const m = await store.createMember(pool, { clientId: c.id, name: 'Gérant' });
  t.equal(m.kind, 'member', 'a member unless said');
  const b = await store.createMember(pool, { clientId: c.id, name: 'Bénéficiaire', kind: 'beneficiary' });
  t.equal(b.kind, 'beneficiary');
  await t.rejects(pool.query("INSERT INTO members (client_id, name, kind) VALUES ($1, 'x', 'owner')", [c.id]), /members_kind_check/);

  const sp = await store.createServicePoint(pool, { code: 'PS_A', name: 'A', clientId: c.id });
  t.equal(sp.client_id, c.id);
  t.equal((await store.getServicePoint(pool, sp.id)).client_id, c.id);
  await t.rejects(store.createServicePoint(pool, { code: 'PS_B', name: 'B', clientId: 999999 }), /refers to something that does not exist/);
  const bare = await store.createServicePoint(pool, { code: 'PS_C', name: 'C' });
  t.equal(bare.client_id, null, 'one made without its establishment');
  const without = await store.listServicePoints(pool, { limit: 10, offset: 0 }, { withoutVirtualCard: true, clientId: c.id });
  t.same(without.map((s) => s.code), ['PS_A'], 'filtered by establishment and by the lack of a virtual card');
});

t.test('the audit log refuses UPDATE, DELETE and TRUNCATE', async (t) => {
  const { pool } = await testDb(t);
  await store.audit(pool, { userId: null, action: 'x.test', entity: 'x', entityId: 1 });
  await t.rejects(pool.query("UPDATE audit_log SET action = 'y'"), /audit log is append-only \(UPDATE refused\)/);
  await t.rejects(pool.query('DELETE FROM audit_log'), /append-only \(DELETE refused\)/);
  await t.rejects(pool.query('TRUNCATE audit_log'), /append-only \(TRUNCATE refused\)/);
  t.equal((await pool.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n, 1);
});

t.test('sign-in: right password, wrong ones, lock-out, unknown and disabled users', async (t) => {
  const { pool } = await testDb(t);
  const hash = await hashPassword('correct horse battery');
  t.notMatch(hash, /correct/, 'never the password itself');
  const u = await store.createUser(pool, { username: 'alice', role: 'ADMIN', passwordHash: hash });
  const policy = { maxFailures: 3, lockSeconds: 60 };
  const attempt = (username: string, pw: string) => store.signIn(pool, username, (h) => verifyPassword(pw, h), policy);

  t.match(await attempt('alice', 'correct horse battery'), { ok: true, user: { id: u.id, role: 'ADMIN' } });
  t.match(await attempt('alice', 'nope'), { ok: false, reason: 'wrong' });
  t.match(await attempt('alice', 'nope'), { ok: false, reason: 'wrong' });
  t.match(await attempt('alice', 'correct horse battery'), { ok: true }, 'a success resets the count');
  for (let i = 0; i < 2; i++) t.match(await attempt('alice', 'nope'), { ok: false, reason: 'wrong' });
  const locked = await attempt('alice', 'nope');
  t.match(locked, { ok: false, reason: 'locked' }, 'the third wrong one in a row locks');
  t.match(await attempt('alice', 'correct horse battery'), { ok: false, reason: 'locked' }, 'even the right password while locked');
  await pool.query("UPDATE users SET locked_until = now() - interval '1 second' WHERE id = $1", [u.id]);
  t.match(await attempt('alice', 'correct horse battery'), { ok: true }, 'after the lock-out');

  t.match(await attempt('nobody', 'x'), { ok: false, reason: 'wrong' }, 'an unknown user reads as a wrong password');
  await store.setUserDisabled(pool, u.id, true);
  t.match(await attempt('alice', 'correct horse battery'), { ok: false, reason: 'wrong' }, 'a disabled user cannot sign in');
  const none = await store.createUser(pool, { username: 'bob', role: 'VIEWER' });
  t.match(await attempt('bob', ''), { ok: false, reason: 'wrong' }, 'a user without a password cannot sign in');
  await store.setPasswordHash(pool, none.id, await hashPassword('another long one'));
  t.match(await attempt('bob', 'another long one'), { ok: true });
  t.equal(await verifyPassword('x', 'scrypt$bad'), false, 'a malformed stored value never matches');
});
