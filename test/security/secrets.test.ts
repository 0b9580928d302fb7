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

t.test('HASH_SECRET: unset or the public development value, the switch and the back office refuse to start unless CYNOD_DEV=1', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const { ROOT } = await import('../helpers/paths.js');
  const { DEV_HASH_SECRET, refuseDevelopmentSecrets, parseEnv, commonEnv } = await import('../../db/config.js');
  const { loadSwitchConfig } = await import('../../switch/config.js');
  const { KEK_HEX } = await import('../helpers/switch.js');
  // a key-encryption key of its own: only HASH_SECRET is in question here
  const base = { DATABASE_URL: 'postgres://x@127.0.0.1:1/none', SWITCH_LISTENERS: '127.0.0.1:0/binary2/ascii87', METRICS_PORT: '0', KEY_ENCRYPTION_KEY: KEK_HEX };
  t.throws(() => loadSwitchConfig(base), /HASH_SECRET: not set, or the public development value/, 'unset');
  t.throws(() => loadSwitchConfig({ ...base, HASH_SECRET: DEV_HASH_SECRET }), /HASH_SECRET/, 'the development value');
  t.doesNotThrow(() => loadSwitchConfig({ ...base, CYNOD_DEV: '1' }), 'development mode, explicit');
  t.doesNotThrow(() => loadSwitchConfig({ ...base, HASH_SECRET: 'a-secret-of-our-own-0123' }), 'a secret of its own');
  t.throws(() => refuseDevelopmentSecrets(parseEnv(commonEnv, {})), /CYNOD_DEV=1/, 'the back office\'s check says what to do');
  // a bad secret is named, never shown
  const short = 'sh0rt-secret';
  let message = '';
  try {
    loadSwitchConfig({ ...base, HASH_SECRET: short });
  } catch (e) {
    message = (e as Error).message;
  }
  t.match(message, /HASH_SECRET: must be at least 16 characters \(value not shown\)/);
  t.notMatch(message, short, 'the value is not in the message');
  // the processes themselves: exit 2 with the reason, before connecting to anything
  const env = { ...process.env, ...base, HASH_SECRET: '', CYNOD_DEV: '' };
  for (const main of ['dist/switch/main.js', 'dist/backoffice/main.js']) {
    const r = spawnSync(process.execPath, [join(ROOT, main)], { env, encoding: 'utf8', timeout: 20_000 });
    t.equal(r.status, 2, `${main}: exit 2`);
    t.match(r.stderr, /HASH_SECRET: not set, or the public development value/, `${main}: says why`);
  }
});

t.test('seed --reset and make demo-reset refuse to drop the schema cynod without --yes', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const { ROOT } = await import('../helpers/paths.js');
  const { refuseProductionSchemaDrop } = await import('../../db/config.js');
  t.throws(() => refuseProductionSchemaDrop('cynod', false), /refusing to drop the schema cynod/);
  t.doesNotThrow(() => refuseProductionSchemaDrop('cynod', true), 'with the explicit flag');
  t.doesNotThrow(() => refuseProductionSchemaDrop('cynod_demo', false), 'another schema');
  // the commands, against an address where nothing listens: they refuse before connecting
  const env = { ...process.env, DATABASE_URL: 'postgres://x@127.0.0.1:1/none', DB_SCHEMA: 'cynod', REDIS_URL: 'memory://', HASH_SECRET: 'a-secret-of-our-own-0123', DEMO_DIR: join(ROOT, '.tap', `no-demo-${process.pid}`) };
  const seed = spawnSync(process.execPath, [join(ROOT, 'dist/backoffice/cli.js'), 'seed', '--reset'], { env, encoding: 'utf8', timeout: 20_000 });
  t.not(seed.status, 0, 'seed --reset: refused');
  t.match(seed.stdout + seed.stderr, /refusing to drop the schema cynod/);
  const demo = spawnSync(process.execPath, [join(ROOT, 'dist/tools/demo.js'), '--reset'], { env, encoding: 'utf8', timeout: 20_000 });
  t.not(demo.status, 0, 'demo --reset: refused');
  t.match(demo.stdout + demo.stderr, /refusing to drop the schema cynod/);
});

t.test('make demo-reset and seed --reset refuse a schema holding data they did not make, unless --yes; their own they drop', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const { ROOT } = await import('../helpers/paths.js');
  const { testDb } = await import('../helpers/db.js');
  const { makeWorld } = await import('../helpers/world.js');
  const { KEK_HEX } = await import('../helpers/switch.js');
  const db = await testDb(t);
  await makeWorld(db.pool); // a client, cards: data that neither the demo nor the seed made
  const env = { ...process.env, DATABASE_URL: db.url, DB_SCHEMA: db.schema, REDIS_PREFIX: `${db.schema}:`, HASH_SECRET: 'a-secret-of-our-own-0123', KEY_ENCRYPTION_KEY: KEK_HEX, DEMO_DIR: join(ROOT, '.tap', `demo-reset-${process.pid}`) };
  const clients = async (): Promise<number> => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM clients')).rows[0].n;
  const before = await clients();
  const demo = spawnSync(process.execPath, [join(ROOT, 'dist/tools/demo.js'), '--reset'], { env, encoding: 'utf8', timeout: 30_000 });
  t.not(demo.status, 0, 'demo --reset: refused');
  t.match(demo.stdout + demo.stderr, /holds clients or cards that make demo and seed did not make/);
  const seed = spawnSync(process.execPath, [join(ROOT, 'dist/backoffice/cli.js'), 'seed', '--reset', '--cards', '2'], { env, encoding: 'utf8', timeout: 30_000 });
  t.equal(seed.status, 2, 'seed --reset: refused');
  t.match(seed.stderr, /refusing to drop it/);
  t.equal(await clients(), before, 'nothing dropped');
  const forced = spawnSync(process.execPath, [join(ROOT, 'dist/backoffice/cli.js'), 'seed', '--reset', '--yes', '--cards', '2'], { env, encoding: 'utf8', timeout: 60_000 });
  t.equal(forced.status, 0, `seed --reset --yes: ${forced.stderr.slice(-300)}`);
  // the schema now holds what the seed made: a reset without --yes goes through
  const again = spawnSync(process.execPath, [join(ROOT, 'dist/backoffice/cli.js'), 'seed', '--reset', '--cards', '2'], { env, encoding: 'utf8', timeout: 60_000 });
  t.equal(again.status, 0, `seed --reset of its own data: ${again.stderr.slice(-300)}`);
  const own = spawnSync(process.execPath, [join(ROOT, 'dist/tools/demo.js'), '--reset'], { env, encoding: 'utf8', timeout: 30_000 });
  t.equal(own.status, 0, `demo --reset of seeded data: ${own.stderr.slice(-300)}`);
  t.match(own.stdout, new RegExp(`demo data dropped \\(schema ${db.schema}`));
});

t.test('SWITCH_AUTH: MAC by default on plain listeners, not on mutual-TLS ones; none only in development', async (t) => {
  const { loadSwitchConfig } = await import('../../switch/config.js');
  const { KEK_HEX } = await import('../helpers/switch.js');
  const base = { DATABASE_URL: 'postgres://x@127.0.0.1:1/none', SWITCH_LISTENERS: '127.0.0.1:0/binary2/ascii87', METRICS_PORT: '0', KEY_ENCRYPTION_KEY: KEK_HEX, HASH_SECRET: 'a-secret-of-our-own-0123' };
  const c = loadSwitchConfig(base);
  t.equal(c.env.SWITCH_AUTH, 'mac', 'the default');
  t.equal(c.listeners[0].macRequired, true, 'a plain listener requires the MAC');
  t.throws(() => loadSwitchConfig({ ...base, SWITCH_AUTH: 'none' }), /SWITCH_AUTH=none: .*development only \(CYNOD_DEV=1\)/, 'none without development mode: refused, saying why');
  t.equal(loadSwitchConfig({ ...base, SWITCH_AUTH: 'none', CYNOD_DEV: '1' }).listeners[0].macRequired, false, 'none in development: no MAC');
});
