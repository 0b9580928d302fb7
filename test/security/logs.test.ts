// No full PAN, track 2, PIN block, security PIN, token or transaction code in any log line:
// a full run of the switch and the back office, logging at trace level, scanned afterwards.
import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { backoffice } from '../helpers/backoffice.js';
import { KEK_HEX, TestTerminal, de7, nextStan } from '../helpers/switch.js';
import { loadSwitchConfig } from '../../switch/config.js';
import { startSwitch } from '../../switch/app.js';
import { REDACTED_PATHS } from '../../switch/logger.js';
import { DATABASE_URL } from '../helpers/db.js';
import { buildDe48, buildDe90, frame, Codec, ascii87, type IsoMessage } from '../../protocol/index.js';
import * as store from '../../db/store.js';

class Capture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean));
    cb();
  }
}

t.test('a full run logs no card data and no secrets', async (t) => {
  const logs = new Capture();
  const logger = pino({ level: 'trace', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, logs);
  const h = await backoffice(t, { logger });
  const sw = await startSwitch(
    loadSwitchConfig({
      DATABASE_URL,
      DB_SCHEMA: h.schema,
      REDIS_PREFIX: h.prefix,
      HASH_SECRET: h.config.HASH_SECRET,
      KEY_ENCRYPTION_KEY: KEK_HEX,
      SWITCH_LISTENERS: '127.0.0.1:0/binary2/ascii87',
      METRICS_PORT: '0',
      LOG_LEVEL: 'trace',
      SWITCH_TERMINAL_RATE: '0',
      // its terminal sends no MAC (the MAC's own tests cover it, logs included)
      SWITCH_AUTH: 'none',
      CYNOD_DEV: '1',
    }),
    { migrate: false, logger },
  );
  t.teardown(() => sw.close());
  const port = sw.listeners[0].port;
  const secrets: string[] = [];

  // Back office: a card (full PAN shown once), a token, a code, a PIN.
  const created = await h.call('ADMIN', 'POST', '/cards', { name: 'Log test', clientId: h.w.elton.id, memberId: h.w.manager.id, profileId: h.w.fuel.id });
  const pan = String(created.body.pan);
  const expiry = String(created.body.expiry);
  secrets.push(pan);
  await h.w.recharge(Number(created.body.id), 50_000);
  const user = await h.call('ADMIN', 'POST', '/users', { username: 'logscan', role: 'VIEWER' });
  const token = String((await h.call('ADMIN', 'POST', `/users/${user.body.id}/tokens`, { label: 'scan' })).body.token);
  secrets.push(token);
  await h.call({ header: `Bearer ${token}` }, 'GET', `/carte/cards/${created.body.id}`);
  await h.call({ header: `Bearer ${token}x` }, 'GET', '/cards');
  const code = String((await h.call('ADMIN', 'POST', `/carte/cards/${created.body.id}/codes`, { amountMax: 1_000, ttlSeconds: 600 })).body.code);
  secrets.push(code);
  const pin = String((await h.call('OPERATOR', 'POST', `/terminals/${h.w.terminal}/pins`, {})).body.pin);

  // Switch: sign-on with the PIN, purchases by PAN, track 2 and code, a PIN block, a reversal, errors.
  const term = await TestTerminal.connect(port);
  t.teardown(() => term.close());
  await term.send({ mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: h.w.terminal, 48: buildDe48({ SP: pin }), 70: '001' } });
  const track2 = `${pan}=${expiry}1010000123`;
  secrets.push(track2);
  const pinBlock = Buffer.from('1a2b3c4d5e6f7081', 'hex');
  secrets.push(pinBlock.toString('hex'), pinBlock.toString('hex').toUpperCase());
  const base = (f: IsoMessage['fields']): IsoMessage => ({
    mti: '0200',
    fields: { 3: '000000', 4: '000000000500', 7: de7(), 11: nextStan(), 41: h.w.terminal, 42: 'PS_SENOSOFT    ', 49: '952', ...f },
  });
  const p = base({ 2: pan, 14: expiry, 52: pinBlock });
  t.equal((await term.send(p)).fields[39], '00');
  // a format 4 block (DE48 PB) that no key reads: a wrong PIN, and a malformed PB: a format error
  const pb = '9F8E7D6C5B4A39281706F5E4D3C2B1A0';
  secrets.push(pb, pb.toLowerCase());
  await term.send(base({ 2: pan, 14: expiry, 48: buildDe48({ SV: 'FUEL', PB: pb }) }));
  await term.send(base({ 2: pan, 14: expiry, 48: `SV004FUELPB032${pb.slice(0, 31)}Z` }));
  t.equal((await term.send(base({ 35: track2 }))).fields[39], '00');
  t.equal((await term.send(base({ 48: buildDe48({ TC: code }) }))).fields[39], '00');
  t.equal((await term.send(base({ 48: buildDe48({ TC: code }) }))).fields[39], '14', 'a spent code');
  await term.send({ mti: '0400', fields: { 7: de7(), 11: nextStan(), 41: h.w.terminal, 42: 'PS_SENOSOFT    ', 90: buildDe90({ mti: '0200', stan: p.fields[11] as string, transmissionDateTime: p.fields[7] as string }) } });
  await term.send(base({ 2: pan, 14: expiry, 4: '999999999999' }));
  await term.send(base({ 2: pan, 14: expiry, 48: 'TC003123' }));
  const codec = new Codec(ascii87);
  const broken = codec.encode(base({ 2: pan, 14: expiry, 35: track2 }));
  term.write(frame(broken.subarray(0, broken.length - 3)));
  await new Promise((r) => setTimeout(r, 300));
  await store.setCardStatus(h.pool, Number(created.body.id), 'blocked');

  const text = logs.lines.join('\n');
  t.ok(logs.lines.length > 20, `${logs.lines.length} log lines captured`);
  t.ok(text.includes(pan.slice(0, 6)) && text.includes(pan.slice(-4)), 'masked PANs are logged (the scan is looking at real lines)');
  for (const s of secrets) t.notOk(text.includes(s), `not in the logs: ${s.length > 12 ? `${s.slice(0, 6)}...(${s.length})` : '(short secret)'}`);
  t.notOk(/\b628000[0-9]{10}\b/.test(text), 'no 16-digit PAN of the network anywhere');
  t.notOk(text.includes(`SP004${pin}`), 'no security PIN');
});
