/**
 * The web pages without a browser: sign-in and its lock-out, the session cookie's attributes,
 * CSRF refusals, the pages and menu entries of each role, the seed's form and its errors.
 * (The same in headless Chromium, click by click: browser.test.ts.)
 */
import t from 'tap';
import * as store from '../../db/store.js';
import { cardPinDigest } from '../../db/secrets.js';
import { backoffice, HASH_SECRET } from '../helpers/backoffice.js';
import { PASSWORD, signedIn, WebClient, withPasswords } from '../helpers/web.js';

t.test('sign-in: a wrong password, the lock-out, the session cookie, sign-out', async (t) => {
  const h = await backoffice(t);
  await withPasswords(h);
  const c = new WebClient(h.app);
  const anon = await c.get('/');
  t.equal(anon.status, 303, 'signed out, a page sends to the sign-in page');
  t.equal(anon.location, '/connexion?next=%2F');
  const form = await c.get('/connexion');
  t.equal(form.status, 200);
  t.match(form.body, /name="_csrf" value="[^"]+"/, 'the sign-in form carries a CSRF token');
  t.match(String(form.headers['content-security-policy']), /script-src 'self'/, 'security headers (helmet)');

  const wrong = await c.post('/connexion', { username: 'admin', password: 'not it' });
  t.equal(wrong.status, 401);
  t.match(wrong.body, /ou mot de passe incorrect/);

  const ok = await c.signIn('admin');
  t.equal(ok.status, 303);
  t.equal(ok.location, '/');
  const set = String(([] as unknown[]).concat(ok.headers['set-cookie'])[0]);
  t.match(set, /^cynod_session=/);
  t.match(set, /HttpOnly/i);
  t.match(set, /SameSite=Strict/i);
  t.notMatch(set, /Secure/i, 'not Secure over plain HTTP ...');
  const behindTls = await backoffice(t, { env: { BACKOFFICE_TRUST_PROXY: 'true' } });
  await withPasswords(behindTls);
  const s = new WebClient(behindTls.app);
  await s.request('GET', '/connexion', undefined, { 'x-forwarded-proto': 'https' });
  const viaTls = await s.request('POST', '/connexion', { _csrf: s.csrf, username: 'admin', password: PASSWORD }, { 'x-forwarded-proto': 'https' });
  t.equal(viaTls.status, 303);
  const secure = String(([] as unknown[]).concat(viaTls.headers['set-cookie'])[0]);
  t.match(secure, /; Secure/i, '... Secure behind TLS');
  t.match(secure, /SameSite=Strict/i);
  const home = await c.get('/');
  t.equal(home.status, 200);
  t.match(home.body, /Connecté : admin \(ADMIN\)/);

  const out = await c.post('/deconnexion');
  t.equal(out.status, 303);
  t.equal((await c.get('/')).status, 303, 'signed out again');

  // lock-out: BACKOFFICE_SIGNIN_MAX_FAILURES (5) wrong ones in a row
  const v = new WebClient(h.app);
  await v.get('/connexion');
  for (let i = 0; i < 4; i++) t.equal((await v.post('/connexion', { username: 'viewer', password: `wrong ${i}` })).status, 401);
  const locked = await v.post('/connexion', { username: 'viewer', password: 'wrong 5' });
  t.equal(locked.status, 423, 'the fifth locks the account');
  t.match(locked.body, /Compte verrouillé/);
  const evenRight = await v.signIn('viewer');
  t.equal(evenRight.status, 423, 'even the right password while locked');
  const row = (await h.pool.query('SELECT locked_until > now() AS locked FROM users WHERE id = $1', [h.users.VIEWER.id])).rows[0];
  t.equal(row.locked, true);
  const unknown = await v.post('/connexion', { username: 'nobody', password: 'x' });
  t.equal(unknown.status, 401, 'an unknown user reads like a wrong password');
});

t.test('CSRF: a form without the token, or with another session\'s, is refused', async (t) => {
  const h = await backoffice(t);
  await withPasswords(h);
  const c = await signedIn(h, 'ADMIN');
  const card = await h.w.card(1000);
  await c.get(`/carte/cartes/${card.id}`);
  const none = await c.request('POST', `/carte/cartes/${card.id}/block`, {});
  t.equal(none.status, 403);
  t.match(none.body, /jeton CSRF refusé/);
  const other = await signedIn(h, 'ADMIN');
  await other.get('/');
  const foreign = await c.request('POST', `/carte/cartes/${card.id}/block`, { _csrf: other.csrf });
  t.equal(foreign.status, 403, "another session's token");
  t.equal((await store.getCard(h.pool, card.id)).status, 'active', 'nothing changed');
  const signInNoToken = await new WebClient(h.app).request('POST', '/connexion', { username: 'admin', password: 'x' });
  t.equal(signInNoToken.status, 403, 'the sign-in form too');
  const good = await c.post(`/carte/cartes/${card.id}/block`);
  t.equal(good.status, 303);
  t.equal((await store.getCard(h.pool, card.id)).status, 'blocked');
});

t.test('each role: menu entries and pages', async (t) => {
  const h = await backoffice(t);
  await withPasswords(h);
  const admin = await signedIn(h, 'ADMIN');
  const operator = await signedIn(h, 'OPERATOR');
  const viewer = await signedIn(h, 'VIEWER');
  const create = '/carte/cartes-virtuelles/creation';

  const a = await admin.get('/');
  t.match(a.body, /Création d&#39;une carte virtuelle|Création d'une carte virtuelle/, "the ADMIN's menu has the seed's entry");
  t.match(a.body, /Journal d&#39;audit|Journal d'audit/);
  t.equal((await admin.get(create)).status, 200);
  t.equal((await admin.get('/administration/audit')).status, 200);
  t.equal((await admin.get('/administration/utilisateurs')).status, 200);

  for (const [name, c] of [['OPERATOR', operator], ['VIEWER', viewer]] as const) {
    const home = await c.get('/');
    t.equal(home.status, 200);
    t.notMatch(home.body, /cartes-virtuelles\/creation/, `${name} never sees the creation entry`);
    t.notMatch(home.body, /administration\/audit/, `${name} never sees the audit log entry`);
    const denied = await c.get(create);
    t.equal(denied.status, 403, `${name} gets a 403 page on the URL`);
    t.match(denied.body, /Accès refusé \(403\)/);
    t.equal((await c.get('/administration/audit')).status, 403);
    for (const url of ['/carte/cartes', `/carte/cartes/${h.w.virtualCard.id}`, '/exploitation/points-de-service', '/exploitation/terminaux', '/exploitation/clients', `/exploitation/clients/${h.w.elton.id}`, '/carte/profils']) {
      t.equal((await c.get(url)).status, 200, `${name} reads ${url}`);
    }
    const cardPage = await c.get(`/carte/cartes/${h.w.virtualCard.id}`);
    t.notMatch(cardPage.body, /id="actions"/, `${name} sees no /carte/* actions`);
    const post = await c.post(`/carte/cartes/${h.w.virtualCard.id}/block`);
    t.equal(post.status, 403, `${name} cannot post a /carte/* write`);
  }
  t.equal((await store.getCard(h.pool, h.w.virtualCard.id)).status, 'active');

  // terminals are OPERATOR's (DESIGN.md): a PIN, shown once; the VIEWER only reads
  const pin = await operator.post(`/exploitation/terminaux/${h.w.terminal}/pin`);
  t.equal(pin.status, 200);
  t.match(pin.body, /<p class="secret">[0-9]{4}<\/p>/, 'the PIN shown once');
  t.equal(pin.headers['cache-control'], 'no-store');
  t.equal((await viewer.post(`/exploitation/terminaux/${h.w.terminal}/block`)).status, 403);

  const en = await viewer.get('/?lang=en');
  t.match(en.body, /Dashboard/, 'English on ?lang=en');
  t.match((await viewer.get('/exploitation/terminaux')).body, /Terminals/, 'and remembered');
});

t.test("the seed's form: choices, errors next to the field, Enregistrer to the new card's page", async (t) => {
  const h = await backoffice(t);
  await withPasswords(h);
  const c = await signedIn(h, 'ADMIN');
  const beneficiary = await store.createMember(h.pool, { clientId: h.w.elton.id, name: 'Bénéficiaire unique', kind: 'beneficiary' });
  const url = '/carte/cartes-virtuelles/creation';
  const page = await c.get(url);
  t.match(page.body, /Pour un point de service/);
  t.match(page.body, /Enregistrer/);

  const picked = await c.get(`${url}/formulaire?clientId=&forServicePoint=on&servicePointId=${h.w.spBare.id}`);
  t.match(picked.body, new RegExp(`<option value="${h.w.elton.id}" selected>ELTON \\(établissement du point de service\\)</option>`), "the service point's establishment first, chosen");
  t.match(picked.body, /value="C_VIRT_PS_BARE"/, 'the name C_VIRT_<service point>');
  t.notMatch(picked.body, /PS_SENOSOFT —/, 'a service point with a virtual card is not offered');
  t.match(picked.body, /<optgroup label="Bénéficiaires"><option value="\d+">Bénéficiaire unique \(bénéficiaire\)/, 'holders: members and beneficiaries');
  t.match(picked.body, new RegExp(`<option value="${h.w.virtualProfile.id}" selected>Carte virtuelle</option>`), 'the only "Carte virtuelle" profile');
  const profiles = /<select name="profileId"[^]*?<\/select>/.exec(picked.body)?.[0] ?? '';
  t.notMatch(profiles, new RegExp(`<option value="${h.w.fuel.id}"`), 'no other profile');

  const unticked = await c.post(url, { clientId: String(h.w.elton.id), memberId: String(beneficiary.id), profileId: String(h.w.virtualProfile.id) });
  t.equal(unticked.status, 400);
  t.match(unticked.body, /data-field="servicePointId">Cochez « Pour un point de service »/, 'the error next to the field');

  const outsider = await c.post(url, { clientId: String(h.w.elton.id), memberId: String(h.w.outsiderMember.id), profileId: String(h.w.virtualProfile.id), forServicePoint: 'on', servicePointId: String(h.w.spBare.id) });
  t.equal(outsider.status, 422, "the API's refusal");
  t.match(outsider.body, /data-field="memberId">the holder must be a member/);

  const done = await c.post(url, { clientId: String(h.w.elton.id), memberId: String(beneficiary.id), profileId: String(h.w.virtualProfile.id), forServicePoint: 'on', servicePointId: String(h.w.spBare.id) });
  t.equal(done.status, 303, done.body.slice(0, 400));
  const m = /^\/carte\/cartes\/(\d+)\?ok=created$/.exec(done.location ?? '');
  t.ok(m, `to the new card's page (${done.location})`);
  const card = await store.getCard(h.pool, Number(m?.[1]));
  t.equal(card.name, 'C_VIRT_PS_BARE');
  t.equal(card.member_id, beneficiary.id);
  t.equal(card.service_point_id, h.w.spBare.id);
  const shown = await c.get(done.location ?? '');
  t.match(shown.body, /Carte créée/);
  t.match(shown.body, /Carte virtuelle du point de service PS_BARE/);
  const audit = await h.pool.query("SELECT details FROM audit_log WHERE action = 'card.create_virtual' AND entity_id = $1", [String(card.id)]);
  t.equal(audit.rows[0]?.details.via, 'web', 'audited like the API, as a web change');
});

t.test('the profile editor: five services and the limits; errors next to the field; ADMIN only', async (t) => {
  const h = await backoffice(t);
  await withPasswords(h);
  const admin = await signedIn(h, 'ADMIN');
  const viewer = await signedIn(h, 'VIEWER');
  const url = `/carte/profils/${h.w.fuel.id}`;
  const page = await admin.get(url);
  t.equal(page.status, 200);
  for (const s of ['fuel', 'dotation', 'ticket', 'transfer', 'recharge']) t.match(page.body, new RegExp(`name="${s}"`), `the ${s} service`);
  t.match(page.body, /name="limitPerTxn"/);
  const bad = await admin.post(url, { name: 'Carburant', fuel: 'on', transfer: 'on', recharge: 'on', limitPerTxn: 'beaucoup' });
  t.equal(bad.status, 400);
  t.match(bad.body, /data-field="limitPerTxn">Valeur manquante ou du mauvais type\./, 'the error next to the limit, in French');
  t.match(bad.body, /Le formulaire contient des erreurs/, 'and a line for the form');
  t.notMatch(bad.body, /expected|Invalid input/, "not the validator's English");
  const ok = await admin.post(url, { name: 'Carburant', fuel: 'on', ticket: 'on', transfer: 'on', recharge: 'on', limitPerTxn: '25 000' });
  t.equal(ok.status, 303);
  const p = await store.getProfile(h.pool, h.w.fuel.id);
  t.match(p, { fuel: true, dotation: false, ticket: true, transfer: true, recharge: true, limit_per_txn: 25_000 }, 'an unticked box is a service off');
  const virtualFuel = await admin.post(`/carte/profils/${h.w.virtualProfile.id}`, { name: 'Carte virtuelle', fuel: 'on', transfer: 'on', recharge: 'on' });
  t.equal(virtualFuel.status, 422);
  t.match(virtualFuel.body, /data-field="fuel">a virtual-card profile/);

  const read = await viewer.get(url);
  t.equal(read.status, 200, 'the VIEWER reads it');
  t.match(read.body, /name="limitPerTxn" inputmode="numeric" value="25000" disabled/, 'without editing');
  t.equal((await viewer.post(url, { name: 'x' })).status, 403);
});

t.test('users: created with a password shown once, which signs in; disabled, its session ends', async (t) => {
  const h = await backoffice(t);
  await withPasswords(h);
  const admin = await signedIn(h, 'ADMIN');
  await admin.get('/administration/utilisateurs');
  const bad = await admin.post('/administration/utilisateurs/creation', { username: 'Not Valid', role: 'VIEWER' });
  t.equal(bad.status, 400);
  t.match(bad.body, /data-field="username">/);
  const made = await admin.post('/administration/utilisateurs/creation', { username: 'agent.1', role: 'OPERATOR' });
  t.equal(made.status, 200);
  t.equal(made.headers['cache-control'], 'no-store');
  const password = /<p class="secret">([^<]+)<\/p>/.exec(made.body)?.[1] ?? '';
  t.ok(password.length >= 20, 'a password shown once');
  const agent = new WebClient(h.app);
  t.equal((await agent.signIn('agent.1', password)).status, 303, 'it signs in');
  t.match((await agent.get('/')).body, /Connecté : agent\.1 \(OPERATOR\)/);
  const audit = await h.pool.query("SELECT details::text AS d FROM audit_log WHERE action = 'user.password'");
  t.ok(audit.rows.length >= 1);
  t.notOk(audit.rows.some((r: { d: string }) => r.d.includes(password)), 'the password is never in the audit log');
  const u = await store.getUserByUsername(h.pool, 'agent.1');
  t.equal((await admin.post(`/administration/utilisateurs/${u.id}/disable`)).status, 303);
  t.equal((await agent.get('/')).status, 303, "a disabled user's session ends");
  t.equal((await new WebClient(h.app).signIn('agent.1', password)).status, 401, 'and it cannot sign in');
});

t.test('a transaction code is shown once, never stored in clear; the dashboard counts the journal', async (t) => {
  const h = await backoffice(t);
  await withPasswords(h);
  const admin = await signedIn(h, 'ADMIN');
  const card = await h.w.card(20_000);
  await admin.get(`/carte/cartes/${card.id}`);
  const r = await admin.post(`/carte/cartes/${card.id}/code`, { amountMax: '5000', ttlSeconds: '3600' });
  t.equal(r.status, 200);
  t.equal(r.headers['cache-control'], 'no-store');
  const code = /<p class="secret">([0-9]+)<\/p>/.exec(r.body)?.[1] ?? '';
  t.match(code, /^[0-9]{10}$/, 'the code, on this answer only');
  t.notMatch((await admin.get(`/carte/cartes/${card.id}`)).body, new RegExp(code), 'never again');

  await h.w.ledger.post([
    { op: 'purchase', source: 'terminal', terminalId: h.w.terminal, stan: '000001', transmissionAt: '1127101500', cardId: card.id, servicePointId: h.w.sp.id, amount: 1000, currency: '952', service: 'fuel', requestHash: '01' },
    { op: 'purchase', source: 'terminal', terminalId: h.w.terminal, stan: '000002', transmissionAt: '1127101501', cardId: card.id, servicePointId: h.w.sp.id, amount: 900_000, currency: '952', service: 'fuel', requestHash: '02' },
  ]);
  const dash = await admin.get('/');
  t.match(dash.body, /id="approval-rate">50\.0 %/, 'one approval in two');
  t.match(dash.body, /51 insufficient_funds: 1/, 'declines by response code');
  t.match(dash.body, /<svg class="chart"/, 'charts drawn on the server');
  t.match(dash.body, /PS_SENOSOFT/, 'the busiest service point');
});

t.test("a card's PIN: its state on the card's page, made and shown once by the ADMIN; the profile's PIN box", async (t) => {
  const h = await backoffice(t);
  await withPasswords(h);
  const admin = await signedIn(h, 'ADMIN');
  const viewer = await signedIn(h, 'VIEWER');
  const card = await h.w.card(0);
  const url = `/carte/cartes/${card.id}`;
  const page = await admin.get(url);
  t.match(page.body, /id="pin-state">non défini</, 'no PIN yet');
  t.match(page.body, /id="form-pin"[\s\S]*Définir le code PIN/, 'the ADMIN sets it');
  t.notMatch((await viewer.get(url)).body, /id="form-pin"/, 'a VIEWER cannot');
  t.match((await viewer.get(url)).body, /id="pin-state">non défini</, '... but reads its state');
  t.equal((await viewer.post(`${url}/pin`)).status, 403);
  t.notMatch((await admin.get(`/carte/cartes/${h.w.virtualCard.id}`)).body, /id="form-pin"|id="pin-state"/, "no PIN on a service point's virtual card");

  await admin.get(url);
  const r = await admin.post(`${url}/pin`);
  t.equal(r.status, 200);
  t.equal(r.headers['cache-control'], 'no-store');
  t.match(r.body, /Code PIN du porteur \(affiché une seule fois\)/);
  const pin = /<p class="secret">([0-9]+)<\/p>/.exec(r.body)?.[1] ?? '';
  t.match(pin, /^[0-9]{4}$/, 'four digits, on this answer only');
  const row = (await h.pool.query<{ hash: string; tries: number }>("SELECT encode(pin_hash, 'hex') AS hash, pin_tries AS tries FROM cards WHERE id = $1", [card.id])).rows[0];
  t.same(row, { hash: cardPinDigest(HASH_SECRET, card.id, pin), tries: 0 }, 'stored as its digest');
  const again = await admin.get(url);
  t.match(again.body, /id="pin-state">défini</);
  t.notMatch(again.body, new RegExp(`class="secret">${pin}<`), 'never shown again');
  await h.pool.query('UPDATE cards SET pin_tries = 3 WHERE id = $1', [card.id]);
  t.match((await admin.get(`${url}?lang=en`)).body, /id="pin-state">blocked \(3 tries\)</, 'blocked, in English too');
  t.match((await admin.get(`${url}?lang=fr`)).body, /id="pin-state">bloqué \(3 essais\)</, '(the language is kept in a cookie)');

  const profile = `/carte/profils/${h.w.fuel.id}`;
  t.match((await admin.get(profile)).body, /name="pinRequired" id="pin-required"\s*\/?>[\s\S]{0,40}Code PIN exigé/, 'the box, unticked');
  const ticked = await admin.post(profile, { name: 'Carburant', fuel: 'on', dotation: 'on', transfer: 'on', recharge: 'on', pinRequired: 'on' });
  t.equal(ticked.status, 303);
  t.equal((await store.getProfile(h.pool, h.w.fuel.id)).pin_required, true, 'ticked: required');
  t.match((await admin.get(profile)).body, /name="pinRequired" id="pin-required" checked/);
  await admin.post(profile, { name: 'Carburant', fuel: 'on', dotation: 'on', transfer: 'on', recharge: 'on' });
  t.equal((await store.getProfile(h.pool, h.w.fuel.id)).pin_required, false, 'unticked: not required');
});

t.test('an OPERATOR creates a service point of an establishment and a beneficiary; a VIEWER cannot', async (t) => {
  const h = await backoffice(t);
  await withPasswords(h);
  const op = await signedIn(h, 'OPERATOR');
  await op.get('/exploitation/points-de-service');
  const bad = await op.post('/exploitation/points-de-service', { code: 'ps bad', name: 'x', clientId: String(h.w.elton.id) });
  t.equal(bad.status, 400);
  t.match(bad.body, /data-field="code">Format invalide\./, 'the error next to the field, in French');
  const made = await op.post('/exploitation/points-de-service', { code: 'PS_NEW', name: 'Nouvelle', clientId: String(h.w.elton.id) });
  t.equal(made.status, 303);
  const sp = await store.getServicePointByCode(h.pool, 'PS_NEW');
  t.equal(sp.client_id, h.w.elton.id, 'it belongs to its establishment');
  t.match((await op.get('/exploitation/points-de-service')).body, /id="sp-PS_NEW">[^]*?Sans carte virtuelle/, 'marked: no virtual card yet');

  await op.get(`/exploitation/clients/${h.w.elton.id}`);
  t.equal((await op.post(`/exploitation/clients/${h.w.elton.id}/porteurs`, { name: 'Bénéficiaire', kind: 'beneficiary' })).status, 303);
  t.match((await op.get(`/exploitation/clients/${h.w.elton.id}`)).body, /<td>Bénéficiaire<\/td><td>bénéficiaire<\/td>/);

  const viewer = await signedIn(h, 'VIEWER');
  const page = await viewer.get('/exploitation/points-de-service');
  t.notMatch(page.body, /form-service-point/, 'no form for the VIEWER');
  t.equal((await viewer.post('/exploitation/points-de-service', { code: 'PS_V', name: 'v', clientId: String(h.w.elton.id) })).status, 403);
});

t.test('an address nothing serves: a page for a browser, in its language; JSON for an API client', async (t) => {
  const h = await backoffice(t);
  await withPasswords(h);
  const client = await signedIn(h, 'VIEWER');
  const html = await client.request('GET', '/carte/nulle-part', undefined, { accept: 'text/html,application/xhtml+xml' });
  t.equal(html.status, 404);
  t.match(String(html.headers['content-type']), /text\/html/);
  t.match(html.body, /Introuvable/);
  t.match(html.body, /Aucune page à cette adresse/);
  t.notMatch(html.body, /<script(?![^>]*src=)/, 'no inline script');
  const en = await client.request('GET', '/carte/nulle-part?lang=en', undefined, { accept: 'text/html' });
  t.match(en.body, /No page at this address/, 'English when asked');
  const api = await client.request('GET', '/carte/nulle-part', undefined, { accept: 'application/json' });
  t.equal(api.status, 404);
  t.match(JSON.parse(api.body), { error: 'not_found' });
  const escaped = await client.request('GET', '/carte/%3Cscript%3Ealert(1)%3C%2Fscript%3E', undefined, { accept: 'text/html' });
  t.notMatch(escaped.body, /<script>alert/, 'the address is never echoed unescaped');
});
