// Key check values, components and wrapping: RFC 3394 vectors for AES key wrap, classic DES
// vectors for the 3DES check value, and the refusals (wrong KCV, altered wrap, weak master key).
import t from 'tap';
import fc from 'fast-check';
import {
  KcvMismatchError,
  KeyError,
  UnwrapError,
  aesCmac,
  combineComponents,
  generateKey,
  hasOddParity,
  kcv,
  kcvMatches,
  splitKey,
  unwrapKey,
  withOddParity,
  wrapKey,
} from '../../../protocol/security/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const HEX = (b: Buffer): string => b.toString('hex').toUpperCase();

t.test('check values', async (t) => {
  // The usual check value of the single DES test key 0123456789ABCDEF: DES of zeros is
  // D5D44FF720683D0D (a double-length key whose halves are equal is that single DES key).
  t.equal(HEX(kcv('tdes', hex('0123456789ABCDEF0123456789ABCDEF'), 8)), 'D5D44FF720683D0D', 'DES of zeros');
  // The usual double-length test key: 3DES-EDE of zeros is 08D7B4FB629D0885, as asserted by
  // public test suites (e.g. a C# Crypt.DesEncrypt test and a Python tdea_2_ede test found
  // with the code search), and as the check value 08D7B4 that jPOS-based samples give it.
  t.equal(HEX(kcv('tdes', hex('0123456789ABCDEFFEDCBA9876543210'), 8)), '08D7B4FB629D0885', '3DES of zeros');
  t.equal(HEX(kcv('tdes', hex('0123456789ABCDEFFEDCBA9876543210'))), '08D7B4', '3DES KCV, 3 bytes');
  // AES: X9.24-1:2017 A.3, the CMAC of one block of zeros (CMAC itself is checked against
  // RFC 4493 in aes-cmac.test.ts), 5 bytes by default.
  const aes = hex('2b7e151628aed2a6abf7158809cf4f3c');
  t.same(kcv('aes', aes), aesCmac(aes, Buffer.alloc(16)).subarray(0, 5), 'AES KCV is the CMAC of 16 zero bytes');
  t.equal(kcv('aes', aes, 3).length, 3, 'AES KCV on 3 bytes');
  t.ok(kcvMatches('aes', aes, kcv('aes', aes, 3)), '3-byte AES KCV matches');
  t.notOk(kcvMatches('aes', aes, Buffer.alloc(5)), 'a wrong KCV does not');
  t.notOk(kcvMatches('aes', aes, Buffer.alloc(0)), 'an empty KCV does not');
  t.throws(() => kcv('tdes', hex('0123456789ABCDEF')), KeyError, 'single-length DES key refused');
  t.throws(() => kcv('aes', Buffer.alloc(20)), KeyError, '20-byte AES key refused');
});

t.test('parity and generation', async (t) => {
  t.equal(HEX(withOddParity(hex('0000FEFF'))), '0101FEFE');
  t.ok(hasOddParity(hex('0123456789ABCDEFFEDCBA9876543210')));
  t.notOk(hasOddParity(hex('0023456789ABCDEF')));
  for (const len of [16, 24]) {
    const k = generateKey('tdes', len);
    t.equal(k.length, len);
    t.ok(hasOddParity(k), `${len}-byte 3DES key has odd parity`);
    t.notSame(k.subarray(0, 8), k.subarray(8, 16), 'distinct halves');
  }
  for (const len of [16, 24, 32]) t.equal(generateKey('aes', len).length, len);
  t.notSame(generateKey('aes'), generateKey('aes'), 'random');
  t.throws(() => generateKey('tdes', 8), KeyError);
  t.throws(() => generateKey('aes', 8), KeyError);
});

t.test('components', async (t) => {
  const tdesKey = generateKey('tdes');
  for (const count of [2, 3] as const) {
    const parts = splitKey('tdes', tdesKey, count);
    t.equal(parts.length, count);
    t.ok(parts.every((p) => hasOddParity(p.value)), `${count} components with odd parity`);
    t.ok(parts.every((p) => kcvMatches('tdes', p.value, p.kcv)), 'each with its KCV');
    t.same(combineComponents('tdes', parts.map((p) => p.value), kcv('tdes', tdesKey)), tdesKey, 'combined back');
    t.ok(parts.every((p) => !p.value.equals(tdesKey)), 'no component is the key');
  }
  const aesKey = generateKey('aes', 32);
  const parts = splitKey('aes', aesKey, 3);
  t.same(combineComponents('aes', parts.map((p) => p.value), kcv('aes', aesKey)), aesKey, 'AES key combined back');
  // A mistyped component: caught by the KCV before the key is used.
  const typo = Buffer.from(parts[1].value);
  typo[3] ^= 0x10;
  t.throws(() => combineComponents('aes', [parts[0].value, typo, parts[2].value], kcv('aes', aesKey)), KcvMismatchError);
  t.throws(() => combineComponents('aes', [parts[0].value]), RangeError, 'one component is not a split');
  t.throws(() => combineComponents('tdes', [hex('0123456789ABCDEFFEDCBA9876543210'), generateKey('tdes', 24)]), KeyError, 'lengths differ');
  // 3DES keys without odd parity come back parity-adjusted (the same DES key).
  const noParity = hex('0023456789ABCDEFFEDCBA9876543210');
  t.same(combineComponents('tdes', splitKey('tdes', noParity).map((p) => p.value)), withOddParity(noParity));
});

t.test('AES key wrap: RFC 3394 section 4 vectors', async (t) => {
  const kek = hex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
  const data = hex('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F');
  const cases: [string, number, number, string][] = [
    ['4.1 128-bit key data, 128-bit KEK', 16, 16, '1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5'],
    ['4.2 128-bit key data, 192-bit KEK', 24, 16, '96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D'],
    ['4.3 128-bit key data, 256-bit KEK', 32, 16, '64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7'],
    ['4.4 192-bit key data, 192-bit KEK', 24, 24, '031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2'],
    ['4.5 192-bit key data, 256-bit KEK', 32, 24, 'A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1'],
    ['4.6 256-bit key data, 256-bit KEK', 32, 32, '28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21'],
  ];
  for (const [name, kekLen, keyLen, wrapped] of cases) {
    const k = kek.subarray(0, kekLen);
    const key = data.subarray(0, keyLen);
    const w = wrapKey('aes', k, key);
    t.equal(HEX(w.wrapped), wrapped, `RFC 3394 ${name}`);
    t.same(unwrapKey('aes', k, hex(wrapped), w.kcv), key, `${name}: unwrapped`);
  }
});

t.test('unwrap refusals', async (t) => {
  const kek = generateKey('aes', 32);
  const key = generateKey('aes', 16);
  const w = wrapKey('aes', kek, key);
  const altered = Buffer.from(w.wrapped);
  altered[5] ^= 1;
  t.throws(() => unwrapKey('aes', kek, altered, w.kcv), UnwrapError, 'altered AES wrap fails the integrity check');
  t.throws(() => unwrapKey('aes', generateKey('aes', 32), w.wrapped, w.kcv), UnwrapError, 'another master key fails');
  t.throws(() => unwrapKey('aes', kek, w.wrapped, Buffer.alloc(5)), KcvMismatchError, 'wrong KCV');
  t.throws(() => unwrapKey('aes', kek, w.wrapped.subarray(0, 16), w.kcv), UnwrapError, 'short wrap');
  t.throws(() => wrapKey('aes', generateKey('aes', 16), generateKey('aes', 32)), KeyError, 'AES-128 never wraps AES-256');

  const tkek = generateKey('tdes', 16);
  const tkey = generateKey('tdes', 16);
  const tw = wrapKey('tdes', tkek, tkey);
  t.same(tw.kcv, kcv('tdes', tkey), 'KCV of the clear key');
  t.same(unwrapKey('tdes', tkek, tw.wrapped, tw.kcv), tkey, '3DES round trip');
  const talt = Buffer.from(tw.wrapped);
  talt[9] ^= 0x40;
  t.throws(() => unwrapKey('tdes', tkek, talt, tw.kcv), KcvMismatchError, 'altered 3DES wrap is caught by the KCV');
  t.throws(() => unwrapKey('tdes', generateKey('tdes'), tw.wrapped, tw.kcv), KcvMismatchError, 'another master key is caught by the KCV');
  t.throws(() => unwrapKey('tdes', tkek, tw.wrapped.subarray(0, 8), tw.kcv), UnwrapError, '8-byte wrap');
  t.throws(() => wrapKey('tdes', tkek, generateKey('tdes', 24)), KeyError, 'double-length never wraps triple-length');
  t.throws(() => wrapKey('tdes', generateKey('aes', 32), tkey), KeyError, 'an AES master key is not a 3DES one');
  try {
    unwrapKey('tdes', tkek, talt, tw.kcv);
  } catch (e) {
    const m = (e as Error).message.toUpperCase();
    for (const secret of [tkek, tkey, tw.wrapped, tw.kcv]) t.notOk(m.includes(HEX(secret)), 'no key material in the message');
  }
  fc.assert(
    fc.property(fc.constantFrom(16, 24, 32), fc.constantFrom(16, 24, 32), (kekLen, keyLen) => {
      if (keyLen > kekLen) return true;
      const k = generateKey('aes', kekLen);
      const v = generateKey('aes', keyLen);
      const r = wrapKey('aes', k, v);
      return unwrapKey('aes', k, r.wrapped, r.kcv).equals(v);
    }),
    { numRuns: 30 },
  );
  t.pass('AES wrap round trips over every key size');
});
