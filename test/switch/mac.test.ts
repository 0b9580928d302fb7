// The MAC rule end to end over TCP (SWITCH_AUTH=mac): after sign-on every message carries a MAC
// in DE64 under the terminal's MAC key (retail MAC for 3DES, AES-CMAC for AES); a wrong or
// missing one gets 63, is never posted, is counted and kept in the security log; after a key
// change the previous key verifies for the grace period only.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { KEK, TestTerminal, de7, nextStan, testSwitch } from '../helpers/switch.js';
import * as store from '../../db/store.js';
import { putTerminalKeys } from '../../db/terminal-keys.js';
import { ascii87, buildDe48, type IsoFields, type IsoMessage } from '../../protocol/index.js';
import { generateKey, signPackedMessage, type KeyAlgorithm } from '../../protocol/security/index.js';
import { Keyring } from '../../terminal-sim/keys.js';
import { Terminal } from '../../terminal-sim/terminal.js';
import { metricValue } from '../helpers/metrics.js';

const SP = 'PS_SENOSOFT    ';
const GRACE_SECONDS = 2;

t.test('MAC on plain TCP', async (t) => {
  const db = await testDb(t);
  const w = await makeWorld(db.pool);
  const sw = await testSwitch(t, db, { SWITCH_AUTH: 'mac', SWITCH_KEY_GRACE_SECONDS: String(GRACE_SECONDS) });
  let seq = 0;
  const journalRows = async (terminalId: string): Promise<number> =>
    (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM journal WHERE terminal_id = $1', [terminalId])).rows[0].n;
  const refusedMetric = (reason: string): Promise<number> => metricValue(sw.metricsPort, 'switch_refused_total', `reason="${reason}"`);

  /** A new terminal with a master key, initialised on a connection of its own: its keyring holds the working keys. */
  const initialised = async (algorithm: KeyAlgorithm): Promise<{ id: string; c: TestTerminal; ring: Keyring }> => {
    const id = `TMC${String(++seq).padStart(5, '0')}`;
    await store.createTerminal(db.pool, { id, servicePointId: w.sp.id });
    const master = generateKey(algorithm, 16);
    await putTerminalKeys(db.pool, KEK, id, [{ kind: 'master', algorithm, key: master }]);
    const { pin } = await store.issueTerminalPin(db.pool, id, 3600);
    const c = await TestTerminal.connect(sw.port);
    t.teardown(() => c.close());
    const r = await c.send({ mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: id, 70: '001', 48: buildDe48({ SP: pin }) } });
    if (r.fields[39] !== '00') throw new Error(`initialisation answered ${String(r.fields[39])}`);
    const ring = new Keyring({ algorithm, key: master });
    ring.install(r);
    return { id, c, ring };
  };
  /** `msg` with DE64 (DE128) set to its MAC under `key` (or sent as it is when key is null), and its answer. */
  const sendMaced = (c: TestTerminal, msg: IsoMessage, algorithm: KeyAlgorithm, key: Buffer | null, tamper = false): Promise<IsoMessage> => {
    const answer = c.answerTo(msg);
    if (key === null) {
      c.sendRaw(msg);
      return answer;
    }
    // DE128 when the message has a secondary bitmap (any field above 64: DE70 of an 0800), else DE64
    const macField = Object.keys(msg.fields).some((de) => Number(de) > 64) ? 128 : 64;
    const frame = c.frame({ ...msg, fields: { ...msg.fields, [macField]: Buffer.alloc(8) } });
    const signed = signPackedMessage(ascii87, frame.subarray(2), algorithm === 'tdes' ? 'retail-mac' : 'aes-cmac', key);
    if (tamper) signed[signed.length - 1] ^= 0x01;
    c.write(Buffer.concat([frame.subarray(0, 2), signed]));
    return answer;
  };
  const buy = (terminalId: string, pan: string, amount: number, extra: IsoFields = {}): IsoMessage => ({
    mti: '0200',
    fields: { 2: pan, 14: '9912', 3: '000000', 4: String(amount).padStart(12, '0'), 7: de7(), 11: nextStan(), 41: terminalId, 42: SP, 48: buildDe48({ SV: 'FUEL' }), 49: '952', ...extra },
  });

  for (const algorithm of ['tdes', 'aes'] as const) {
    t.test(`${algorithm}: a MACed purchase is approved; a wrong or missing MAC gets 63 and is not posted`, async (t) => {
      const card = await w.card(10_000);
      const { id, c, ring } = await initialised(algorithm);
      const mac = ring.working?.mac as Buffer;
      t.equal((await sendMaced(c, buy(id, card.pan, 1_000), algorithm, mac)).fields[39], '00', 'MACed purchase: approved');
      t.equal((await store.getCard(db.pool, card.id)).balance, 9_000);
      const rows = await journalRows(id);

      const wrongBefore = await refusedMetric('mac_wrong');
      const wrong = await sendMaced(c, buy(id, card.pan, 2_000), algorithm, mac, true);
      t.equal(wrong.fields[39], '63', 'a wrong MAC: 63');
      t.equal(await journalRows(id), rows, 'no journal row');
      t.equal((await store.getCard(db.pool, card.id)).balance, 9_000, 'nothing charged');
      t.equal(await refusedMetric('mac_wrong'), wrongBefore + 1, 'counted as mac_wrong');
      const other = generateKey(algorithm, 16);
      t.equal((await sendMaced(c, buy(id, card.pan, 2_000), algorithm, other)).fields[39], '63', 'a MAC under another key: 63');

      const missingBefore = await refusedMetric('mac_missing');
      t.equal((await sendMaced(c, buy(id, card.pan, 2_000), algorithm, null)).fields[39], '63', 'no MAC: 63');
      t.equal(await refusedMetric('mac_missing'), missingBefore + 1, 'counted as mac_missing');
      t.equal(await journalRows(id), rows, 'still no journal row');
      const events = (await (await fetch(`http://127.0.0.1:${sw.metricsPort}/security`)).json()) as { events: Record<string, string>[] };
      t.same(events.events.slice(-1).map((e) => [e.reason, e.terminalId]), [['mac_missing', id]], 'in the security log');
      t.notOk(JSON.stringify(events).includes(card.pan), 'no full PAN there');

      t.equal((await c.send({ mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: id, 70: '301' } })).fields[39], '00', 'an echo needs no MAC');
      t.equal((await sendMaced(c, buy(id, card.pan, 500), algorithm, mac)).fields[39], '00', 'the terminal is still served');
    });
  }

  t.test('a captured MACed purchase replayed on another connection: the stored answer, nothing charged again; altered, 63', async (t) => {
    const card = await w.card(10_000);
    const { id, c, ring } = await initialised('tdes');
    const mac = ring.working?.mac as Buffer;
    const msg = buy(id, card.pan, 1_000);
    const frame = c.frame({ ...msg, fields: { ...msg.fields, 64: Buffer.alloc(8) } });
    const captured = Buffer.concat([frame.subarray(0, 2), signPackedMessage(ascii87, frame.subarray(2), 'retail-mac', mac)]);
    const first = c.answerTo(msg);
    c.write(captured);
    const original = await first;
    t.equal(original.fields[39], '00');
    // the attacker: a connection of its own, signed on as the terminal (a sign-on carries no MAC), the same bytes
    const attacker = await TestTerminal.connect(sw.port);
    t.teardown(() => attacker.close());
    t.equal(await attacker.signOn(id), '00');
    const replayed = attacker.answerTo(msg);
    attacker.write(captured);
    const r = await replayed;
    t.same([r.fields[39], r.fields[38], r.fields[37]], [original.fields[39], original.fields[38], original.fields[37]], 'the stored answer: same code, approval code and RRN');
    t.equal((await store.getCard(db.pool, card.id)).balance, 9_000, 'charged once');
    // the same bytes with another STAN or amount no longer carry a valid MAC
    const altered = Buffer.from(captured);
    const at = altered.indexOf(Buffer.from(String(msg.fields[4])));
    altered.write('000000009000', at, 'latin1');
    const changed = attacker.answerTo({ ...msg, fields: { ...msg.fields, 4: '000000009000' } });
    attacker.write(altered);
    t.equal((await changed).fields[39], '63', 'an altered amount: 63');
    t.equal((await store.getCard(db.pool, card.id)).balance, 9_000, 'nothing more charged');
  });

  t.test('key change: the new key verifies; the old one for the grace period only', async (t) => {
    const card = await w.card(10_000);
    const { id, c, ring } = await initialised('tdes');
    const old = ring.working?.mac as Buffer;
    const kc = { mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: id, 70: '161' } };
    t.equal((await sendMaced(c, kc, 'tdes', null)).fields[39], '63', 'a key change needs a MAC too');
    const renewed = await sendMaced(c, { ...kc, fields: { ...kc.fields, 11: nextStan() } }, 'tdes', old);
    t.equal(renewed.fields[39], '00', 'key change: 00');
    ring.install(renewed);
    const fresh = ring.working?.mac as Buffer;
    t.not(fresh.toString('hex'), old.toString('hex'), 'renewed');
    t.equal((await sendMaced(c, buy(id, card.pan, 100), 'tdes', fresh)).fields[39], '00', 'under the new key: approved');
    t.equal((await sendMaced(c, buy(id, card.pan, 100), 'tdes', old)).fields[39], '00', 'under the old key within the grace period: approved');
    await new Promise((r) => setTimeout(r, GRACE_SECONDS * 1000 + 300));
    t.equal((await sendMaced(c, buy(id, card.pan, 100), 'tdes', old)).fields[39], '63', 'after it: 63');
    t.equal((await sendMaced(c, buy(id, card.pan, 100), 'tdes', fresh)).fields[39], '00', 'the new key still works');
    t.equal((await store.getCard(db.pool, card.id)).balance, 9_700, 'three purchases posted');
  });

  t.test('the simulator MACs every message after sign-on: approved, also after a key change', async (t) => {
    const id = `TMC${String(++seq).padStart(5, '0')}`;
    await store.createTerminal(db.pool, { id, servicePointId: w.sp.id });
    const master = generateKey('aes', 16);
    await putTerminalKeys(db.pool, KEK, id, [{ kind: 'master', algorithm: 'aes', key: master }]);
    const { pin } = await store.issueTerminalPin(db.pool, id, 3600);
    const card = await w.card(10_000);
    const sim = await Terminal.connect({ port: sw.port, terminalId: id, servicePoint: 'PS_SENOSOFT', pin, masterKey: { algorithm: 'aes', key: master } });
    t.teardown(() => sim.close());
    t.equal((await sim.signOn()).code, '00');
    t.equal((await sim.purchase({ pan: card.pan, expiry: card.expiry, amount: 300 })).code, '00', 'a MACed purchase (AES-CMAC, DE64)');
    t.equal((await sim.keyChange()).code, '00', 'a MACed key change (DE128)');
    t.equal((await sim.purchase({ pan: card.pan, expiry: card.expiry, amount: 200 })).code, '00', 'under the new key');
    t.equal((await sim.signOff()).code, '00', 'a MACed sign-off');
    t.equal((await store.getCard(db.pool, card.id)).balance, 9_500);
  });

  t.test('a terminal without working keys: 63 for every message after sign-on', async (t) => {
    const c = await TestTerminal.signedOn(sw.port, w.terminal);
    t.teardown(() => c.close());
    const card = await w.card(10_000);
    const r = await sendMaced(c, buy(w.terminal, card.pan, 100), 'tdes', generateKey('tdes', 16));
    t.equal(r.fields[39], '63');
    t.match(String(r.fields[48]), /NO TERMINAL KEY/);
  });
});
