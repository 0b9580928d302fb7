// Updating a card profile (POST /carte/profiles/:id): what it changes, what it refuses, the audit
// row, and the cards that follow it.
import t from 'tap';
import * as store from '../../db/store.js';
import { backoffice } from '../helpers/backoffice.js';

t.test('a profile update changes services and limits; absent fields stay; null lifts a limit', async (t) => {
  const h = await backoffice(t);
  const p = await store.createProfile(h.pool, { clientId: h.w.elton.id, code: 'FLEET', name: 'Flotte', fuel: true, transfer: true, recharge: true, limitPerTxn: 10_000 });
  const card = await h.w.card(50_000, { profileId: p.id });
  const r = await h.call('ADMIN', 'POST', `/carte/profiles/${p.id}`, { name: 'Flotte 2', ticket: true, limitDayAmount: 30_000, limitPerTxn: null });
  t.equal(r.status, 200, r.raw);
  t.match(r.body, { id: p.id, code: 'FLEET', name: 'Flotte 2', fuel: true, ticket: true, transfer: true, limitPerTxn: null, limitDayAmount: 30_000 });
  const audit = await h.pool.query("SELECT details FROM audit_log WHERE action = 'profile.update' AND entity_id = $1", [String(p.id)]);
  t.match(audit.rows[0].details.changed, { name: { from: 'Flotte', to: 'Flotte 2' }, ticket: { from: false, to: true }, limit_per_txn: { from: 10_000, to: null } });

  const off = await h.call('ADMIN', 'POST', `/carte/profiles/${p.id}`, { fuel: false, dotation: false, ticket: false });
  t.equal(off.status, 200);
  t.equal(off.body.virtualization, true, 'terminal services off, transfer and recharge on: it now virtualizes its cards');
  const [d] = await h.w.ledger.post([
    { op: 'purchase', source: 'terminal', terminalId: h.w.terminal, stan: '000901', transmissionAt: '1127101500', cardId: card.id, servicePointId: h.w.sp.id, amount: 1000, currency: '952', service: 'fuel', requestHash: '0901' },
  ]);
  t.equal(d.outcome, 'service_not_allowed', 'its cards follow at once');
});

t.test('what a profile update refuses', async (t) => {
  const h = await backoffice(t);
  const fuelOnVirtual = await h.call('ADMIN', 'POST', `/carte/profiles/${h.w.virtualProfile.id}`, { fuel: true });
  t.equal(fuelOnVirtual.status, 422, "a virtual-card profile keeps terminal services off");
  t.equal(fuelOnVirtual.body.field, 'fuel');
  t.equal((await store.getProfile(h.pool, h.w.virtualProfile.id)).fuel, false, 'unchanged');
  t.equal((await h.call('ADMIN', 'POST', '/carte/profiles/999999', { fuel: true })).status, 404);
  const kind = await h.call('ADMIN', 'POST', `/carte/profiles/${h.w.fuel.id}`, { kind: 'virtual' });
  t.equal(kind.status, 400, 'its kind stays');
  const dates = await h.call('ADMIN', 'POST', `/carte/profiles/${h.w.fuel.id}`, { validFrom: '2030-01-02', validTo: '2030-01-01' });
  t.equal(dates.status, 400);
  t.equal((await h.call('OPERATOR', 'POST', `/carte/profiles/${h.w.fuel.id}`, { ticket: true })).status, 403, 'ADMIN only');
});
