/**
 * RBAC: for every write route, 401 without a valid token (none, malformed header, unknown,
 * expired, revoked, disabled user), 403 for every role below the route's, and success for
 * the route's role and every stronger one. Denied calls write nothing. Reads: 401 without
 * a token, VIEWER reads, ADMIN alone reads users and the audit log.
 */
import t from 'tap';
import * as store from '../../db/store.js';
import type { Role } from '../../db/store.js';
import { ROUTES } from '../../backoffice/routes/index.js';
import { backoffice, type Backoffice } from '../helpers/backoffice.js';
import { WRITE_CASES } from '../helpers/write-routes.js';

const ORDER: Role[] = ['VIEWER', 'OPERATOR', 'ADMIN'];
const below = (r: Role): Role[] => ORDER.slice(0, ORDER.indexOf(r));
const atLeast = (r: Role): Role[] => ORDER.slice(ORDER.indexOf(r));

/** Tokens that must not get in, each with why. */
async function badCredentials(h: Backoffice): Promise<{ why: string; header: string | null }[]> {
  const expiring = await store.createToken(h.pool, { userId: h.users.ADMIN.id, ttlSeconds: 3600 });
  await h.pool.query("UPDATE tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [expiring.id]);
  const revoked = await store.createToken(h.pool, { userId: h.users.ADMIN.id });
  await store.revokeToken(h.pool, revoked.id);
  const ghost = await store.createUser(h.pool, { username: 'disabled-admin', role: 'ADMIN' });
  const ghostToken = await store.createToken(h.pool, { userId: ghost.id });
  await store.setUserDisabled(h.pool, ghost.id, true);
  return [
    { why: 'no Authorization header', header: null },
    { why: 'not a Bearer header', header: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
    { why: 'an empty bearer', header: 'Bearer ' },
    { why: 'an unknown token', header: 'Bearer cyn_not-a-real-token' },
    { why: 'an expired token', header: `Bearer ${expiring.token}` },
    { why: 'a revoked token', header: `Bearer ${revoked.token}` },
    { why: "a disabled user's token", header: `Bearer ${ghostToken.token}` },
  ];
}

const auditCount = async (h: Backoffice): Promise<number> => (await h.pool.query<{ n: number }>('SELECT count(*)::bigint AS n FROM audit_log')).rows[0].n;

t.test('the cases cover every write route of the route table', async (t) => {
  const writes = ROUTES.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.url}`).sort();
  const cases = WRITE_CASES.map((c) => `${c.method} ${c.route}`).sort();
  t.same(cases, writes);
});

t.test('every write route: the 401 / 403 / allowed matrix', async (t) => {
  const h = await backoffice(t);
  const bad = await badCredentials(h);
  for (const c of WRITE_CASES) {
    await t.test(`${c.method} ${c.route} (${c.role})`, async (t) => {
      const p = await c.prepare(h);
      const before = await auditCount(h);
      for (const b of bad) {
        const r = await h.call(b.header === null ? null : { header: b.header }, c.method, p.url, p.body);
        t.equal(r.status, 401, `${b.why}: 401`);
        t.equal(r.body.error, 'unauthorized');
        t.match(String(r.headers['www-authenticate']), /^Bearer/, `${b.why}: a Bearer challenge`);
      }
      for (const role of below(c.role)) {
        const r = await h.call(role, c.method, p.url, p.body);
        t.equal(r.status, 403, `${role}: 403`);
        t.equal(r.body.error, 'forbidden');
      }
      t.equal(await auditCount(h), before, 'denied calls wrote nothing');
      for (const role of atLeast(c.role)) {
        const fresh = await c.prepare(h);
        const r = await h.call(role, c.method, fresh.url, fresh.body);
        t.equal(r.status, c.status, `${role}: ${c.status} (${r.raw.slice(0, 200)})`);
      }
      t.equal(await auditCount(h), before + atLeast(c.role).length, 'each allowed call wrote its audit row');
    });
  }
});

t.test('reads: 401 without a token; VIEWER reads; users and the audit log are ADMIN only', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(100);
  const network = await store.createNetwork(h.pool, { code: 'NETR', name: 'n' });
  const concrete: Record<string, string> = {
    '/me': '/me',
    '/networks': '/networks',
    '/networks/:id': `/networks/${network.id}`,
    '/clients': '/clients',
    '/clients/:id': `/clients/${h.w.elton.id}`,
    '/members/:id': `/members/${h.w.manager.id}`,
    '/clients/:id/members': `/clients/${h.w.elton.id}/members`,
    '/service-points': '/service-points',
    '/service-points/:id': `/service-points/${h.w.sp.id}`,
    '/service-points/:id/terminals': `/service-points/${h.w.sp.id}/terminals`,
    '/terminals/:id': `/terminals/${h.w.terminal}`,
    '/profiles/:id': `/profiles/${h.w.fuel.id}`,
    '/clients/:id/profiles': `/clients/${h.w.elton.id}/profiles`,
    '/cards': '/cards',
    '/cards/:id': `/cards/${card.id}`,
    '/carte/cards/:id': `/carte/cards/${card.id}`,
    '/users': '/users',
    '/audit-log': '/audit-log',
  };
  const adminOnly = new Set(['/users', '/audit-log']);
  const publicOnes = new Set(['/healthz', '/readyz', '/openapi.json']);
  const gets = ROUTES.filter((r) => r.method === 'GET' && !publicOnes.has(r.url));
  t.same(gets.map((r) => r.url).sort(), Object.keys(concrete).sort(), 'every read route is covered');
  for (const r of gets) {
    const url = concrete[r.url];
    t.equal((await h.call(null, 'GET', url)).status, 401, `GET ${r.url} without a token: 401`);
    t.equal((await h.call({ header: 'Bearer nope' }, 'GET', url)).status, 401, `GET ${r.url} with a bad token: 401`);
    for (const role of ORDER) {
      const res = await h.call(role, 'GET', url);
      const expected = adminOnly.has(r.url) && role !== 'ADMIN' ? 403 : 200;
      t.equal(res.status, expected, `GET ${r.url} as ${role}: ${expected}`);
    }
  }
  for (const url of publicOnes) {
    const r = await h.call(null, 'GET', url);
    t.equal(r.status, 200, `${url} needs no token`);
  }
});

t.test('a token stops working when revoked or its user is disabled, through the API', async (t) => {
  const h = await backoffice(t);
  const made = await h.call('ADMIN', 'POST', '/users', { username: 'carol', role: 'OPERATOR' });
  t.equal(made.status, 201);
  const userId = made.body.id as number;
  const tok = await h.call('ADMIN', 'POST', `/users/${userId}/tokens`, { label: 'laptop', ttlSeconds: 3600 });
  t.equal(tok.status, 201);
  const header = { header: `Bearer ${tok.body.token as string}` };
  const me = await h.call(header, 'GET', '/me');
  t.equal(me.status, 200);
  t.equal(me.body.username, 'carol');
  t.equal(me.body.role, 'OPERATOR');
  t.equal((await h.call(header, 'POST', '/networks', { code: 'NETC', name: 'c' })).status, 201, 'an OPERATOR manages');
  t.equal((await h.call(header, 'POST', '/users', { username: 'dave', role: 'ADMIN' })).status, 403, 'but cannot make users');

  t.equal((await h.call('ADMIN', 'POST', `/users/${userId}/disable`)).status, 200);
  t.equal((await h.call(header, 'GET', '/me')).status, 401, 'disabled: 401');
  t.equal((await h.call('ADMIN', 'POST', `/users/${userId}/enable`)).status, 200);
  t.equal((await h.call(header, 'GET', '/me')).status, 200, 'enabled again');

  t.equal((await h.call('ADMIN', 'DELETE', `/tokens/${tok.body.id as number}`)).status, 200);
  t.equal((await h.call(header, 'GET', '/me')).status, 401, 'revoked: 401');
  t.equal((await h.call('ADMIN', 'DELETE', '/tokens/999999')).status, 404, 'revoking an unknown token: 404');
});
