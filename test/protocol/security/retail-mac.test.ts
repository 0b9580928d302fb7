// ISO/IEC 9797-1 MAC algorithm 3 (retail MAC): published vectors for both padding methods,
// the padding rules themselves, and verification that refuses every altered bit.
import t from 'tap';
import fc from 'fast-check';
import { KeyError, MacParameterError, pad9797, retailMac, verifyRetailMac } from '../../../protocol/security/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('published vectors', async (t) => {
  // BouncyCastle, core/src/test/java/org/bouncycastle/crypto/test/ISO9797Alg3MacTest.java:
  // ISO9797Alg3Mac(DESEngine) without padding over 16 bytes, i.e. padding method 1 of data
  // whose length is a multiple of 8 (no byte is added).
  t.equal(
    retailMac(hex('7CA110454A1A6E570131D9619DC1376E'), Buffer.from('Hello World !!!!', 'latin1')).toString('hex').toUpperCase(),
    'F09B856213BAB83B',
    'BouncyCastle ISO9797Alg3MacTest, method 1',
  );
  // ICAO Doc 9303 Part 11, Appendix D.3 (Basic Access Control worked example): MAC algorithm 3
  // with padding method 2 over E_IFD under K_MAC gives M_IFD.
  t.equal(
    retailMac(
      hex('7962D9ECE03D1ACD4C76089DCE131543'),
      hex('72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2'),
      { padding: 2 },
    ).toString('hex').toUpperCase(),
    '5F1448EEA8AD90A7',
    'ICAO 9303-11 D.3 M_IFD, method 2',
  );
  // ICAO Doc 9303 Part 11, Appendix D.4 (secure messaging, SELECT EF.COM): the checksum CC
  // over N, which the example pads itself by method 2 (so no padding is added here:
  // method 1 over a multiple of 8).
  t.equal(
    retailMac(
      hex('F1CB1F1FB5ADF208806B89DC579DC1F8'),
      hex('887022120C06C227 0CA4020C80000000 8709016375432908 C044F68000000000'),
    ).toString('hex').toUpperCase(),
    'BF8B92D635FF24F8',
    'ICAO 9303-11 D.4 CC, already padded',
  );
});

t.test('padding method 1 and 2', async (t) => {
  t.same(pad9797(hex('0102'), 8, 1), hex('0102000000000000'), 'method 1: zeros to the block');
  t.same(pad9797(hex('0102030405060708'), 8, 1), hex('0102030405060708'), 'method 1: a full block gets nothing');
  t.same(pad9797(Buffer.alloc(0), 8, 1), Buffer.alloc(8), 'method 1: empty data is one zero block');
  t.same(pad9797(hex('0102'), 8, 2), hex('0102800000000000'), 'method 2: 80 then zeros');
  t.same(pad9797(hex('0102030405060708'), 8, 2), hex('01020304050607088000000000000000'), 'method 2: a full block gets a whole block');
  t.throws(() => pad9797(hex('01'), 8, 3 as 1), MacParameterError);

  const key = hex('0123456789ABCDEFFEDCBA9876543210');
  const data = Buffer.from('0200 cynod', 'latin1');
  t.same(retailMac(key, data), retailMac(key, Buffer.concat([data, Buffer.alloc(6)])), 'method 1 equals MAC of the zero-padded data');
  t.notSame(retailMac(key, data), retailMac(key, data, { padding: 2 }), 'the two methods differ');
  // Single-length chaining then output transformation 3: the last step is E_K1(D_K2(.)), so a
  // key with K2 changed must change the MAC even for one block.
  t.notSame(retailMac(key, data), retailMac(hex('0123456789ABCDEFFEDCBA9876543212'), data), 'K2 matters');
  // DES ignores the low bit of each key byte (parity): a key differing only there is the same key.
  t.same(retailMac(key, data), retailMac(hex('0123456789ABCDEFFEDCBA9876543211'), data), 'parity bits are ignored');
});

t.test('key checks', async (t) => {
  t.throws(() => retailMac(Buffer.alloc(8, 1), hex('00')), KeyError, 'single-length key refused');
  t.throws(() => retailMac(Buffer.alloc(24, 1), hex('00')), KeyError, 'triple-length key refused');
  t.throws(() => retailMac(hex('0123456789ABCDEF0123456789ABCDEF'), hex('00')), KeyError, 'equal halves refused');
  try {
    retailMac(hex('0123456789ABCDEF0123456789ABCDEF'), hex('00'));
  } catch (e) {
    t.notMatch((e as Error).message, /0123456789ABCDEF/i, 'the error does not show the key');
  }
});

t.test('verify', async (t) => {
  const key = hex('7CA110454A1A6E570131D9619DC1376E');
  const data = Buffer.from('Hello World !!!!', 'latin1');
  const mac = hex('F09B856213BAB83B');
  t.ok(verifyRetailMac(key, data, mac), 'full MAC');
  t.ok(verifyRetailMac(key, data, mac.subarray(0, 4)), 'leftmost 4 bytes');
  t.notOk(verifyRetailMac(key, data, mac.subarray(4)), 'rightmost 4 bytes are not a truncation');
  t.notOk(verifyRetailMac(key, data, Buffer.alloc(0)), 'empty MAC');
  t.notOk(verifyRetailMac(key, data, mac.subarray(0, 3)), 'under 4 bytes');
  t.notOk(verifyRetailMac(key, data, Buffer.concat([mac, hex('00')])), 'over 8 bytes');
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.nat(), (bytes, pick) => {
      const m = retailMac(key, bytes);
      if (!verifyRetailMac(key, bytes, m)) return false;
      const bad = Buffer.from(m);
      bad[pick % 8] ^= 1 << (pick % 7);
      if (verifyRetailMac(key, bytes, bad)) return false;
      if (bytes.length === 0) return true;
      const altered = Buffer.from(bytes);
      altered[pick % bytes.length] ^= 0x01;
      return !verifyRetailMac(key, altered, m);
    }),
    { numRuns: 200 },
  );
  t.pass('every flipped bit of MAC or data is refused');
});
