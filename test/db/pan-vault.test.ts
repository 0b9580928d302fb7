/**
 * PANs at rest (issue 21, db/pan-vault.ts): a card row holds no clear PAN; a card is found by
 * its PAN's HMAC; a sealed PAN opens only under its key-encryption key, in its own row.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { panKey } from '../../db/cache-keys.js';
import { loadCardByPanKey } from '../../db/directory.js';
import { PanVault, SealedPanError } from '../../db/pan-vault.js';
import * as store from '../../db/store.js';
import { testDb } from '../helpers/db.js';
import { HASH_SECRET, KEK } from '../helpers/switch.js';
import { makeWorld } from '../helpers/world.js';

const PAN = '6280001234567897';

/** The StoreError kind a promise rejects with, or 'resolved'. */
const failure = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof store.StoreError ? e.kind : String(e)),
  );

t.test('seal and open; the lookup key is the cache key', async (t) => {
  const vault = new PanVault(KEK, HASH_SECRET);
  const key = vault.key(PAN);
  t.equal(key.length, 32);
  t.equal(key.toString('hex'), panKey(PAN, HASH_SECRET), "the stored key's hex is the card's Redis key (db/cache-keys.ts)");
  const sealed = vault.seal(PAN);
  t.equal(vault.open(sealed, key), PAN);
  t.equal(vault.open(sealed, key.toString('hex')), PAN, 'the key as hex too');
  t.notOk(sealed.toString('latin1').includes(PAN), 'no clear digits in the sealed bytes');
  t.not(vault.seal(PAN).toString('hex'), sealed.toString('hex'), 'a fresh nonce each time');

  const flipped = Buffer.from(sealed);
  flipped[14] ^= 1;
  t.throws(() => vault.open(flipped, key), SealedPanError, 'an altered ciphertext fails to open');
  const other = '6280009876543210';
  t.throws(() => vault.open(sealed, vault.key(other)), SealedPanError, "moved into another card's row (another key): fails to open");
  t.throws(() => new PanVault(randomBytes(32), HASH_SECRET).open(sealed, key), SealedPanError, 'another KEY_ENCRYPTION_KEY: fails to open');
  t.throws(() => new PanVault(KEK, 'another-hash-secret-0123').open(sealed, key), SealedPanError, 'another HASH_SECRET: the key does not match');
  t.throws(() => new PanVault(Buffer.alloc(16), HASH_SECRET), RangeError, 'a 32-byte KEK only');
});

t.test('the cards table holds no clear PAN; lookups go by HMAC', async (t) => {
  const { pool } = await testDb(t);
  const w = await makeWorld(pool);
  const card = await w.card(1_000);
  t.match(card.pan, /^[0-9]{16}$/, 'creation answers the full PAN, once');
  t.equal(card.panMasked, `${card.pan.slice(0, 6)}******${card.pan.slice(-4)}`);
  t.equal(card.last4, card.pan.slice(-4));
  t.equal(card.panKey, panKey(card.pan, HASH_SECRET));

  // every column of the row, as text (bytea as hex, escape and the raw bytes): no PAN anywhere
  const cols = await pool.query<{ column_name: string }>(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'cards' ORDER BY ordinal_position",
  );
  t.notOk(cols.rows.some((c) => c.column_name === 'pan'), 'no pan column');
  const row = (await pool.query<Record<string, unknown>>('SELECT * FROM cards WHERE id = $1', [card.id])).rows[0];
  const texts = (
    await pool.query<Record<string, string | null>>(`SELECT ${cols.rows.map((c) => `c.${c.column_name}::text AS ${c.column_name}`).join(', ')} FROM cards c WHERE id = $1`, [card.id])
  ).rows[0];
  const seen = [
    ...Object.values(texts).map((v) => String(v)),
    ...Object.values(row).map((v) => (Buffer.isBuffer(v) ? [v.toString('hex'), v.toString('latin1'), v.toString('utf8')].join(' ') : String(v))),
  ].join('\n');
  t.notOk(seen.includes(card.pan), "the row's columns do not hold the PAN");
  t.notOk(seen.includes(card.pan.slice(6, 12)), 'nor its hidden middle digits');
  t.ok(seen.includes(card.pan.slice(-4)), 'the last 4 digits are kept (search, masked display)');

  t.equal((await store.getCardByPan(pool, w.vault, card.pan)).id, card.id, 'found by its PAN');
  const wrong = card.pan.slice(0, -1) + String((Number(card.pan.slice(-1)) + 1) % 10);
  t.equal(await failure(store.getCardByPan(pool, w.vault, wrong)), 'not_found', 'another PAN finds nothing');
  t.equal((await loadCardByPanKey(pool, card.panKey))?.id, card.id, "the switch's read by key");
  t.equal(await loadCardByPanKey(pool, panKey(wrong, HASH_SECRET)), null);
  t.ok((await store.searchCards(pool, { last4: card.last4 }, { limit: 50, offset: 0 })).some((c) => c.id === card.id), 'search by last 4 digits');

  const sealed = row.pan_sealed as Buffer;
  t.equal(w.vault.open(sealed, row.pan_key as Buffer), card.pan, 'the sealed column opens to the PAN');
  const other = await w.card(0);
  const otherRow = (await pool.query<{ pan_key: Buffer; pan_sealed: Buffer }>('SELECT pan_key, pan_sealed FROM cards WHERE id = $1', [other.id])).rows[0];
  t.throws(() => w.vault.open(otherRow.pan_sealed, row.pan_key as Buffer), SealedPanError, "another card's sealed PAN swapped into this row fails to open");
  t.equal(
    await failure(store.createCard(pool, w.vault, { pan: card.pan, name: 'Twin', clientId: w.elton.id, memberId: w.manager.id, profileId: w.fuel.id, expiry: '9912' })),
    'conflict',
    'a PAN is unique (by its key)',
  );
});
