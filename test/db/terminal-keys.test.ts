// Terminal keys at rest (db/terminal-keys.ts) and the key-encryption key from the environment (db/kek.ts).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { ConfigError } from '../../db/config.js';
import { DEVELOPMENT_KEK, loadKek } from '../../db/kek.js';
import { acceptedKeys, liveKey, openKey, putTerminalKeys, sealKey, SealedKeyError } from '../../db/terminal-keys.js';
import { generateKey, kcv } from '../../protocol/security/index.js';

const KEK = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');

t.test('the KEK: 64 hex digits; missing or development value refused outside development mode; never echoed', async (t) => {
  const good = randomBytes(32).toString('hex');
  t.same(loadKek({ KEY_ENCRYPTION_KEY: good }), Buffer.from(good, 'hex'));
  t.throws(() => loadKek({}), ConfigError, 'missing: refused');
  t.same(loadKek({ CYNOD_DEV: '1' }), DEVELOPMENT_KEK, 'development mode: the development KEK');
  t.throws(() => loadKek({ KEY_ENCRYPTION_KEY: DEVELOPMENT_KEK.toString('hex') }), /development value is refused/);
  t.same(loadKek({ KEY_ENCRYPTION_KEY: DEVELOPMENT_KEK.toString('hex'), CYNOD_DEV: '1' }), DEVELOPMENT_KEK);
  t.throws(() => loadKek({ KEY_ENCRYPTION_KEY: '00'.repeat(32) }), /repeated byte/);
  const short = good.slice(0, 62);
  try {
    loadKek({ KEY_ENCRYPTION_KEY: short });
    t.fail('a short KEK must be refused');
  } catch (e) {
    t.type(e, ConfigError);
    t.notMatch((e as Error).message, short, 'the value is not in the message');
    t.match((e as Error).message, /KEY_ENCRYPTION_KEY: must be 64 hex digits/);
  }
  t.throws(() => loadKek({ KEY_ENCRYPTION_KEY: 'zz'.repeat(32) }), /64 hex digits/);
});

t.test('seal and open: AES-256-GCM, bound to terminal, kind and algorithm', async (t) => {
  const key = generateKey('tdes');
  const sealed = sealKey(KEK, 'TPE00001', 'mac', 'tdes', key);
  t.equal(sealed.length, 12 + 16 + 16, 'nonce, ciphertext, tag');
  t.notOk(sealed.includes(key), 'the clear key is not in the sealed bytes');
  t.same(openKey(KEK, 'TPE00001', 'mac', 'tdes', sealed), key);
  t.not(sealKey(KEK, 'TPE00001', 'mac', 'tdes', key).toString('hex'), sealed.toString('hex'), 'a fresh nonce each time');
  t.throws(() => openKey(KEK, 'TPE00002', 'mac', 'tdes', sealed), SealedKeyError, 'another terminal');
  t.throws(() => openKey(KEK, 'TPE00001', 'pin', 'tdes', sealed), SealedKeyError, 'another kind');
  t.throws(() => openKey(KEK, 'TPE00001', 'mac', 'aes', sealed), SealedKeyError, 'another algorithm');
  t.throws(() => openKey(randomBytes(32), 'TPE00001', 'mac', 'tdes', sealed), SealedKeyError, 'another KEK');
  for (let i = 0; i < sealed.length; i++) {
    const bad = Buffer.from(sealed);
    bad[i] ^= 0x01;
    t.throws(() => openKey(KEK, 'TPE00001', 'mac', 'tdes', bad), SealedKeyError, `byte ${i} altered`);
  }
  t.throws(() => openKey(KEK, 'TPE00001', 'mac', 'tdes', sealed.subarray(0, 20)), SealedKeyError, 'truncated');
  try {
    openKey(randomBytes(32), 'TPE00001', 'mac', 'tdes', sealed);
  } catch (e) {
    t.notMatch((e as Error).message, key.toString('hex'), 'the error carries no key');
  }
});

t.test('store: a new key retires the live one; retired keys are accepted for the grace period only', async (t) => {
  const { pool } = await testDb(t);
  const w = await makeWorld(pool);
  const master = generateKey('tdes');
  const [masterKcv] = await putTerminalKeys(pool, KEK, w.terminal, [{ kind: 'master', algorithm: 'tdes', key: master }]);
  t.equal(masterKcv, kcv('tdes', master).toString('hex').toUpperCase());
  const stored = await liveKey(pool, KEK, w.terminal, 'master');
  t.same(stored?.key, master);
  t.equal(stored?.algorithm, 'tdes');
  t.equal(await liveKey(pool, KEK, w.terminal2, 'master'), undefined, 'another terminal has none');

  const row = (await pool.query<{ sealed: Buffer }>('SELECT sealed FROM terminal_keys WHERE terminal_id = $1', [w.terminal])).rows[0];
  t.notOk(row.sealed.includes(master), 'the table holds no clear key');

  const mac1 = generateKey('aes');
  const mac2 = generateKey('aes');
  await putTerminalKeys(pool, KEK, w.terminal, [{ kind: 'mac', algorithm: 'aes', key: mac1 }]);
  await putTerminalKeys(pool, KEK, w.terminal, [{ kind: 'mac', algorithm: 'aes', key: mac2 }]);
  t.same((await liveKey(pool, KEK, w.terminal, 'mac'))?.key, mac2, 'the newest is live');
  t.same((await acceptedKeys(pool, KEK, w.terminal, 'mac', 600)).map((k) => k.key), [mac2, mac1], 'within the grace period: live first, then the previous');
  await pool.query("UPDATE terminal_keys SET retired_at = now() - interval '601 seconds' WHERE retired_at IS NOT NULL");
  t.same((await acceptedKeys(pool, KEK, w.terminal, 'mac', 600)).map((k) => k.key), [mac2], 'after it: the live key only');
  t.same((await liveKey(pool, KEK, w.terminal, 'master'))?.key, master, 'other kinds untouched');

  // A sealed key moved to another terminal's row does not open there.
  await pool.query("INSERT INTO terminal_keys (terminal_id, kind, algorithm, sealed, kcv) SELECT $2, kind, algorithm, sealed, kcv FROM terminal_keys WHERE terminal_id = $1 AND kind = 'master'", [w.terminal, w.terminal2]);
  await t.rejects(liveKey(pool, KEK, w.terminal2, 'master'), SealedKeyError);
  await t.rejects(pool.query("INSERT INTO terminal_keys (terminal_id, kind, algorithm, sealed, kcv) VALUES ($1, 'master', 'tdes', $2, 'ABCDEF')", [w.terminal, randomBytes(44)]), /terminal_keys_live/, 'one live key per kind');
});
