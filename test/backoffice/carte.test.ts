/**
 * /carte/*: virtual cards (naming, uniqueness, profile kind), virtualization (what it
 * refuses, what it changes at a terminal), block/unblock, recharge and transfer through
 * the ledger (network rules), and reading a card with its balance and journal.
 */
import t from 'tap';
import * as store from '../../db/store.js';
import { luhnValid } from '../../db/secrets.js';
import { checkLedger } from '../../db/check.js';
import { backoffice, type Backoffice } from '../helpers/backoffice.js';

let stan = 0;

/** A fuel purchase at PS_SENOSOFT's first terminal, through the ledger as the switch will post it. */
async function purchase(h: Backoffice, cardId: number, amount: number): Promise<string> {
  const s = String(++stan).padStart(6, '0');
  const [r] = await h.w.ledger.post([
    { op: 'purchase', source: 'terminal', terminalId: h.w.terminal, stan: s, transmissionAt: '1127101500', cardId, servicePointId: h.w.sp.id, amount, currency: '952', service: 'fuel', requestHash: s },
  ]);
  return r.outcome;
}

t.test('virtual card: named C_VIRT_<code>, one per service point, virtual-card profile only', async (t) => {
  const h = await backoffice(t);
  const sp = await store.createServicePoint(h.pool, { code: 'PS_DAKAR_01', name: 'Dakar 01' });
  const body = { servicePointId: sp.id, clientId: h.w.elton.id, memberId: h.w.manager.id, profileId: h.w.virtualProfile.id };

  const wrongProfile = await h.call('ADMIN', 'POST', '/carte/virtual-cards', { ...body, profileId: h.w.fuel.id });
  t.equal(wrongProfile.status, 422, 'a standard profile is refused');
  t.equal(wrongProfile.body.field, 'profileId');

  const otherMember = await h.call('ADMIN', 'POST', '/carte/virtual-cards', { ...body, memberId: h.w.outsiderMember.id });
  t.equal(otherMember.status, 422, "the holder must be a member of the client");
  t.equal(otherMember.body.field, 'memberId');

  const noSp = await h.call('ADMIN', 'POST', '/carte/virtual-cards', { ...body, servicePointId: 999999 });
  t.equal(noSp.status, 422);
  t.equal(noSp.body.field, 'servicePointId');

  const made = await h.call('ADMIN', 'POST', '/carte/virtual-cards', body);
  t.equal(made.status, 201, made.raw);
  t.equal(made.body.name, 'C_VIRT_PS_DAKAR_01');
  t.equal(made.body.isVirtual, true);
  t.equal(made.body.servicePointId, sp.id);
  t.equal(made.body.memberId, h.w.manager.id);
  const pan = made.body.pan as string;
  t.ok(luhnValid(pan), 'the creation answer shows the full PAN, once');
  t.equal(made.body.panMasked, `${pan.slice(0, 6)}${'*'.repeat(pan.length - 10)}${pan.slice(-4)}`);
  t.equal((await store.getCardByPan(h.pool, h.w.vault, pan)).id, made.body.id, 'stored under that PAN (sealed, found by its HMAC)');

  const again = await h.call('ADMIN', 'POST', '/carte/virtual-cards', body);
  t.equal(again.status, 409, 'a second virtual card for the service point');
  t.equal(again.body.error, 'conflict');
  t.equal(again.body.field, 'servicePointId');
  t.equal((await h.pool.query('SELECT 1 FROM cards WHERE service_point_id = $1', [sp.id])).rowCount, 1, 'still one');

  const spView = await h.call('VIEWER', 'GET', `/service-points/${sp.id}`);
  t.equal(spView.body.virtualCardId, made.body.id, 'the service point knows its virtual card');

  const read = await h.call('VIEWER', 'GET', `/carte/cards/${made.body.id as number}`);
  t.equal(read.status, 200);
  t.notMatch(read.raw, pan, 'reading it never shows the full PAN');
  t.equal(read.body.panMasked, made.body.panMasked);

  const viaCards = await h.call('OPERATOR', 'POST', '/cards', { clientId: h.w.elton.id, memberId: h.w.manager.id, profileId: h.w.virtualProfile.id, name: 'x' });
  t.equal(viaCards.status, 422, 'a virtual-card profile is not for a standard card');
});

t.test('the demo name: PS_SENOSOFT gives C_VIRT_PS_SENOSOFT', async (t) => {
  const h = await backoffice(t);
  t.equal(h.w.virtualCard.name, 'C_VIRT_PS_SENOSOFT', 'made by the store for the world');
  const again = await h.call('ADMIN', 'POST', '/carte/virtual-cards', {
    servicePointId: h.w.sp.id,
    clientId: h.w.elton.id,
    memberId: h.w.manager.id,
    profileId: h.w.virtualProfile.id,
  });
  t.equal(again.status, 409);
  const bare = await h.call('ADMIN', 'POST', '/carte/virtual-cards', {
    servicePointId: h.w.spBare.id,
    clientId: h.w.elton.id,
    memberId: h.w.manager.id,
    profileId: h.w.virtualProfile.id,
    expiry: '3012',
  });
  t.equal(bare.status, 201);
  t.equal(bare.body.name, 'C_VIRT_PS_BARE');
  t.equal(bare.body.expiry, '3012');
});

t.test('virtualization: refuses what is not a virtualization profile; stops terminal use; undone by a standard profile', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(10_000);
  const url = `/carte/cards/${card.id}`;
  const rechargeOnly = await store.createProfile(h.pool, { clientId: h.w.elton.id, code: 'RECHARGE_ONLY', name: 'r', recharge: true });
  const ticketToo = await store.createProfile(h.pool, { clientId: h.w.elton.id, code: 'TICKET_TOO', name: 't', ticket: true, transfer: true, recharge: true });
  const siblingVirtualization = await store.createProfile(h.pool, { clientId: h.w.sibling.id, code: 'VIRTUALIZED', name: 'v', transfer: true, recharge: true });

  for (const [why, profileId, status] of [
    ['the fuel profile', h.w.fuel.id, 422],
    ['a virtual-card profile', h.w.virtualProfile.id, 422],
    ['transfer off', rechargeOnly.id, 422],
    ['a terminal service on', ticketToo.id, 422],
    ["another client's profile", siblingVirtualization.id, 422],
    ['no such profile', 999999, 422],
  ] as const) {
    const r = await h.call('ADMIN', 'POST', `${url}/virtualize`, { profileId });
    t.equal(r.status, status, `${why}: refused`);
    t.equal(r.body.field, 'profileId', `${why}: names profileId`);
  }
  t.equal((await store.getCard(h.pool, card.id)).profile_id, h.w.fuel.id, 'refusals left the profile alone');
  t.equal(await purchase(h, card.id, 100), 'approved', 'before: the card buys fuel');

  const unv = await h.call('ADMIN', 'POST', `${url}/unvirtualize`, { profileId: h.w.fuel.id });
  t.equal(unv.status, 422, 'un-virtualizing a card that is not virtualized');
  t.equal(unv.body.field, 'cardId');

  const v = await h.call('ADMIN', 'POST', `${url}/virtualize`, { profileId: h.w.virtualization.id });
  t.equal(v.status, 200, v.raw);
  t.equal(v.body.profileId, h.w.virtualization.id);
  t.equal(v.body.isVirtual, false, 'a virtualized card is not a virtual card');
  const read = await h.call('VIEWER', 'GET', url);
  t.equal(read.body.virtualized, true);
  t.equal((read.body.profile as { virtualization: boolean }).virtualization, true);

  t.equal(await purchase(h, card.id, 100), 'service_not_allowed', 'after: no terminal transaction');
  const other = await h.w.card(0);
  const tr = await h.call('ADMIN', 'POST', `${url}/transfer`, { toCardId: other.id, amount: 500 });
  t.equal(tr.status, 200, 'back-office transfer still works');
  const code = await h.call('ADMIN', 'POST', `${url}/codes`, { amountMax: 1000, ttlSeconds: 600 });
  t.equal(code.status, 201, 'and code generation');

  const back = await h.call('ADMIN', 'POST', `${url}/unvirtualize`, { profileId: h.w.virtualization.id });
  t.equal(back.status, 422, 'un-virtualizing to a profile without terminal services');
  t.equal(back.body.field, 'profileId');
  const undone = await h.call('ADMIN', 'POST', `${url}/unvirtualize`, { profileId: h.w.fuel.id });
  t.equal(undone.status, 200);
  t.equal(undone.body.profileId, h.w.fuel.id);
  t.equal(await purchase(h, card.id, 100), 'approved', 'terminal transactions again');

  const vc = await h.call('ADMIN', 'POST', `/carte/cards/${h.w.virtualCard.id}/virtualize`, { profileId: h.w.virtualization.id });
  t.equal(vc.status, 422, "a service point's virtual card cannot be virtualized");
  t.equal(vc.body.field, 'cardId');
});

t.test('block, unblock, change profile', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(5000);
  const url = `/carte/cards/${card.id}`;
  const blocked = await h.call('ADMIN', 'POST', `${url}/block`, { reason: 'stolen' });
  t.equal(blocked.status, 200);
  t.equal(blocked.body.status, 'blocked');
  t.equal(await purchase(h, card.id, 100), 'card_restricted');
  const unblocked = await h.call('ADMIN', 'POST', `${url}/unblock`);
  t.equal(unblocked.body.status, 'active');
  t.equal(await purchase(h, card.id, 100), 'approved');

  const ticket = await store.createProfile(h.pool, { clientId: h.w.elton.id, code: 'TICKET', name: 'Ticket', ticket: true });
  const changed = await h.call('ADMIN', 'POST', `${url}/profile`, { profileId: ticket.id });
  t.equal(changed.status, 200);
  t.equal(changed.body.profileId, ticket.id);
  t.equal(await purchase(h, card.id, 100), 'service_not_allowed', 'the new profile rules at the terminal');
  const foreign = await h.call('ADMIN', 'POST', `${url}/profile`, { profileId: h.w.outsiderFuel.id });
  t.equal(foreign.status, 422);
  t.equal(foreign.body.field, 'profileId');
  t.equal((await h.call('ADMIN', 'POST', '/carte/cards/999999/block')).status, 404);

  await store.setCardStatus(h.pool, card.id, 'cancelled');
  const revive = await h.call('ADMIN', 'POST', `${url}/unblock`);
  t.equal(revive.status, 422, 'a cancelled card stays cancelled');
});

t.test('recharge and transfer: through the ledger, same client or same network only', async (t) => {
  const h = await backoffice(t);
  const a = await h.w.card(0);
  const b = await h.w.card(0);
  const sibling = await h.w.card(0, { clientId: h.w.sibling.id });
  const outsider = await h.w.card(0, { clientId: h.w.outsider.id });

  const rc = await h.call('ADMIN', 'POST', `/carte/cards/${a.id}/recharge`, { amount: 10_000, note: 'monthly allowance' });
  t.equal(rc.status, 200, rc.raw);
  t.equal(rc.body.outcome, 'approved');
  t.equal((rc.body.card as { balance: number }).balance, 10_000);
  const j = await h.pool.query<{ user_id: number; note: string; op: string }>('SELECT user_id, note, op FROM journal WHERE id = $1', [rc.body.journalId]);
  t.same(j.rows[0], { user_id: h.users.ADMIN.id, note: 'monthly allowance', op: 'recharge' }, 'the journal carries the acting user');

  const same = await h.call('ADMIN', 'POST', `/carte/cards/${a.id}/transfer`, { toCardId: b.id, amount: 1000 });
  t.equal(same.status, 200, 'same client');
  t.equal((same.body.card as { balance: number }).balance, 9000);
  t.equal((same.body.toCard as { balance: number }).balance, 1000);

  const net = await h.call('ADMIN', 'POST', `/carte/cards/${a.id}/transfer`, { toCardId: sibling.id, amount: 2000 });
  t.equal(net.status, 200, 'another client of the same network');
  t.equal((await store.getCard(h.pool, sibling.id)).balance, 2000);

  const out = await h.call('ADMIN', 'POST', `/carte/cards/${a.id}/transfer`, { toCardId: outsider.id, amount: 500 });
  t.equal(out.status, 422, 'a client outside the network');
  t.equal(out.body.error, 'declined');
  t.equal(out.body.outcome, 'transfer_outside_network');
  t.match(out.body.message, /network/);
  t.equal((await store.getCard(h.pool, a.id)).balance, 7000, 'nothing moved');
  t.equal((await store.getCard(h.pool, outsider.id)).balance, 0);
  const declined = await h.pool.query('SELECT outcome FROM journal WHERE id = $1', [out.body.journalId]);
  t.equal(declined.rows[0].outcome, 'transfer_outside_network', 'the decline is journaled');

  const back = await h.call('ADMIN', 'POST', `/carte/cards/${outsider.id}/transfer`, { toCardId: a.id, amount: 1 });
  t.equal(back.body.outcome, 'transfer_outside_network', 'and the other way');

  const broke = await h.call('ADMIN', 'POST', `/carte/cards/${b.id}/transfer`, { toCardId: a.id, amount: 5000 });
  t.equal(broke.status, 422);
  t.equal(broke.body.outcome, 'insufficient_funds');

  const self = await h.call('ADMIN', 'POST', `/carte/cards/${a.id}/transfer`, { toCardId: a.id, amount: 1 });
  t.equal(self.body.outcome, 'invalid_transfer');

  const noTarget = await h.call('ADMIN', 'POST', `/carte/cards/${a.id}/transfer`, { toCardId: 999999, amount: 1 });
  t.equal(noTarget.status, 422);
  t.equal(noTarget.body.field, 'toCardId');

  const noRecharge = await store.createProfile(h.pool, { clientId: h.w.elton.id, code: 'NORECHARGE', name: 'n', fuel: true });
  await store.setCardProfile(h.pool, b.id, noRecharge.id);
  const refused = await h.call('ADMIN', 'POST', `/carte/cards/${b.id}/recharge`, { amount: 100 });
  t.equal(refused.status, 422);
  t.equal(refused.body.outcome, 'operation_not_allowed');

  const check = await checkLedger(h.pool);
  t.ok(check.ok, 'the ledger still balances');
});

t.test('reading a card: balance, profile and journal, PAN masked', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(0);
  const other = await h.w.card(0);
  await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/recharge`, { amount: 3000 });
  await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/transfer`, { toCardId: other.id, amount: 1000 });
  await purchase(h, card.id, 500);
  const r = await h.call('VIEWER', 'GET', `/carte/cards/${card.id}`);
  t.equal(r.status, 200);
  t.equal(r.body.balance, 1500);
  t.equal(r.body.available, 1500);
  t.equal(r.body.currency, '952');
  t.notMatch(r.raw, card.pan, 'no full PAN');
  t.equal(r.body.panMasked, `${card.pan.slice(0, 6)}******${card.pan.slice(-4)}`);
  const journal = r.body.journal as { op: string; movement: number; outcome: string }[];
  t.same(
    journal.map((l) => [l.op, l.movement, l.outcome]),
    [
      ['purchase', -500, 'approved'],
      ['transfer', -1000, 'approved'],
      ['recharge', 3000, 'approved'],
    ],
    'newest first, with the movement on this card',
  );
  const credited = await h.call('VIEWER', 'GET', `/carte/cards/${other.id}`);
  t.same(
    (credited.body.journal as { op: string; movement: number }[]).map((l) => [l.op, l.movement]),
    [['transfer', 1000]],
    'a transfer target sees the transfer it received',
  );
  const station = await h.call('VIEWER', 'GET', `/carte/cards/${h.w.virtualCard.id}`);
  t.same(
    (station.body.journal as { op: string; movement: number }[]).map((l) => [l.op, l.movement]),
    [['purchase', 500]],
    "the service point's virtual card sees the purchase it was credited",
  );
  const short = await h.call('VIEWER', 'GET', `/carte/cards/${card.id}?journalLimit=1`);
  t.equal((short.body.journal as unknown[]).length, 1);
  const list = await h.call('VIEWER', 'GET', `/cards?clientId=${h.w.elton.id}&limit=500`);
  t.notMatch(list.raw, card.pan, 'lists never show full PANs');
  t.notMatch(list.raw, /[0-9]{16}/, 'no 16-digit number at all');
  t.ok((list.body.items as unknown[]).length >= 3);
  const virtuals = await h.call('VIEWER', 'GET', '/cards?virtual=true');
  t.same((virtuals.body.items as { isVirtual: boolean }[]).map((c) => c.isVirtual), [true], 'filter by kind');
});
