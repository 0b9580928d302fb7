/**
 * The web pages in headless Chromium (Debian's chromium driven by playwright-core, no browser
 * download): sign-in failure and lock-out, a CSRF refusal, the pages of each role, the source
 * page's path click by click then a terminal purchase over TCP credited to the new virtual card,
 * a virtualization from the card's page then a TPE decline 57 while a transfer still works, and a
 * card's PIN set from its page (shown once).
 * With SCREENSHOTS_DIR set, the main pages are saved there (docs/screenshots).
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import * as store from '../../db/store.js';
import { buildDe48 } from '../../protocol/index.js';
import { cardPinDigest } from '../../db/secrets.js';
import { backoffice, HASH_SECRET, type Backoffice } from '../helpers/backoffice.js';
import { DATABASE_URL } from '../helpers/db.js';
import { de7, nextStan, testSwitch, TestTerminal } from '../helpers/switch.js';
import type { TestContext } from '../helpers/tap.js';
import { PASSWORD, withPasswords } from '../helpers/web.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOTS_DIR;

async function browser(t: TestContext): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  const dir = mkdtempSync(join(tmpdir(), 'cynod-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(async () => {
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return ctx;
}

async function served(t: TestContext): Promise<{ h: Backoffice; base: string }> {
  const h = await backoffice(t);
  await withPasswords(h);
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const addr = h.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return { h, base: `http://127.0.0.1:${addr.port}` };
}

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page: Page, base: string, username: string, password = PASSWORD): Promise<void> {
  await page.goto(`${base}/connexion`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

t.test('sign-in failure, then the lock-out', async (t) => {
  const { base } = await served(t);
  const page = await (await browser(t)).newPage();
  await page.goto(`${base}/`);
  t.match(page.url(), /\/connexion\?next=%2F$/, 'signed out, a page sends to the sign-in page');
  await shot(page, 'connexion');
  await signIn(page, base, 'admin', 'not the password');
  t.match(await page.textContent('.flash.bad'), /Nom d'utilisateur ou mot de passe incorrect/);
  for (let i = 0; i < 3; i++) await signIn(page, base, 'admin', `still wrong ${i}`);
  await signIn(page, base, 'admin', 'the fifth wrong one');
  t.match(await page.textContent('.flash.bad'), /Compte verrouillé/, 'locked after five failures');
  await signIn(page, base, 'admin');
  t.match(await page.textContent('.flash.bad'), /Compte verrouillé/, 'the right password is refused while locked');
  t.match(page.url(), /\/connexion$/);
});

t.test('a forged CSRF token is refused, and nothing changes', async (t) => {
  const { h, base } = await served(t);
  const card = await h.w.card(1000);
  const page = await (await browser(t)).newPage();
  await signIn(page, base, 'admin');
  await page.goto(`${base}/carte/cartes/${card.id}`);
  await page.locator('#form-block input[name=_csrf]').evaluate((el) => el.setAttribute('value', 'forged'));
  await page.click('#form-block button');
  t.match(await page.textContent('h1'), /Accès refusé \(403\)/);
  t.match(await page.textContent('.flash.bad'), /jeton CSRF refusé/);
  t.equal((await store.getCard(h.pool, card.id)).status, 'active', 'not blocked');
  await page.goto(`${base}/carte/cartes/${card.id}`);
  await page.click('#form-block button');
  await page.waitForURL(/\?ok=block$/);
  t.equal((await store.getCard(h.pool, card.id)).status, 'blocked', 'with the page\'s own token it is');
});

t.test("the ADMIN sets a card's PIN from its page: shown once", async (t) => {
  const { h, base } = await served(t);
  const card = await h.w.card(0);
  const page = await (await browser(t)).newPage();
  await signIn(page, base, 'admin');
  await page.goto(`${base}/carte/cartes/${card.id}`);
  t.equal(await page.textContent('#pin-state'), 'non défini');
  await page.click('#form-pin button:has-text("Définir le code PIN")');
  await page.waitForSelector('#shown-once .secret');
  const pin = (await page.textContent('#shown-once .secret')) ?? '';
  t.match(pin, /^[0-9]{4}$/, 'a 4-digit PIN, shown once');
  t.equal(await page.textContent('#pin-state'), 'défini');
  t.equal((await h.pool.query("SELECT encode(pin_hash, 'hex') AS h FROM cards WHERE id = $1", [card.id])).rows[0].h, cardPinDigest(HASH_SECRET, card.id, pin), 'stored as its digest');
  await page.goto(`${base}/carte/cartes/${card.id}`);
  t.equal(await page.locator('#shown-once').count(), 0, 'not shown again');
});

t.test('the pages of each role', async (t) => {
  const { h, base } = await served(t);
  const b = await browser(t);
  for (const role of ['ADMIN', 'OPERATOR', 'VIEWER'] as const) {
    await b.clearCookies();
    const page = await b.newPage();
    await signIn(page, base, role.toLowerCase());
    await page.waitForURL(`${base}/`);
    t.match(await page.textContent('header'), new RegExp(`Connecté : ${role.toLowerCase()} \\(${role}\\)`));
    const entry = page.locator("a:has-text(\"Création d'une carte virtuelle\")");
    const audit = page.locator('a[href="/administration/audit"]');
    t.equal(await entry.count(), role === 'ADMIN' ? 1 : 0, `${role}: the creation entry ${role === 'ADMIN' ? 'shown' : 'never shown'}`);
    t.equal(await audit.count(), role === 'ADMIN' ? 1 : 0, `${role}: the audit log entry`);
    if (role === 'ADMIN') await shot(page, 'tableau-de-bord');
    const res = await page.goto(`${base}/carte/cartes-virtuelles/creation`);
    t.equal(res?.status(), role === 'ADMIN' ? 200 : 403, `${role} on the creation URL`);
    if (role === 'VIEWER') await shot(page, '403');
    await page.goto(`${base}/carte/cartes/${h.w.virtualCard.id}`);
    t.equal(await page.locator('#actions').count(), role === 'ADMIN' ? 1 : 0, `${role}: the card's /carte/* actions`);
    await page.goto(`${base}/exploitation/points-de-service`);
    t.match(await page.textContent(`#sp-PS_BARE`), /Sans carte virtuelle/, 'a service point without a virtual card is marked');
    if (role === 'ADMIN') await shot(page, 'points-de-service');
    if (role === 'ADMIN') {
      await page.goto(`${base}/carte/profils/${h.w.fuel.id}`);
      t.equal(await page.locator('#profile-form button[type=submit]').count(), 1, 'the ADMIN edits a profile');
      await shot(page, 'profil-de-carte');
      await page.goto(`${base}/administration/utilisateurs`);
      await shot(page, 'utilisateurs');
    }
    await page.goto(`${base}/exploitation/terminaux`);
    t.equal(await page.locator('button:has-text("Émettre un PIN de sécurité")').count() > 0, role !== 'VIEWER', `${role}: terminal actions`);
    if (role === 'OPERATOR') {
      await page.locator(`#terminal-${h.w.terminal} button:has-text("Émettre un PIN")`).click();
      t.match(await page.textContent('#shown-once .secret'), /^[0-9]{4}$/, 'the OPERATOR issues a PIN, shown once');
      await shot(page, 'terminaux');
    }
    await page.close();
  }
});

/** A 0200 fuel purchase at a service point's terminal. */
async function purchase(port: number, terminal: string, servicePoint: string, card: { pan: string; expiry: string }, amount: number): Promise<string> {
  const term = await TestTerminal.signedOn(port, terminal);
  try {
    const r = await term.send({
      mti: '0200',
      fields: { 2: card.pan, 14: card.expiry, 3: '000000', 4: String(amount).padStart(12, '0'), 7: de7(), 11: nextStan(), 41: terminal, 42: servicePoint.padEnd(15, ' '), 48: buildDe48({ SV: 'FUEL' }), 49: '952' },
    });
    return String(r.fields[39]);
  } finally {
    term.close();
  }
}

t.test("the source page's path, click by click, then a purchase at that service point credited to the new virtual card", async (t) => {
  const { h, base } = await served(t);
  const beneficiary = await store.createMember(h.pool, { clientId: h.w.elton.id, name: 'Bénéficiaire cartes virtuelles', kind: 'beneficiary' });
  const page = await (await browser(t)).newPage();
  await signIn(page, base, 'admin');
  await page.waitForURL(`${base}/`);
  await page.hover('nav.menu >> text=Exploitation');
  await page.hover('nav.menu >> text=Carte carburant');
  await page.click("nav.menu >> text=Création d'une carte virtuelle");
  await page.waitForURL(/\/carte\/cartes-virtuelles\/creation$/);
  t.match(await page.textContent('.crumbs'), /Exploitation > Carte carburant > Création d'une carte virtuelle/);

  const form = '/carte/cartes-virtuelles/creation/formulaire';
  const changed = async (act: () => Promise<unknown>, ready: string) => {
    const answered = page.waitForResponse((r) => r.url().includes(form));
    await act();
    await answered;
    await page.waitForSelector(ready, { state: 'attached' });
  };
  await changed(() => page.selectOption('#clientId', String(h.w.elton.id)), `#memberId option[value="${beneficiary.id}"]`);
  await changed(() => page.selectOption('#memberId', String(beneficiary.id)), `#memberId option[value="${beneficiary.id}"][selected]`);
  const profiles = await page.locator('#profileId option').allTextContents();
  t.same(profiles.slice(1), ['Carte virtuelle'], 'the "Carte virtuelle" profiles only');
  await changed(() => page.selectOption('#profileId', String(h.w.virtualProfile.id)), `#profileId option[value="${h.w.virtualProfile.id}"][selected]`);
  t.equal(await page.locator('#servicePointId').count(), 0, 'no service point list until the box is ticked');
  await changed(() => page.check('#forServicePoint'), '#servicePointId');
  const offered = await page.locator('#servicePointId option').allTextContents();
  t.ok(offered.some((o) => o.startsWith('PS_BARE')), 'the point without a virtual card is offered');
  t.notOk(offered.some((o) => o.startsWith('PS_SENOSOFT')), 'a point with one is not');
  await changed(() => page.selectOption('#servicePointId', String(h.w.spBare.id)), '#cardName[value="C_VIRT_PS_BARE"]');
  t.equal(await page.inputValue('#cardName'), 'C_VIRT_PS_BARE', 'the name C_VIRT_<service point>');
  await shot(page, 'creation-carte-virtuelle');
  await page.click('button:has-text("Enregistrer")');
  await page.waitForURL(/\/carte\/cartes\/\d+\?ok=created$/);
  const id = Number(/\/carte\/cartes\/(\d+)/.exec(page.url())?.[1]);
  t.match(await page.textContent('.flash.ok'), /Carte créée/);
  t.match(await page.textContent('#kind'), /Carte virtuelle du point de service PS_BARE/);
  const made = await store.getCard(h.pool, id);
  t.equal(made.name, 'C_VIRT_PS_BARE');
  t.equal(made.member_id, beneficiary.id, 'held by the beneficiary');
  t.equal(made.balance, 0);

  const sw = await testSwitch(t, { url: DATABASE_URL, schema: h.schema, pool: h.pool }, { REDIS_PREFIX: h.prefix });
  const card = await h.w.card(50_000);
  t.equal(await purchase(sw.port, h.w.bareTerminal, 'PS_BARE', card, 12_500), '00', 'approved at that service point');
  t.equal((await store.getCard(h.pool, id)).balance, 12_500, 'credited to the new virtual card');
  await page.goto(`${base}/carte/cartes/${id}`);
  t.match(await page.textContent('#balance'), /12 500 XOF/);
  t.match(await page.textContent('#journal'), /purchase \(terminal\)/);
  await shot(page, 'carte-virtuelle');
});

t.test('virtualized from its page: a TPE declines it (57), a transfer from the page still works', async (t) => {
  const { h, base } = await served(t);
  const card = await h.w.card(40_000);
  const target = await h.w.card(0);
  const sw = await testSwitch(t, { url: DATABASE_URL, schema: h.schema, pool: h.pool }, { REDIS_PREFIX: h.prefix });
  const page = await (await browser(t)).newPage();
  await signIn(page, base, 'admin');
  await page.goto(`${base}/carte/cartes/${card.id}`);
  const choices = await page.locator('#form-virtualize select[name=profileId] option').allTextContents();
  t.same(choices, ['Virtualisation'], 'virtualization profiles only');
  await page.click('#form-virtualize button');
  await page.waitForURL(/\?ok=virtualize$/);
  t.match(await page.textContent('#kind'), /Carte virtualisée/, 'it says so plainly');
  t.notMatch(await page.textContent('#kind'), /point de service/, 'and never looks like a virtual card');
  t.equal(await page.locator('#form-unvirtualize').count(), 1, 'Dé-virtualiser offered');
  await shot(page, 'carte-virtualisee');

  t.equal(await purchase(sw.port, h.w.terminal, 'PS_SENOSOFT', card, 5_000), '57', 'a TPE declines it: 57');

  await page.fill('#form-transfer input[name=toCardId]', String(target.id));
  await page.fill('#form-transfer input[name=amount]', 'deux mille');
  await page.click('#form-transfer button');
  t.match(await page.textContent('#form-transfer .field-error'), /Valeur manquante ou du mauvais type/, "the API's validation error next to the field, in French");
  await page.fill('#form-transfer input[name=toCardId]', String(target.id));
  await page.fill('#form-transfer input[name=amount]', '2000');
  await page.click('#form-transfer button');
  await page.waitForURL(/\?ok=transfer$/);
  t.equal((await store.getCard(h.pool, target.id)).balance, 2_000, 'the transfer went through');
  t.equal((await store.getCard(h.pool, card.id)).balance, 38_000);

  await page.selectOption('#form-unvirtualize select[name=profileId]', String(h.w.fuel.id));
  await page.click('#form-unvirtualize button');
  await page.waitForURL(/\?ok=unvirtualize$/);
  t.equal(await page.locator('.badge.virtualized').count(), 0, 'Dé-virtualiser');
  t.equal(await purchase(sw.port, h.w.terminal, 'PS_SENOSOFT', card, 5_000), '00', 'a TPE approves it again');
});
