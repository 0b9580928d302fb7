// The load generator as the terminals' firmware, against a switch that requires a MAC
// (SWITCH_AUTH=mac) and cards whose profile requires the cardholder's PIN: a seeded fleet
// (master and working keys per terminal, a PIN per card) is approved throughout; the keys are
// renewed by a key change and written back to the fleet file, and a second run with that file
// is approved again; without the MAC every message is refused 63 and nothing is journaled;
// without the PIN, card payments are declined 55; the fleet's old keys, once past the grace
// period, are refused 63.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { fleetOf, seedDemo, type SeedResult } from '../../backoffice/seed.js';
import { PanVault } from '../../db/pan-vault.js';
import { liveKey } from '../../db/terminal-keys.js';
import { kcv, type KeyAlgorithm } from '../../protocol/security/index.js';
import { loadFleet } from '../../terminal-sim/fleet.js';
import type { LoadReport } from '../../terminal-sim/load/report.js';
import { testDb } from '../helpers/db.js';
import { HASH_SECRET, KEK, testSwitch } from '../helpers/switch.js';
import { ROOT } from '../helpers/paths.js';

const CLI = join(ROOT, 'dist', 'terminal-sim', 'cli.js');

function sim(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Initialised terminals (2 per service point) with master and working keys of `algorithm`, and cards with PINs. */
function seedFleet(pool: pg.Pool, algorithm: KeyAlgorithm, size: { cards: number; servicePoints: number }): Promise<SeedResult> {
  return seedDemo(pool, new PanVault(KEK, HASH_SECRET), {
    ...size,
    terminalsPerServicePoint: 2,
    balance: 10_000_000,
    pins: false,
    initializeTerminals: true,
    terminalKeys: { kek: KEK, algorithm },
    cardPins: { secret: HASH_SECRET },
  });
}

t.test('the load as firmware: MAC, PIN blocks and key changes against a switch that verifies them', async (t) => {
  const db = await testDb(t);
  const seeded = await seedFleet(db.pool, 'tdes', { cards: 12, servicePoints: 2 });
  // a grace of 1 s: the keys a key change retires stop verifying soon after
  const sw = await testSwitch(t, db, { SWITCH_AUTH: 'mac', SWITCH_KEY_GRACE_SECONDS: '1' });
  const dir = mkdtempSync(join(tmpdir(), 'cynod-firmware-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fleetFile = join(dir, 'fleet.json');
  const seededFleet = JSON.stringify({ ...fleetOf(seeded), port: sw.port });
  writeFileSync(fleetFile, seededFleet);
  const journal = async (): Promise<number> => (await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM journal WHERE source = 'terminal'")).rows[0].n;

  const run = async (name: string, extra: string[] = [], fleet = fleetFile): Promise<LoadReport> => {
    const json = join(dir, `${name}.json`);
    const r = await sim(['load', '--fleet', fleet, '--rate', '60', '--duration', '1s', '--mix', 'purchase=70,preauth=15,inquiry=15', '--quiet', '--json', json, ...extra]);
    t.equal(r.code, 0, `${name}: exit 0 ${r.stderr}`);
    return JSON.parse(readFileSync(json, 'utf8')) as LoadReport;
  };

  const first = await run('first');
  t.equal(first.signOn.ok, 4, 'every terminal signed on');
  t.equal(first.signOn.keysRenewed, 4, 'and renewed its working keys');
  t.equal(first.errors, 0);
  t.equal(first.approved, first.answered, `every answer 00 (${JSON.stringify(first.byCode)})`);
  t.equal(first.security.maced, first.sent, 'every message MACed');
  t.equal(first.security.pinBlocks, first.sent - first.byType.completion.sent, 'every card-present message with its PIN block');

  const before = JSON.parse(seededFleet) as { terminals: { id: string; keys: { mac: string; pin: string } }[] };
  const after = loadFleet(fleetFile);
  for (const [i, term] of after.terminals.entries()) {
    t.not(term.keys?.mac, before.terminals[i].keys.mac, `${term.id}: new MAC key written back`);
    const live = await liveKey(db.pool, KEK, term.id, 'mac');
    t.equal(kcv('tdes', Buffer.from(term.keys?.mac ?? '', 'hex')).toString('hex').toUpperCase(), live?.kcv, `${term.id}: the fleet holds the switch's live MAC key`);
  }
  t.equal(after.cards.length, 11, 'the cards kept (the virtualized one is not in the fleet)');

  const second = await run('second');
  t.equal(second.approved, second.answered, 'a second run with the rewritten fleet: approved again');
  t.equal(second.signOn.keysRenewed, 4);

  const noMacBefore = await journal();
  const noMac = await run('no-mac', ['--no-mac', '--no-key-change']);
  t.equal(noMac.security.maced, 0);
  t.equal(noMac.byCode['63'], noMac.answered, 'without a MAC every message is refused 63');
  t.ok(noMac.answered > 0);
  t.equal(await journal(), noMacBefore, 'and nothing is journaled');

  const noPin = await run('no-pin', ['--no-pin', '--no-key-change', '--mix', 'purchase=100']);
  t.equal(noPin.security.pinBlocks, 0);
  t.equal(noPin.byCode['55'], noPin.answered, 'without the PIN the profile requires: 55');

  // The seeded fleet's keys were retired two key changes ago, past the grace period.
  await new Promise((r) => setTimeout(r, 1_200));
  const stale = join(dir, 'stale.json');
  writeFileSync(stale, seededFleet);
  const old = await run('stale', ['--no-key-change', '--mix', 'purchase=100'], stale);
  t.equal(old.byCode['63'], old.answered, 'keys retired past the grace period: 63');
});

t.test('the load as firmware with AES keys: AES-CMAC, format 4 PIN blocks (DE48 PB), key changes', async (t) => {
  const db = await testDb(t);
  const seeded = await seedFleet(db.pool, 'aes', { cards: 6, servicePoints: 1 });
  const sw = await testSwitch(t, db, { SWITCH_AUTH: 'mac' });
  const dir = mkdtempSync(join(tmpdir(), 'cynod-firmware-aes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fleetFile = join(dir, 'fleet.json');
  const fleet = { ...fleetOf(seeded), port: sw.port };
  t.ok(fleet.terminals.every((x) => x.masterKey?.algorithm === 'aes'), 'the seed gave AES master keys');
  writeFileSync(fleetFile, JSON.stringify(fleet));
  const run = async (name: string, extra: string[] = []): Promise<LoadReport> => {
    const json = join(dir, `${name}.json`);
    const r = await sim(['load', '--fleet', fleetFile, '--rate', '40', '--duration', '1s', '--mix', 'purchase=80,inquiry=20', '--quiet', '--json', json, ...extra]);
    t.equal(r.code, 0, `${name}: exit 0 ${r.stderr}`);
    return JSON.parse(readFileSync(json, 'utf8')) as LoadReport;
  };
  const first = await run('first');
  t.equal(first.signOn.keysRenewed, 2, 'both terminals renewed their AES working keys');
  t.ok(first.answered > 0);
  t.equal(first.approved, first.answered, `every answer 00 (${JSON.stringify(first.byCode)})`);
  t.equal(first.security.maced, first.sent, 'every message MACed (AES-CMAC)');
  t.equal(first.security.pinBlocks, first.sent, 'every card message with its format 4 PIN block');
  const pinTries = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM cards WHERE pin_tries > 0');
  t.equal(pinTries.rows[0].n, 0, 'no wrong try anywhere');
  const noPin = await run('no-pin', ['--no-pin', '--no-key-change', '--mix', 'purchase=100']);
  t.equal(noPin.byCode['55'], noPin.answered, 'without the PIN the profile requires: 55');

  // send, from the fleet file the load rewrote: MAC and format 4 PIN block under the renewed AES keys
  const kept = loadFleet(fleetFile);
  const [term] = kept.terminals;
  const card = kept.cards[0];
  const send = (extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    sim(['send', '--fleet', fleetFile, '--terminal', term.id, '--pan', card.pan, '--expiry', card.expiry ?? '', '--amount', '100', ...extra]);
  const ok = await send([]);
  t.equal(ok.code, 0, `send with the card's PIN from the fleet: exit 0 ${ok.stderr}`);
  t.match(ok.stdout, /result: 00/);
  t.match(ok.stdout, /PB=\*\*\*\*/, 'the format 4 block is sent, and not printed');
  t.notMatch(ok.stdout, /PB=[0-9A-F]{32}/);
  const wrong = await send(['--card-pin', card.pin === '0000' ? '1111' : '0000']);
  t.match(wrong.stdout, /result: 55/, 'send --card-pin with a wrong PIN: 55');
});
