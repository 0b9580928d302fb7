// Working keys end to end over TCP: the initialising sign-on (with the security PIN) delivers a
// MAC key and a PIN key wrapped under the terminal's master key, with check values (DE48 KA, MK,
// MC, PK, PC); an 0800 key change (DE70 161) renews them, the previous ones kept for the grace
// period; the simulator's firmware model unwraps and keeps them.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { KEK, TestTerminal, de7, nextStan, testSwitch } from '../helpers/switch.js';
import * as store from '../../db/store.js';
import { acceptedKeys, liveKey, putTerminalKeys } from '../../db/terminal-keys.js';
import { parseDe48, type IsoMessage } from '../../protocol/index.js';
import { generateKey, kcv, splitKey, type KeyAlgorithm } from '../../protocol/security/index.js';
import { Keyring, injectMasterKey, KeyDeliveryError } from '../../terminal-sim/keys.js';
import { Terminal } from '../../terminal-sim/terminal.js';

const SP_CODE = 'PS_SENOSOFT';

t.test('key delivery', async (t) => {
  const db = await testDb(t);
  const w = await makeWorld(db.pool);
  const sw = await testSwitch(t, db);
  let seq = 0;
  /** A new, uninitialised terminal with a master key of `algorithm` (or none) and a security PIN. */
  const newTerminal = async (algorithm: KeyAlgorithm | null): Promise<{ id: string; pin: string; master?: Buffer }> => {
    const id = `TKD${String(++seq).padStart(5, '0')}`;
    await store.createTerminal(db.pool, { id, servicePointId: w.sp.id });
    let master: Buffer | undefined;
    if (algorithm) {
      master = generateKey(algorithm, 16);
      await putTerminalKeys(db.pool, KEK, id, [{ kind: 'master', algorithm, key: master }]);
    }
    const { pin } = await store.issueTerminalPin(db.pool, id, 3600);
    return { id, pin, master };
  };
  const signOn = (c: TestTerminal, id: string, pin?: string): Promise<IsoMessage> =>
    c.send({ mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: id, 70: '001', ...(pin ? { 48: `SP004${pin}` } : {}) } });
  const keyChange = (c: TestTerminal, id: string): Promise<IsoMessage> => c.send({ mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: id, 70: '161' } });
  const tagsOf = (m: IsoMessage): Record<string, string> => parseDe48(String(m.fields[48]));

  for (const algorithm of ['tdes', 'aes'] as const) {
    t.test(`${algorithm}: the initialising sign-on delivers the working keys; a key change renews them`, async (t) => {
      const term = await newTerminal(algorithm);
      const c = await TestTerminal.connect(sw.port);
      t.teardown(() => c.close());
      const r = await signOn(c, term.id, term.pin);
      t.equal(r.fields[39], '00');
      const tags = tagsOf(r);
      t.equal(tags.KA, algorithm === 'tdes' ? 'TDES' : 'AES');
      t.equal(tags.MK.length, algorithm === 'tdes' ? 32 : 48, 'wrapped MAC key: 3DES-ECB (16 bytes) or RFC 3394 (24 bytes), in hex');
      t.equal(tags.MC.length, algorithm === 'tdes' ? 6 : 10, 'check value: 3 or 5 bytes');
      const ring = new Keyring({ algorithm, key: term.master as Buffer });
      t.equal(ring.install(r), true);
      const mac = await liveKey(db.pool, KEK, term.id, 'mac');
      const pin = await liveKey(db.pool, KEK, term.id, 'pin');
      t.same(ring.working?.mac, mac?.key, 'the terminal unwraps the MAC key the switch stored');
      t.same(ring.working?.pin, pin?.key, 'and the PIN key');
      t.equal(tags.MC, kcv(algorithm, mac?.key as Buffer).toString('hex').toUpperCase());
      t.not(ring.working?.mac.toString('hex'), ring.working?.pin.toString('hex'), 'two different keys');
      t.notOk(String(r.fields[48]).includes((mac?.key as Buffer).toString('hex').toUpperCase()), 'the clear key is not on the wire');
      t.throws(() => new Keyring({ algorithm, key: generateKey(algorithm, 16) }).install(r), KeyDeliveryError, 'under another master key: refused');

      const plain = await signOn(c, term.id);
      t.equal(plain.fields[39], '00', 'a later sign-on without the PIN');
      t.notOk('MK' in tagsOf(plain), 'carries no keys');

      const renewed = await keyChange(c, term.id);
      t.equal(renewed.fields[39], '00', 'key change on the session: 00');
      t.equal(ring.install(renewed), true);
      t.not(ring.working?.mac.toString('hex'), mac?.key.toString('hex'), 'a new MAC key');
      const accepted = await acceptedKeys(db.pool, KEK, term.id, 'mac', 600);
      t.same(accepted.map((k) => k.key.toString('hex')), [ring.working?.mac.toString('hex'), mac?.key.toString('hex')], 'the previous key kept for the grace period');
      t.same((await acceptedKeys(db.pool, KEK, term.id, 'mac', 0)).length, 1, 'and only for it');
    });
  }

  t.test('refusals: a key change needs a session and a master key; no master key, no keys at initialisation', async (t) => {
    const keyless = await newTerminal(null);
    const c = await TestTerminal.connect(sw.port);
    t.teardown(() => c.close());
    t.equal((await keyChange(c, w.terminal)).fields[39], '58', 'without a session: 58');
    const r = await signOn(c, keyless.id, keyless.pin);
    t.equal(r.fields[39], '00', 'initialised');
    t.notOk('MK' in tagsOf(r), 'but no working keys: it has no master key');
    const k = await keyChange(c, keyless.id);
    t.equal(k.fields[39], '63', 'key change without a master key: 63');
    t.equal(tagsOf(k).MS, 'NO TERMINAL MASTER KEY');
    t.equal(await liveKey(db.pool, KEK, keyless.id, 'mac'), undefined, 'nothing stored');
  });

  t.test('the simulator: master key injected from its components, keys installed at initialisation and key change', async (t) => {
    const term = await newTerminal(null);
    const master = generateKey('tdes', 16);
    const parts = splitKey('tdes', master, 2);
    await putTerminalKeys(db.pool, KEK, term.id, [{ kind: 'master', algorithm: 'tdes', key: master }]);
    const injected = injectMasterKey('tdes', parts.map((p) => p.value.toString('hex')), kcv('tdes', master).toString('hex'));
    t.same(injected.key, master);
    t.throws(() => injectMasterKey('tdes', [parts[0].value.toString('hex'), parts[0].value.toString('hex')], kcv('tdes', master).toString('hex')), 'a mistyped component is caught by the check value');
    const sim = await Terminal.connect({ port: sw.port, terminalId: term.id, servicePoint: SP_CODE, pin: term.pin, masterKey: injected });
    t.teardown(() => sim.close());
    t.equal((await sim.signOn()).code, '00');
    t.same(sim.keys.working?.mac, (await liveKey(db.pool, KEK, term.id, 'mac'))?.key);
    const before = sim.keys.working?.mac.toString('hex');
    t.equal((await sim.keyChange()).code, '00');
    t.not(sim.keys.working?.mac.toString('hex'), before);
    t.same(sim.keys.working?.pin, (await liveKey(db.pool, KEK, term.id, 'pin'))?.key);
  });
});
