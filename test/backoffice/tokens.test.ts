// Bearer tokens get a default lifetime (BACKOFFICE_TOKEN_TTL_SECONDS, 30 days) when the request names none.
import t from 'tap';
import { backoffice } from '../helpers/backoffice.js';

t.test('a token without ttlSeconds expires after the default lifetime; a named one after its own', async (t) => {
  const h = await backoffice(t);
  const ttlOf = (r: { body: Record<string, unknown> }) => (Date.parse(r.body.expiresAt as string) - Date.now()) / 1000;
  const plain = await h.call('ADMIN', 'POST', `/users/${h.users.VIEWER.id}/tokens`, {});
  t.equal(plain.status, 201);
  t.ok(Math.abs(ttlOf(plain) - 30 * 86_400) < 120, `30 days (${ttlOf(plain)} s)`);
  const nulled = await h.call('ADMIN', 'POST', `/users/${h.users.VIEWER.id}/tokens`, { ttlSeconds: null });
  t.ok(Math.abs(ttlOf(nulled) - 30 * 86_400) < 120, 'null is the default too: no token lives for ever');
  const own = await h.call('ADMIN', 'POST', `/users/${h.users.VIEWER.id}/tokens`, { ttlSeconds: 3600 });
  t.ok(Math.abs(ttlOf(own) - 3600) < 120);

  const short = await backoffice(t, { env: { BACKOFFICE_TOKEN_TTL_SECONDS: '600' } });
  const s = await short.call('ADMIN', 'POST', `/users/${short.users.VIEWER.id}/tokens`, {});
  t.ok(Math.abs(ttlOf(s) - 600) < 120, 'BACKOFFICE_TOKEN_TTL_SECONDS');
});
