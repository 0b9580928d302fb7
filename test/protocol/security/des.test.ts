// Single DES in TypeScript (protocol/security/des.ts) against the standard and against
// OpenSSL: the S-boxes as the standard prints them (each row a permutation of 0..15), its
// worked example, random keys and blocks enciphered and deciphered as OpenSSL does, and the
// retail MAC built on it equal to the same MAC computed with OpenSSL's 3DES.
// 3DES (protocol/security/block.ts), built on the same rounds, against OpenSSL on random keys.
import t from 'tap';
import fc from 'fast-check';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { DES_S_BOXES, desEcbBlocks, desInverse, desSchedule } from '../../../protocol/security/des.js';
import { retailMac } from '../../../protocol/security/index.js';
import { tdesEcb } from '../../../protocol/security/block.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** DES-ECB by OpenSSL: two-key 3DES with equal halves is single DES (EDE collapses to E). */
function openssl(key: Uint8Array, data: Uint8Array, decrypt = false): Buffer {
  const k = Buffer.concat([key, key]);
  const c = decrypt ? createDecipheriv('des-ede-ecb', k, null) : createCipheriv('des-ede-ecb', k, null);
  c.setAutoPadding(false);
  return c.update(data);
}

t.test('the S-boxes: four rows of 16 per box, each a permutation of 0..15', async (t) => {
  t.equal(DES_S_BOXES.length, 8);
  for (const [i, box] of DES_S_BOXES.entries()) {
    t.equal(box.length, 64, `S${i + 1} has 64 entries`);
    for (let r = 0; r < 4; r++) t.same([...box.slice(r * 16, r * 16 + 16)].sort((a, b) => a - b), [...Array(16).keys()], `S${i + 1} row ${r}`);
  }
});

t.test('known answers', async (t) => {
  // the worked example of J. Orlin Grabbe's "The DES Algorithm Illustrated"
  t.equal(desEcbBlocks(desSchedule(hex('133457799BBCDFF1')), hex('0123456789ABCDEF')).toString('hex'), '85e813540f0ab405');
  // NBS SP 500-20 variable-plaintext test: key 0101..01, plaintext 80 00..00
  t.equal(desEcbBlocks(desSchedule(hex('0101010101010101')), hex('8000000000000000')).toString('hex'), '95f8a5e5dd31d900');
  t.throws(() => desSchedule(hex('01020304')), RangeError, 'a key is 8 bytes');
  t.throws(() => desEcbBlocks(desSchedule(hex('0101010101010101')), hex('01')), RangeError, 'whole blocks only');
});

t.test('enciphers and deciphers as OpenSSL does, any key and blocks', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.integer({ min: 1, max: 6 }).chain((n) => fc.uint8Array({ minLength: 8 * n, maxLength: 8 * n })), (key, data) => {
      const s = desSchedule(key);
      const c = desEcbBlocks(s, data);
      return c.equals(openssl(key, data)) && desEcbBlocks(desInverse(s), c).equals(Buffer.from(data)) && openssl(key, c, true).equals(Buffer.from(data));
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} keys`);
});

t.test('the retail MAC equals single-DES CBC and 3DES on the last block, by OpenSSL', async (t) => {
  const reference = (key: Buffer, data: Uint8Array, method: 1 | 2): Buffer => {
    const len = method === 2 ? (Math.floor(data.length / 8) + 1) * 8 : data.length === 0 ? 8 : Math.ceil(data.length / 8) * 8;
    const padded = Buffer.alloc(len);
    padded.set(data);
    if (method === 2) padded[data.length] = 0x80;
    const k1 = key.subarray(0, 8);
    const cbc = createCipheriv('des-ede-cbc', Buffer.concat([k1, k1]), Buffer.alloc(8));
    cbc.setAutoPadding(false);
    const chained = cbc.update(padded);
    // the chaining value before the last block, xored into it, then 3DES-EDE under K1 || K2
    const before = chained.length > 8 ? chained.subarray(chained.length - 16, chained.length - 8) : Buffer.alloc(8);
    const last = Buffer.from(padded.subarray(padded.length - 8));
    for (let i = 0; i < 8; i++) last[i] ^= before[i];
    const ede = createCipheriv('des-ede-ecb', key, null);
    ede.setAutoPadding(false);
    return ede.update(last);
  };
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.constantFrom(1 as const, 2 as const), (raw, data, method) => {
      const key = Buffer.from(raw.map((b, j) => (j < 8 ? b : b ^ 0x5a)));
      return retailMac(key, data, { padding: method }).equals(reference(key, data, method));
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} messages`);
});

t.test('3DES (double and triple length) enciphers and deciphers as OpenSSL does, any key and blocks', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(16, 24), fc.uint8Array({ minLength: 24, maxLength: 24 }), fc.integer({ min: 0, max: 12 }), fc.infiniteStream(fc.integer({ min: 0, max: 255 })), (length, raw, blocks, bytes) => {
      const key = Buffer.from(raw.subarray(0, length));
      const it = bytes[Symbol.iterator]();
      const data = Buffer.from(Array.from({ length: blocks * 8 }, () => it.next().value as number));
      const byOpenssl = (decrypt: boolean, input: Buffer): Buffer => {
        const algorithm = length === 16 ? 'des-ede-ecb' : 'des-ede3-ecb';
        const c = decrypt ? createDecipheriv(algorithm, key, null) : createCipheriv(algorithm, key, null);
        c.setAutoPadding(false);
        return c.update(input);
      };
      const enciphered = tdesEcb(key, data);
      return enciphered.equals(byOpenssl(false, data)) && tdesEcb(key, enciphered, true).equals(data) && tdesEcb(key, data, true).equals(byOpenssl(true, data));
    }),
    { numRuns: RUNS },
  );
  t.throws(() => tdesEcb(Buffer.alloc(8), Buffer.alloc(8)), /16 or 24 bytes/, 'a single-length key is refused');
  t.throws(() => tdesEcb(Buffer.alloc(16), Buffer.alloc(7)), /multiple of 8/, 'a partial block is refused');
  t.pass(`${RUNS} keys`);
});
