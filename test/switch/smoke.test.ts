import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { TestTerminal, de7, nextStan, testSwitch } from '../helpers/switch.js';
import { issueTerminalPin } from '../../db/store.js';
import { buildDe48 } from '../../protocol/index.js';

t.test('sign on with the security PIN, then a purchase over TCP', async (t) => {
  const db = await testDb(t);
  const w = await makeWorld(db.pool);
  const sw = await testSwitch(t, db);
  const card = await w.card(50_000);
  const term = await TestTerminal.connect(sw.port);
  t.teardown(() => term.close());
  const { pin } = await issueTerminalPin(db.pool, w.terminal, 600);
  const signOn = await term.send({ mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: w.terminal, 48: buildDe48({ SP: pin }), 70: '001' } });
  t.equal(signOn.mti, '0810');
  t.equal(signOn.fields[39], '00', 'signed on');
  const r = await term.send({
    mti: '0200',
    fields: { 2: card.pan, 14: card.expiry, 3: '000000', 4: '000000012500', 7: de7(), 11: nextStan(), 41: w.terminal, 42: 'PS_SENOSOFT    ', 48: buildDe48({ SV: 'FUEL' }), 49: '952' },
  });
  t.equal(r.mti, '0210');
  t.equal(r.fields[39], '00');
  t.match(r.fields[38], /^[0-9]{6}$/);
  t.equal(r.fields[54], '0002952C000000037500');
});
