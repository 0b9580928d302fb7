/**
 * The cardholder PIN in the back office: a profile says whether its cards need it (a fuel
 * profile does unless told otherwise); POST /carte/cards/:id/pin (ADMIN) sets or resets a
 * card's PIN, stored as HMAC(HASH_SECRET, card id, PIN) with its wrong tries back to 0, shown
 * once only when the back office made it, never audited; reading a card says pinSet and
 * pinBlocked, never the digest.
 */
import t from 'tap';
import { cardPinDigest, PIN_TRIES } from '../../db/secrets.js';
import { backoffice, HASH_SECRET, type Backoffice } from '../helpers/backoffice.js';

const stored = async (h: Backoffice, cardId: number): Promise<{ hash: string | null; tries: number }> =>
  (await h.pool.query<{ hash: string | null; tries: number }>("SELECT encode(pin_hash, 'hex') AS hash, pin_tries AS tries FROM cards WHERE id = $1", [cardId])).rows[0];

t.test('a given PIN: stored as its digest, tries reset, not repeated, not audited', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(1000);
  const before = await h.call('VIEWER', 'GET', `/carte/cards/${card.id}`);
  t.match(before.body, { pinSet: false, pinBlocked: false }, 'no PIN yet');

  const set = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/pin`, { pin: '482193' });
  t.equal(set.status, 200, set.raw);
  t.same(set.body, { id: card.id, pinSet: true }, 'a PIN the caller gave is not repeated');
  t.equal((await stored(h, card.id)).hash, cardPinDigest(HASH_SECRET, card.id, '482193'), 'stored as cardPinDigest(HASH_SECRET, card id, PIN)');

  await h.pool.query('UPDATE cards SET pin_tries = $2 WHERE id = $1', [card.id, PIN_TRIES]);
  const blocked = await h.call('VIEWER', 'GET', `/carte/cards/${card.id}`);
  t.match(blocked.body, { pinSet: true, pinBlocked: true }, `${PIN_TRIES} wrong tries: blocked`);
  t.notMatch(blocked.raw, /pin_hash|pinHash/, 'reading a card never shows the digest');
  t.notMatch(blocked.raw, cardPinDigest(HASH_SECRET, card.id, '482193'));
  t.match((await h.call('VIEWER', 'GET', `/cards/${card.id}`)).body, { pinSet: true, pinBlocked: true }, 'the card view of /cards too');

  const reset = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/pin`, { pin: '1357' });
  t.equal(reset.status, 200, reset.raw);
  t.same(await stored(h, card.id), { hash: cardPinDigest(HASH_SECRET, card.id, '1357'), tries: 0 }, 'a new digest, tries back to 0');
  t.match((await h.call('VIEWER', 'GET', `/carte/cards/${card.id}`)).body, { pinSet: true, pinBlocked: false }, 'no longer blocked');

  const audit = await h.pool.query<{ action: string; entity: string; entity_id: string; d: string }>(
    "SELECT action, entity, entity_id, details::text AS d FROM audit_log WHERE action = 'card.pin' ORDER BY id",
  );
  t.equal(audit.rowCount, 2, 'each set is audited');
  t.match(audit.rows[1], { entity: 'card', entity_id: String(card.id) });
  t.match(JSON.parse(audit.rows[1].d), { generated: false, wasSet: true, wasBlocked: true, via: 'api' });
  const all = audit.rows.map((r) => r.d).join('\n');
  for (const secret of ['482193', '1357', cardPinDigest(HASH_SECRET, card.id, '1357')]) t.notMatch(all, secret, 'neither the PIN nor its digest in the audit log');
});

t.test('no PIN given: a random 4-digit PIN, shown this once', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(0);
  const made = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/pin`);
  t.equal(made.status, 200, made.raw);
  t.same(Object.keys(made.body).sort(), ['id', 'pin']);
  const pin = made.body.pin as string;
  t.match(pin, /^[0-9]{4}$/, 'four digits');
  t.equal((await stored(h, card.id)).hash, cardPinDigest(HASH_SECRET, card.id, pin));
  const read = await h.call('ADMIN', 'GET', `/carte/cards/${card.id}`);
  t.equal(read.body.pinSet, true);
  t.notOk('pin' in read.body, 'reading the card does not show it again');
  const audit = await h.pool.query<{ d: string }>("SELECT details::text AS d FROM audit_log WHERE action = 'card.pin'");
  t.match(JSON.parse(audit.rows[0].d), { generated: true });
  t.notMatch(audit.rows[0].d, new RegExp(`"${pin}"|:${pin}\\b`), 'the PIN is not audited');
  t.equal((await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/pin`, {})).status, 200, 'an empty body makes one too');
});

t.test('refusals: roles, a bad PIN, a virtual card, an unknown card', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(0);
  const url = `/carte/cards/${card.id}/pin`;
  for (const role of ['VIEWER', 'OPERATOR'] as const) t.equal((await h.call(role, 'POST', url, { pin: '1234' })).status, 403, `${role}: 403`);
  for (const pin of ['12a4', '123', '1234567', '', 1234]) {
    const r = await h.call('ADMIN', 'POST', url, { pin });
    t.equal(r.status, 400, `${JSON.stringify(pin)} refused`);
    t.same((r.body.issues as { field: string }[]).map((i) => i.field), ['pin'], 'naming the field');
  }
  const extra = await h.call('ADMIN', 'POST', url, { pin: '1234', tries: 0 });
  t.equal(extra.status, 400, 'an unknown field is refused');
  const vc = await h.call('ADMIN', 'POST', `/carte/cards/${h.w.virtualCard.id}/pin`, { pin: '1234' });
  t.equal(vc.status, 422, "a service point's virtual card has no cardholder PIN");
  t.equal(vc.body.field, 'cardId');
  t.equal((await h.call('ADMIN', 'POST', '/carte/cards/999999/pin', { pin: '1234' })).status, 404);
  t.same(await stored(h, card.id), { hash: null, tries: 0 }, 'refusals stored nothing');
  t.equal((await h.pool.query("SELECT 1 FROM audit_log WHERE action = 'card.pin'")).rowCount, 0, 'and audited nothing');
});

t.test('profiles: pinRequired defaults to the fuel service, is kept when given, changes, reads back', async (t) => {
  const h = await backoffice(t);
  const base = { clientId: h.w.elton.id, name: 'Profil' };
  const fuel = await h.call('OPERATOR', 'POST', '/profiles', { ...base, code: 'PIN_FUEL', fuel: true });
  t.equal(fuel.status, 201, fuel.raw);
  t.equal(fuel.body.pinRequired, true, 'a fuel profile requires the PIN by default');
  const fuelNoPin = await h.call('OPERATOR', 'POST', '/profiles', { ...base, code: 'PIN_FUEL_OFF', fuel: true, pinRequired: false });
  t.equal(fuelNoPin.body.pinRequired, false, 'an explicit false is kept');
  const ticket = await h.call('OPERATOR', 'POST', '/profiles', { ...base, code: 'PIN_TICKET', ticket: true });
  t.equal(ticket.body.pinRequired, false, 'without fuel: not required by default');
  const ticketPin = await h.call('OPERATOR', 'POST', '/profiles', { ...base, code: 'PIN_TICKET_ON', ticket: true, pinRequired: true });
  t.equal(ticketPin.body.pinRequired, true, 'an explicit true is kept');
  t.equal((await h.call('VIEWER', 'GET', `/profiles/${fuel.body.id as number}`)).body.pinRequired, true, 'read back');
  const bad = await h.call('OPERATOR', 'POST', '/profiles', { ...base, code: 'PIN_BAD', pinRequired: 'yes' });
  t.equal(bad.status, 400);

  const id = fuel.body.id as number;
  const off = await h.call('ADMIN', 'POST', `/carte/profiles/${id}`, { pinRequired: false });
  t.equal(off.status, 200, off.raw);
  t.match(off.body, { pinRequired: false, fuel: true }, 'update turns it off, the rest stays');
  const audit = await h.pool.query("SELECT details FROM audit_log WHERE action = 'profile.update' AND entity_id = $1", [String(id)]);
  t.match(audit.rows[0].details.changed, { pin_required: { from: true, to: false } });
  t.equal((await h.call('ADMIN', 'POST', `/carte/profiles/${id}`, { name: 'Renamed' })).body.pinRequired, false, 'absent: unchanged');
  t.equal((await h.call('ADMIN', 'POST', `/carte/profiles/${id}`, { pinRequired: true })).body.pinRequired, true, 'and back on');
  const read = await h.call('VIEWER', 'GET', `/carte/cards/${(await h.w.card(0, { profileId: id })).id}`);
  t.match(read.body.profile, { id, pinRequired: true }, "a card's view shows its profile's requirement");
  t.equal(h.w.fuel.pin_required, false, "the test world's profiles (made through the store) keep the store's default: false");
});
