// The terminal-sim command line, spawned as an operator runs it, against a real switch:
// send (field table, masked PAN, exit codes), scenario (JSON and YAML, references between
// steps, first mismatch), load (reports produced, counts that add up, approvals as in the
// journal, SLO verdict), fleet file validation.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maskPan } from '../../protocol/index.js';
import { loadFleet, FleetError } from '../../terminal-sim/fleet.js';
import type { LoadReport } from '../../terminal-sim/load/report.js';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { HASH_SECRET, testSwitch } from '../helpers/switch.js';
import { ROOT } from '../helpers/paths.js';
import { ScriptedHost, answerOf } from './hosts.js';
import * as store from '../../db/store.js';

const CLI = join(ROOT, 'dist', 'terminal-sim', 'cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sim(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('--help for every verb', async (t) => {
  for (const verb of ['send', 'scenario', 'load']) {
    const r = await sim([verb, '--help']);
    t.equal(r.code, 0, `${verb} --help exits 0`);
    t.match(r.stdout, new RegExp(`Usage: terminal-sim ${verb}`));
    t.match(r.stdout, /Exit codes/);
  }
  const none = await sim([]);
  t.equal(none.code, 64, 'no verb: usage');
  t.match(none.stdout, /Verbs:/);
  t.equal((await sim(['fly'])).code, 64, 'unknown verb');
});

t.test('fleet file validation', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-fleet-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ terminals: [{ id: 'SHORT', servicePoint: 'PS_SENOSOFT', pin: '12' }], cards: [{ pan: '12ab' }] }));
  t.throws(() => loadFleet(bad), FleetError);
  try {
    loadFleet(bad);
  } catch (e) {
    t.match((e as Error).message, /terminals\.0\.id: a terminal id is 8 letters or digits/);
    t.match((e as Error).message, /terminals\.0\.pin: a security PIN is 4 digits/);
    t.match((e as Error).message, /cards\.0\.pan: a PAN is 12 to 19 digits/);
  }
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify({ port: 9000, terminals: [{ id: 'TPE00001', servicePoint: 'PS_SENOSOFT' }], cards: [{ pan: '6280001234567890', expiry: '2912', balance: 10 }], codes: [{ code: '12345678', amountMax: 1000 }] }));
  t.same(loadFleet(good).terminals[0], { id: 'TPE00001', servicePoint: 'PS_SENOSOFT' });
  const r = await sim(['load', '--fleet', bad, '--rate', '10']);
  t.equal(r.code, 64, 'the CLI refuses a bad fleet file');
  t.match(r.stderr, /not a valid fleet file/);
});

t.test('against the switch', async (t) => {
  const db = await testDb(t);
  const w = await makeWorld(db.pool);
  const sw = await testSwitch(t, db, { SWITCH_LISTENERS: '127.0.0.1:0/binary2/ascii87,127.0.0.1:0/ascii4+tpdu/binary87' });
  const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = String(sw.port);
  let seq = 0;
  const newTerminal = async (initialized = true): Promise<string> => {
    const id = `TPECLI${String(++seq).padStart(2, '0')}`;
    await store.createTerminal(db.pool, { id, servicePointId: w.sp.id });
    if (initialized) await db.pool.query('UPDATE terminals SET initialized_at = now() WHERE id = $1', [id]);
    return id;
  };

  t.test('send: a purchase approved, PAN masked in the table, exit 0; a decline exits 1', async (t) => {
    const card = await w.card(10_000);
    const id = await newTerminal();
    const r = await sim(['send', '--port', port, '--terminal', id, '--service-point', 'PS_SENOSOFT', '--pan', card.pan, '--expiry', card.expiry, '--amount', '2500']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, maskPan(card.pan), 'the masked PAN');
    t.notMatch(r.stdout, card.pan, 'never the full PAN');
    t.match(r.stdout, /39 +Response code +00 \(approved\)/);
    t.match(r.stdout, /54 +Additional amounts +available 7500/);
    t.match(r.stdout, /result: 00 approved/);
    t.match(r.stdout, new RegExp(`sign-on of ${id} on this connection: 00 approved`), 'signed on first, on its connection');
    t.equal((await store.getCard(db.pool, card.id)).balance, 7_500);
    const alone = await sim(['send', '--no-sign-on', '--port', port, '--terminal', id, '--service-point', 'PS_SENOSOFT', '--pan', card.pan, '--expiry', card.expiry, '--amount', '100']);
    t.equal(alone.code, 1, 'without the sign-on: refused');
    t.match(alone.stdout, /result: 58/);
    t.notMatch(alone.stdout, /sign-on of/);
    t.equal((await store.getCard(db.pool, card.id)).balance, 7_500, 'nothing charged');
    const declined = await sim(['send', '--port', port, '--terminal', id, '--service-point', 'PS_SENOSOFT', '--pan', card.pan, '--expiry', card.expiry, '--amount', '999999']);
    t.equal(declined.code, 1, 'declined: exit 1');
    t.match(declined.stdout, /result: 51 insufficient funds/);
    const json = await sim(['send', '--json', '--port', port, '--terminal', id, '--service-point', 'PS_SENOSOFT', '--pan', card.pan, '--expiry', card.expiry, '--processing-code', '310000']);
    t.equal(json.code, 0);
    const parsed = JSON.parse(json.stdout) as { request: { fields: Record<string, string> }; response: { mti: string; fields: Record<string, string> }; code: string };
    t.equal(parsed.request.fields['2'], maskPan(card.pan));
    t.same([parsed.response.mti, parsed.code], ['0210', '00'], 'balance inquiry');
    t.equal(json.stdout.includes(card.pan), false);
  });

  t.test('send over another wire: 4-digit ASCII length, TPDU, binary87 (BCD) spec', async (t) => {
    const card = await w.card(1_000);
    const id = await newTerminal();
    const args = ['send', '--port', String(sw.listeners[1].port), '--framing', 'ascii4', '--tpdu', '6000010000', '--spec', 'binary87', '--terminal', id, '--service-point', 'PS_SENOSOFT', '--pan', card.pan, '--expiry', card.expiry, '--amount', '250'];
    const r = await sim(args);
    t.equal(r.code, 0, r.stdout + r.stderr);
    t.match(r.stdout, /ascii4\+tpdu, binary87/);
    t.match(r.stdout, /result: 00 approved/);
    t.equal((await store.getCard(db.pool, card.id)).balance, 750);
    const noTpdu = await sim(['send', '--timeout', '500', ...args.slice(1).filter((a, i, all) => a !== '--tpdu' && all[i - 1] !== '--tpdu')]);
    t.not(noTpdu.code, 0, 'without the TPDU the listener does not understand it');
  });

  t.test('send: sign-on with the security PIN; no switch there: exit 2; bad flags: exit 64', async (t) => {
    const id = await newTerminal(false);
    const { pin } = await store.issueTerminalPin(db.pool, id, 600);
    const on = await sim(['send', '--port', port, '--mti', '0800', '--terminal', id, '--pin', pin]);
    t.equal(on.code, 0, on.stdout);
    t.match(on.stdout, /70 +Network management information code +001/);
    t.match(on.stdout, /SP=\*\*\*\*/, 'the PIN is not printed');
    t.match(on.stdout, /TERMINAL INITIALIZED/);
    t.notMatch(on.stdout, new RegExp(`SP=${pin}`));
    // a purchase with --pin: the sign-on before it carries the PIN (a new terminal's first transaction)
    const fresh = await newTerminal(false);
    const freshPin = (await store.issueTerminalPin(db.pool, fresh, 600)).pin;
    const card = await w.card(1_000);
    const first = await sim(['send', '--port', port, '--terminal', fresh, '--service-point', 'PS_SENOSOFT', '--pan', card.pan, '--expiry', card.expiry, '--amount', '100', '--pin', freshPin]);
    t.equal(first.code, 0, first.stdout + first.stderr);
    t.match(first.stdout, new RegExp(`sign-on of ${fresh} on this connection: 00 approved`));
    t.notMatch(first.stdout, new RegExp(freshPin === '0000' ? 'SP=0000' : `SP=${freshPin}`), 'the PIN is not printed');
    const closed = await sim(['send', '--port', '1', '--terminal', id, '--service-point', 'PS_SENOSOFT', '--pan', '6280001234567890', '--amount', '1']);
    t.equal(closed.code, 2);
    t.match(closed.stderr, /cannot connect/);
    const bad = await sim(['send', '--port', port, '--terminal', id, '--service-point', 'PS_SENOSOFT', '--pan', '6280001234567890']);
    t.equal(bad.code, 64, 'a purchase without --amount');
    t.match(bad.stderr, /--amount is needed/);
    t.equal((await sim(['send', '--bogus'])).code, 64);
  });

  t.test('scenario: steps referring to earlier steps, all as expected: exit 0', async (t) => {
    const card = await w.card(50_000);
    const code = await store.createTransactionCode(db.pool, { cardId: card.id, amountMax: 2_000, ttlSeconds: 600, secret: HASH_SECRET });
    const id = await newTerminal(false);
    const { pin } = await store.issueTerminalPin(db.pool, id, 600);
    const file = join(dir, 'day.json');
    writeFileSync(
      file,
      JSON.stringify({
        terminal: { id, servicePoint: 'PS_SENOSOFT', pin },
        port: sw.port,
        steps: [
          { name: 'sign on', action: 'signOn' },
          { name: 'buy', action: 'purchase', pan: card.pan, expiry: card.expiry, amount: 3_000 },
          { name: 'hold', action: 'preauth', pan: card.pan, expiry: card.expiry, amount: 10_000 },
          { name: 'fill', action: 'complete', of: 'hold', amount: 7_250 },
          { name: 'undo buy', action: 'reverse', of: 2 },
          { name: 'pump', action: 'pump', card: 0, amount: 5_000, dispensed: 4_000, pan: card.pan, expiry: card.expiry },
          { name: 'code', action: 'redeem', code: code.code, amount: 1_999 },
          { name: 'raw', message: { mti: '0200', fields: { '2': card.pan, '3': '000000', '4': '000000000100', '14': card.expiry, '48': 'SV004FUEL' } } },
          { name: 'undo raw', message: { mti: '0400', fields: { '90': '@raw', '4': '000000000100' } } },
          { name: 'balance', action: 'inquiry', pan: card.pan, expiry: card.expiry, expectBalance: 50_000 - 7_250 - 4_000 - 1_999 },
          { name: 'over the code', action: 'redeem', code: code.code, amount: 10, expect: ['14', '54'] },
          { name: 'close the day', action: 'reconcile' },
        ],
      }),
    );
    const r = await sim(['scenario', file]);
    t.equal(r.code, 0, r.stdout + r.stderr);
    t.match(r.stdout, /scenario passed: 12 steps/);
    t.match(r.stdout, /ok {3}12 close the day: 00 approved/);
    t.equal((await store.getCard(db.pool, card.id)).balance, 50_000 - 7_250 - 4_000 - 1_999);
  });

  t.test('scenario (YAML): a wrong expectation stops it with what differed, exit 1', async (t) => {
    const card = await w.card(1_000);
    const id = await newTerminal();
    const file = join(dir, 'wrong.yaml');
    writeFileSync(
      file,
      [
        'terminal: { id: ' + id + ', servicePoint: PS_SENOSOFT }',
        'port: ' + sw.port,
        'steps:',
        '  - { name: sign on, action: signOn }',
        `  - { name: too much, action: purchase, pan: "${card.pan}", expiry: "${card.expiry}", amount: 5000, expect: "00" }`,
        `  - { name: never run, action: purchase, pan: "${card.pan}", amount: 1 }`,
        '',
      ].join('\n'),
    );
    const r = await sim(['scenario', file]);
    t.equal(r.code, 1);
    t.match(r.stdout, /FAIL 2 too much: expected 00, got 51 insufficient funds/);
    t.notMatch(r.stdout, /never run/, 'stops at the first mismatch');
    t.notMatch(r.stdout, card.pan, 'PAN masked in the tables');
    t.match(r.stdout, maskPan(card.pan));
    const invalid = join(dir, 'invalid.json');
    writeFileSync(invalid, JSON.stringify([{ name: 'neither action nor message' }]));
    const bad = await sim(['scenario', invalid, '--port', port, '--terminal', id, '--service-point', 'PS_SENOSOFT']);
    t.equal(bad.code, 64);
    t.match(bad.stderr, /either an action or a message/);
  });

  t.test('load: 2 s at a modest rate, reports produced, counts add up, approvals as journaled', async (t) => {
    const terminals = [await newTerminal(), await newTerminal(), await newTerminal(false)];
    const { pin } = await store.issueTerminalPin(db.pool, terminals[2], 600);
    const cards = [];
    for (let i = 0; i < 6; i++) cards.push(await w.card(1_000_000));
    const poor = await w.card(50);
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push(await store.createTransactionCode(db.pool, { cardId: cards[i].id, amountMax: 5_000, ttlSeconds: 600, secret: HASH_SECRET }));
    const fleet = join(dir, 'fleet.json');
    writeFileSync(
      fleet,
      JSON.stringify({
        port: sw.port,
        terminals: terminals.map((id, i) => ({ id, servicePoint: 'PS_SENOSOFT', ...(i === 2 ? { pin } : {}) })),
        cards: [...cards.map((c) => ({ pan: c.pan, expiry: c.expiry, balance: 1_000_000 })), { pan: poor.pan, expiry: poor.expiry, balance: 50 }],
        codes: codes.map((c) => ({ code: c.code, amountMax: 5_000 })),
      }),
    );
    const json = join(dir, 'reports', 'load.json');
    const html = join(dir, 'reports', 'load.html');
    const r = await sim(['load', '--fleet', fleet, '--rate', '150', '--duration', '2s', '--mix', 'purchase=70,preauth=15,inquiry=10,redeem=5', '--json', json, '--html', html, '--slo', 'p99=2s,errors=0']);
    t.equal(r.code, 0, r.stdout + r.stderr);
    t.match(r.stderr, /\[ +1s\] \d+\/s answered \(target 150\/s/, 'a progress line each second');
    t.match(r.stdout, /latency ms \(from the intended send time\): p50/);
    t.match(r.stdout, /SLO met/);
    t.notMatch(r.stdout + r.stderr, cards[0].pan, 'no PAN in the output');

    const rep = JSON.parse(readFileSync(json, 'utf8')) as LoadReport;
    t.equal(rep.signOn.ok, 3, 'every terminal signed on (one with its PIN)');
    t.equal(rep.sent, rep.answered + rep.timeouts + rep.lost + rep.unanswered, 'sent = answered + timeouts + lost + unanswered');
    t.equal(Object.values(rep.byCode).reduce((a, b) => a + b, 0), rep.answered, 'answers by code add up');
    t.equal(rep.approved, rep.byCode['00']);
    t.equal(rep.declined, rep.answered - rep.approved);
    t.equal(Object.values(rep.byType).reduce((a, c) => a + c.sent, 0), rep.sent, 'messages by type add up');
    t.equal(rep.byType.completion.sent, rep.byType.preauth.approved, 'a completion for each approved pre-authorization');
    t.equal(rep.target.scheduledTransactions, 300);
    t.equal(rep.sent - rep.byType.completion.sent, 300, 'every scheduled transaction sent');
    t.equal(rep.errors, 0);
    t.ok(rep.byCode['51'] > 0, 'the poor card is declined (51), a business decline, not an error');
    t.equal(rep.byType.redeem.sent, 3, 'one redemption per code, then purchases');
    t.ok(rep.series.length >= 2, 'a per-second series');
    t.equal(rep.series.reduce((a, p) => a + p.sent, 0), rep.sent, 'the series adds up to the totals');
    t.ok(rep.latencyMs.p50Ms > 0 && rep.latencyMs.p50Ms <= rep.latencyMs.p99Ms && rep.latencyMs.p99Ms <= rep.latencyMs.maxMs, 'percentiles in order');
    t.equal(rep.percentiles[rep.percentiles.length - 1].percentile, 100);
    t.ok(rep.sendLagMs.p50Ms <= rep.sendLagMs.p99Ms && rep.sendLagMs.p99Ms <= rep.sendLagMs.maxMs, 'send lag percentiles in order');
    t.equal(rep.sendLagMs.maxMs, rep.maxSendLagMs, 'its max is the max send lag');
    t.match(r.stdout, /\(sent late by p50 [\d.]+, p99 [\d.]+, max [\d.]+ ms\)/);
    t.same(rep.slo?.checks.map((c) => c.ok), [true, true]);
    const journal = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM journal WHERE terminal_id = ANY($1) AND outcome = 'approved' AND duplicate_of IS NULL AND op IN ('purchase', 'preauth', 'completion', 'inquiry')`,
      [terminals],
    );
    t.equal(journal.rows[0].n, rep.approved, 'approvals counted by the simulator = approvals in the journal');

    const page = readFileSync(html, 'utf8');
    t.match(page, /^<!doctype html>/);
    t.equal((page.match(/<svg /g) ?? []).length, 3, 'three charts');
    t.match(page, /Latency by percentile/);
    t.match(page, /Throughput over time/);
    t.match(page, /Latency over time/);
    t.match(page, /<path d="M[0-9.]+,[0-9.]+ L/, 'lines drawn');
    t.notMatch(page, /<script|https?:\/\/(?!www\.w3\.org)/, 'self-contained: no scripts, nothing fetched');
  });

  t.test('load: an SLO that cannot be met exits 1', async (t) => {
    const id = await newTerminal();
    const card = await w.card(100_000);
    const r = await sim(['load', '--port', port, '--terminal', id, '--service-point', 'PS_SENOSOFT', '--pan', card.pan, '--expiry', card.expiry, '--rate', '20', '--duration', '1s', '--slo', 'p50=1us', '--quiet']);
    t.equal(r.code, 1, r.stdout + r.stderr);
    t.match(r.stdout, /SLO p50=1us: [0-9.]+ms MISSED/);
    t.equal(r.stderr, '', '--quiet: no progress line');
  });
});

t.test('load: a parent with an IPC channel hears when the measured run starts, after the warm-up', async (t) => {
  const host = await ScriptedHost.start(t, (msg) => answerOf(msg, '00'));
  const dir = mkdtempSync(join(tmpdir(), 'cynod-ipc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const json = join(dir, 'load.json');
  const args = ['load', '--port', String(host.port), '--terminal', 'TPE00001', '--service-point', 'PS_A', '--pan', '6280001234567890', '--expiry', '3012', '--no-sign-on', '--rate', '200', '--warmup', '1s', '--duration', '1s', '--quiet', '--json', json];
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const seenAt: number[] = [];
  child.on('message', (m: { measuring?: boolean }) => {
    if (m.measuring) seenAt.push(host.received.length);
  });
  const code = await new Promise((r) => child.once('exit', r));
  t.equal(code, 0, 'the load ends, the channel open or not');
  t.equal(seenAt.length, 1, 'told once');
  t.ok(seenAt[0] >= 180 && seenAt[0] <= 230, `told after the warm-up's 200 messages (${seenAt[0]} had come)`);
  const r = JSON.parse(readFileSync(json, 'utf8')) as LoadReport;
  t.equal(r.sent, 200, 'the report counts the measured run alone');
  t.equal(host.received.length, 400, 'the host got both');
});
