/**
 * Networks, clients, members, service points, terminals (and PINs), profiles, standard
 * cards: create, read, list, duplicates (409), unknown ids (404).
 */
import t from 'tap';
import * as store from '../../db/store.js';
import { luhnValid } from '../../db/secrets.js';
import { backoffice } from '../helpers/backoffice.js';

t.test('parties: network, client in it, member; reads and lists', async (t) => {
  const h = await backoffice(t);
  const net = await h.call('OPERATOR', 'POST', '/networks', { code: 'RESEAU_OUEST', name: 'Ouest' });
  t.equal(net.status, 201);
  t.equal((await h.call('OPERATOR', 'POST', '/networks', { code: 'RESEAU_OUEST', name: 'again' })).status, 409, 'duplicate network code');
  const client = await h.call('OPERATOR', 'POST', '/clients', { code: 'TOTAL_SN', name: 'Total Sénégal', networkId: net.body.id });
  t.equal(client.status, 201);
  t.equal(client.body.networkId, net.body.id);
  t.type(client.body.fundingAccountId, 'number', 'a client comes with its funding account');
  const dup = await h.call('OPERATOR', 'POST', '/clients', { code: 'TOTAL_SN', name: 'x' });
  t.equal(dup.status, 409);
  t.equal(dup.body.field, 'code', 'the conflict names the field');

  const member = await h.call('OPERATOR', 'POST', '/members', { clientId: client.body.id, name: 'Awa Diop', email: 'awa@example.sn', phone: '+221 77 000 00 00' });
  t.equal(member.status, 201);
  t.same((await h.call('VIEWER', 'GET', `/members/${member.body.id as number}`)).body, member.body);
  const members = await h.call('VIEWER', 'GET', `/clients/${client.body.id as number}/members`);
  t.same((members.body.items as { name: string }[]).map((m) => m.name), ['Awa Diop']);
  const inNet = await h.call('VIEWER', 'GET', `/clients?networkId=${net.body.id as number}`);
  t.same((inNet.body.items as { code: string }[]).map((c) => c.code), ['TOTAL_SN'], 'clients of a network');
  const paged = await h.call('VIEWER', 'GET', '/clients?limit=2&offset=1');
  t.same(paged.body.limit, 2);
  t.equal((paged.body.items as unknown[]).length, 2, 'ELTON, SIBLING, OUTSIDER, TOTAL_SN: a page of 2 from the second');
  t.equal((await h.call('VIEWER', 'GET', '/networks/999999')).status, 404);
  t.equal((await h.call('VIEWER', 'GET', '/clients/999999/members')).status, 404);
});

t.test('service points and terminals: create, block, unblock, PINs that replace each other', async (t) => {
  const h = await backoffice(t);
  const sp = await h.call('OPERATOR', 'POST', '/service-points', { code: 'PS_THIES', name: 'Thiès' });
  t.equal(sp.status, 201);
  t.equal(sp.body.virtualCardId, null, 'no virtual card yet');
  t.equal((await h.call('OPERATOR', 'POST', '/service-points', { code: 'PS_THIES', name: 'again' })).status, 409);
  const term = await h.call('OPERATOR', 'POST', '/terminals', { id: 'THI00001', servicePointId: sp.body.id });
  t.equal(term.status, 201);
  const { masterKey, ...terminal } = term.body;
  t.same(terminal, { id: 'THI00001', servicePointId: sp.body.id, status: 'active', initializedAt: null });
  t.match(masterKey, { terminalId: 'THI00001', algorithm: 'tdes' }, 'with its master key (test/backoffice/terminal-keys.test.ts)');
  const dup = await h.call('OPERATOR', 'POST', '/terminals', { id: 'THI00001', servicePointId: sp.body.id });
  t.equal(dup.status, 409);
  t.equal(dup.body.field, 'id');

  t.equal((await h.call('OPERATOR', 'POST', '/terminals/THI00001/block')).body.status, 'blocked');
  t.equal((await h.call('VIEWER', 'GET', '/terminals/THI00001')).body.status, 'blocked');
  t.equal((await h.call('OPERATOR', 'POST', '/terminals/THI00001/unblock', {})).body.status, 'active');

  const first = await h.call('OPERATOR', 'POST', '/terminals/THI00001/pins', {});
  const second = await h.call('OPERATOR', 'POST', '/terminals/THI00001/pins', { ttlSeconds: 600 });
  t.equal(first.status, 201);
  t.equal(second.status, 201);
  const ttl = (Date.parse(second.body.expiresAt as string) - Date.now()) / 1000;
  t.ok(ttl > 580 && ttl <= 600, 'the asked validity');
  const firstTtl = (Date.parse(first.body.expiresAt as string) - Date.now()) / 1000;
  t.ok(firstTtl > 86_000, 'the default validity (BACKOFFICE_PIN_TTL_SECONDS, a day)');
  if (first.body.pin !== second.body.pin) {
    t.equal(await store.consumeTerminalPin(h.pool, 'THI00001', first.body.pin as string), 'wrong', 'the new PIN replaced the unused one');
  }
  t.equal(await store.consumeTerminalPin(h.pool, 'THI00001', second.body.pin as string), 'ok', 'the new PIN initialises the terminal');
  t.equal(await store.consumeTerminalPin(h.pool, 'THI00001', second.body.pin as string), 'no_pin', 'once');
  const stored = await h.pool.query<{ pin_hash: string }>("SELECT pin_hash FROM terminal_pins WHERE terminal_id = 'THI00001'");
  t.ok(stored.rows.every((r) => r.pin_hash.startsWith('scrypt$')), 'PINs stored hashed');
  t.notOk((await h.call('VIEWER', 'GET', '/terminals/THI00001')).body.initializedAt === null, 'initialized');

  const list = await h.call('VIEWER', 'GET', `/service-points/${sp.body.id as number}/terminals`);
  t.same((list.body.items as { id: string }[]).map((x) => x.id), ['THI00001']);
  const sps = await h.call('VIEWER', 'GET', '/service-points');
  t.same((sps.body.items as { code: string }[]).map((x) => x.code), ['PS_SENOSOFT', 'PS_BARE', 'PS_THIES']);
  t.equal((await h.call('VIEWER', 'GET', '/terminals/NOPE0000')).status, 404);
  t.equal((await h.call('OPERATOR', 'POST', '/terminals/NOPE0000/block')).status, 404);
});

t.test('profiles and standard cards', async (t) => {
  const h = await backoffice(t);
  const p = await h.call('OPERATOR', 'POST', '/profiles', {
    clientId: h.w.elton.id,
    code: 'FLEET',
    name: 'Flotte',
    fuel: true,
    dotation: true,
    limitPerTxn: 50_000,
    limitDayCount: 5,
    validFrom: '2025-01-01',
    validTo: '2030-12-31',
  });
  t.equal(p.status, 201, p.raw);
  t.match(p.body, { kind: 'standard', fuel: true, dotation: true, ticket: false, transfer: false, limitPerTxn: 50_000, limitDayCount: 5, validTo: '2030-12-31', virtualization: false });
  t.equal((await h.call('OPERATOR', 'POST', '/profiles', { clientId: h.w.elton.id, code: 'FLEET', name: 'again' })).status, 409);
  t.same((await h.call('VIEWER', 'GET', `/profiles/${p.body.id as number}`)).body, p.body);
  const list = await h.call('VIEWER', 'GET', `/clients/${h.w.elton.id}/profiles`);
  t.same((list.body.items as { code: string }[]).map((x) => x.code), ['FUEL', 'VIRTUAL', 'VIRTUALIZED', 'FLEET']);

  const card = await h.call('OPERATOR', 'POST', '/cards', { clientId: h.w.elton.id, memberId: h.w.manager.id, profileId: p.body.id, name: 'Camion 12', expiry: '3006' });
  t.equal(card.status, 201);
  const pan = card.body.pan as string;
  t.ok(luhnValid(pan), 'the full PAN, once');
  t.match(card.body, { name: 'Camion 12', expiry: '3006', status: 'active', balance: 0, currency: '952', isVirtual: false });
  const read = await h.call('VIEWER', 'GET', `/cards/${card.body.id as number}`);
  t.notOk('pan' in read.body, 'reads have no pan field');
  t.notMatch(read.raw, pan);
  const defaulted = await h.call('OPERATOR', 'POST', '/cards', { clientId: h.w.elton.id, memberId: h.w.manager.id, profileId: h.w.fuel.id, name: 'Default expiry' });
  const yy = (new Date().getUTCFullYear() + 3) % 100;
  t.equal((defaulted.body.expiry as string).slice(0, 2), String(yy).padStart(2, '0'), 'expiry defaults to three years');
  const foreign = await h.call('OPERATOR', 'POST', '/cards', { clientId: h.w.elton.id, memberId: h.w.siblingMember.id, profileId: h.w.fuel.id, name: 'x' });
  t.equal(foreign.status, 422);
  t.equal(foreign.body.field, 'memberId');
  t.equal((await h.call('VIEWER', 'GET', '/cards/999999')).status, 404);
});
