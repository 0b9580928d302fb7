/**
 * Bad input: every write route answers 400 naming the failing field, writes nothing (no
 * audit row), and never 500.
 */
import t from 'tap';
import { backoffice } from '../helpers/backoffice.js';
import { WRITE_CASES } from '../helpers/write-routes.js';

interface Issue {
  field: string;
  in?: string;
  message: string;
}

t.test('every write route: 400 naming the failing field, nothing written', async (t) => {
  const h = await backoffice(t);
  const audits = async (): Promise<number> => (await h.pool.query<{ n: number }>('SELECT count(*)::bigint AS n FROM audit_log')).rows[0].n;
  for (const c of WRITE_CASES) {
    const p = await c.prepare(h);
    const bad = c.invalid(p);
    const before = await audits();
    const r = await h.call('ADMIN', c.method, bad.url ?? p.url, bad.body);
    const issues = (r.body.issues ?? []) as Issue[];
    t.equal(r.status, 400, `${c.method} ${c.route}: 400 (${r.raw})`);
    t.equal(r.body.error, 'invalid', `${c.method} ${c.route}: error invalid`);
    t.ok(
      issues.some((i) => i.field === bad.field),
      `${c.method} ${c.route}: names ${bad.field} (got ${issues.map((i) => i.field).join(', ')})`,
    );
    t.match(String(r.body.message), bad.field, `${c.method} ${c.route}: the message names the field too`);
    t.equal(await audits(), before, `${c.method} ${c.route}: nothing audited, nothing written`);
  }
});

t.test('amounts: not an integer, a string, zero, negative, beyond DE4', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(0);
  const url = `/carte/cards/${card.id}/recharge`;
  for (const amount of [1.5, '100', 0, -1, 1e12, null]) {
    const r = await h.call('ADMIN', 'POST', url, { amount });
    t.equal(r.status, 400, `amount ${JSON.stringify(amount)} refused`);
    t.same((r.body.issues as Issue[]).map((i) => i.field), ['amount']);
  }
  t.equal((await h.call('ADMIN', 'POST', url, { amount: 999_999_999_999 })).status, 200, 'the largest DE4 amount is accepted');
});

t.test('unknown fields, a missing body, malformed JSON, bad ids, bad query', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(0);

  const extra = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/recharge`, { amount: 10, ammount: 10 });
  t.equal(extra.status, 400, 'an unknown field is refused, not ignored');
  t.ok((extra.body.issues as Issue[]).some((i) => i.field === 'ammount'), 'and named');

  const none = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/recharge`);
  t.equal(none.status, 400, 'no body at all');
  t.same((none.body.issues as Issue[]).map((i) => i.field), ['amount'], 'reads as an empty object: the missing field is named');

  const res = await h.app.inject({
    method: 'POST',
    url: `/carte/cards/${card.id}/recharge`,
    headers: { authorization: `Bearer ${h.users.ADMIN.token}`, 'content-type': 'application/json' },
    payload: '{"amount": ',
  });
  t.equal(res.statusCode, 400, 'malformed JSON');
  t.equal(JSON.parse(res.body).issues[0].field, 'body');

  const proto = await h.app.inject({
    method: 'POST',
    url: '/networks',
    headers: { authorization: `Bearer ${h.users.ADMIN.token}`, 'content-type': 'application/json' },
    payload: '{"code":"NETP","name":"n","__proto__":{"admin":true}}',
  });
  t.equal(proto.statusCode, 400, 'prototype poisoning refused');

  const id = await h.call('VIEWER', 'GET', '/carte/cards/12abc');
  t.equal(id.status, 400);
  t.same(id.body.issues, [{ field: 'id', in: 'params', message: (id.body.issues as Issue[])[0].message, code: 'invalid_type' }], 'a path parameter is named, with where it was');

  const huge = await h.call('VIEWER', 'GET', '/cards?limit=100000');
  t.equal(huge.status, 400);
  t.equal((huge.body.issues as Issue[])[0].field, 'limit');
  t.equal((huge.body.issues as Issue[])[0].in, 'query');

  const text = await h.app.inject({
    method: 'POST',
    url: '/networks',
    headers: { authorization: `Bearer ${h.users.ADMIN.token}`, 'content-type': 'text/plain' },
    payload: 'hello',
  });
  t.equal(text.statusCode, 415, 'a body that is not JSON: 415');
});

t.test('profile rules: dates in order, virtual-card profiles without terminal services', async (t) => {
  const h = await backoffice(t);
  const base = { clientId: h.w.elton.id, name: 'P' };
  const dates = await h.call('OPERATOR', 'POST', '/profiles', { ...base, code: 'DATES', validFrom: '2025-02-01', validTo: '2025-01-01' });
  t.equal(dates.status, 400);
  t.equal((dates.body.issues as Issue[])[0].field, 'validTo');
  const virtualFuel = await h.call('OPERATOR', 'POST', '/profiles', { ...base, code: 'VF', kind: 'virtual', fuel: true });
  t.equal(virtualFuel.status, 400);
  t.equal((virtualFuel.body.issues as Issue[])[0].field, 'kind');
  const notDate = await h.call('OPERATOR', 'POST', '/profiles', { ...base, code: 'ND', validFrom: '2025-13-01' });
  t.equal(notDate.status, 400);
  t.equal((notDate.body.issues as Issue[])[0].field, 'validFrom');
});

t.test('references to things that do not exist: 422 naming the field; subjects that do not exist: 404', async (t) => {
  const h = await backoffice(t);
  const member = await h.call('OPERATOR', 'POST', '/members', { clientId: 999999, name: 'Ghost' });
  t.equal(member.status, 422);
  t.equal(member.body.field, 'clientId');
  const terminal = await h.call('OPERATOR', 'POST', '/terminals', { id: 'TGHOST01', servicePointId: 999999 });
  t.equal(terminal.status, 422);
  t.equal(terminal.body.field, 'servicePointId');
  const client = await h.call('OPERATOR', 'POST', '/clients', { code: 'GHOSTNET', name: 'x', networkId: 999999 });
  t.equal(client.status, 422);
  t.equal(client.body.field, 'networkId');
  const card = await h.call('ADMIN', 'POST', '/carte/cards/999999/recharge', { amount: 10 });
  t.equal(card.status, 404);
  t.equal(card.body.error, 'not_found');
  const pin = await h.call('OPERATOR', 'POST', '/terminals/TNONE001/pins', {});
  t.equal(pin.status, 404);
  const route = await h.call('ADMIN', 'GET', '/no/such/route');
  t.equal(route.status, 404);
});
