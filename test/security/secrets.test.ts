// Secrets at rest and terminal PINs: tokens and transaction codes exist only hashed; a PIN
// initialises a terminal once, and not after it expired or was replaced.
import t from 'tap';
import { backoffice } from '../helpers/backoffice.js';
import { TestTerminal, de7, nextStan, testSwitch } from '../helpers/switch.js';
import { buildDe48 } from '../../protocol/index.js';
import * as store from '../../db/store.js';

t.test('tokens and codes are stored only hashed', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(1_000);
  const code = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/codes`, { amountMax: 500, ttlSeconds: 600 });
  t.equal(code.status, 201);
  const plainCode = String(code.body.code);
  const user = await h.call('ADMIN', 'POST', '/users', { username: 'auditor', role: 'VIEWER' });
  const token = await h.call('ADMIN', 'POST', `/users/${user.body.id}/tokens`, { label: 't' });
  const plainToken = String(token.body.token);
  t.ok(plainCode.length >= 4 && plainToken.length > 20);
  const dump = await h.pool.query(`SELECT string_agg(t::text, ' ') AS s FROM (
    SELECT row_to_json(x)::text AS t FROM transaction_codes x UNION ALL SELECT row_to_json(y)::text FROM tokens y
    UNION ALL SELECT row_to_json(z)::text FROM audit_log z UNION ALL SELECT row_to_json(j)::text FROM journal j) q`);
  const all = String(dump.rows[0].s);
  t.notOk(all.includes(plainCode), 'the code appears nowhere in the database');
  t.notOk(all.includes(plainToken), 'the token appears nowhere in the database');
  t.notOk(all.includes(Buffer.from(plainToken).toString('hex')), 'not even as hex');
  const pin = await h.call('OPERATOR', 'POST', `/terminals/${h.w.terminal}/pins`, {});
  const pins = await h.pool.query('SELECT pin_hash FROM terminal_pins');
  t.ok(pins.rows.every((r) => String(r.pin_hash).startsWith('scrypt$') && !String(r.pin_hash).includes(String(pin.body.pin))), 'PINs are scrypt hashes');
});

t.test('a security PIN initialises a terminal once, before it expires, unless replaced', async (t) => {
  const h = await backoffice(t);
  const sw = await testSwitch(t, { url: '', schema: h.schema, pool: h.pool }, { REDIS_PREFIX: h.prefix });
  // a connection per terminal: a connection carries one terminal's session
  const conns = new Map<string, TestTerminal>();
  const signOn = async (id: string, pin?: string): Promise<string> => {
    let term = conns.get(id);
    if (term === undefined) {
      term = await TestTerminal.connect(sw.port);
      conns.set(id, term);
      t.teardown(() => term?.close());
    }
    return String((await term.send({ mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: id, 70: '001', ...(pin ? { 48: buildDe48({ SP: pin }) } : {}) } })).fields[39]);
  };
  const id = h.w.terminal;
  // new terminals, never signed on (the test world signs its terminals on)
  await h.pool.query('UPDATE terminals SET initialized_at = NULL WHERE id = ANY($1)', [[h.w.terminal, h.w.terminal2]]);
  const other = (pin: string): string => String((Number(pin) + 1) % 10000).padStart(4, '0');
  t.equal(await signOn(id), '58', 'a new terminal cannot sign on without its PIN');
  const first = await store.issueTerminalPin(h.pool, id, 600);
  const second = await store.issueTerminalPin(h.pool, id, 600);
  if (first.pin !== second.pin) t.equal(await signOn(id, first.pin), '58', 'a replaced PIN no longer works');
  t.equal(await signOn(id, other(second.pin)), '58', 'a wrong PIN does not');
  t.equal(await signOn(id, second.pin), '00', 'the live PIN initialises the terminal');
  t.equal(await signOn(id, second.pin), '58', 'once: the PIN is spent');
  t.equal(await signOn(id), '00', 'an initialised terminal signs on without a PIN');

  const id2 = h.w.terminal2;
  const old = await store.issueTerminalPin(h.pool, id2, 600);
  await h.pool.query("UPDATE terminal_pins SET expires_at = now() - interval '1 second' WHERE terminal_id = $1", [id2]);
  t.equal(await signOn(id2, old.pin), '58', 'an expired PIN does not work');

  const guessed = await store.issueTerminalPin(h.pool, id2, 600);
  for (let i = 0; i < 3; i++) t.equal(await signOn(id2, other(guessed.pin)), '58', `wrong attempt ${i + 1}`);
  t.equal(await signOn(id2, guessed.pin), '58', 'after 3 wrong attempts the PIN is burned: guessing 4 digits is not an option');
  const fresh = await store.issueTerminalPin(h.pool, id2, 600);
  t.equal(await signOn(id2, fresh.pin), '00', 'a new PIN from the back office works');
});
