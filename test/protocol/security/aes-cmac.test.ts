// AES-CMAC: every example of RFC 4493 (AES-128, with its subkeys) and of NIST SP 800-38B's
// examples for AES-192 and AES-256 (the same four messages), plus truncated verification.
import t from 'tap';
import fc from 'fast-check';
import { KeyError, MacParameterError, aesCmac, aesCmacTruncated, cmacSubkeys, verifyAesCmac } from '../../../protocol/security/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// The four messages shared by RFC 4493 section 4 and SP 800-38B appendix D: 0, 16, 40, 64 bytes.
const M64 = hex(`6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`);
const MESSAGES = [0, 16, 40, 64].map((n) => M64.subarray(0, n));

const CASES: { source: string; key: string; macs: string[] }[] = [
  {
    source: 'RFC 4493 section 4, examples 1-4 (AES-128)',
    key: '2b7e151628aed2a6abf7158809cf4f3c',
    macs: ['bb1d6929e95937287fa37d129b756746', '070a16b46b4d4144f79bdd9dd04a287c', 'dfa66747de9ae63030ca32611497c827', '51f0bebf7e3b9d92fc49741779363cfe'],
  },
  {
    source: 'NIST SP 800-38B appendix D.2 (AES-192)',
    key: '8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b',
    macs: ['d17ddf46adaacde531cac483de7a9367', '9e99a7bf31e710900662f65e617c5184', '8a1de5be2eb31aad089a82e6ee908b0e', 'a1d5df0eed790f794d77589659f39a11'],
  },
  {
    source: 'NIST SP 800-38B appendix D.3 (AES-256)',
    key: '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4',
    macs: ['028962f61b7bf89efc6b551f4667d983', '28a7023f452e8f82bd4bf28d8c37c35c', 'aaf3d8f1de5640c232f5b169b9c911e6', 'e1992190549f6ed5696a2c056c315410'],
  },
];

t.test('published vectors', async (t) => {
  for (const c of CASES) {
    c.macs.forEach((mac, i) => {
      t.equal(aesCmac(hex(c.key), MESSAGES[i]).toString('hex'), mac, `${c.source}: ${MESSAGES[i].length}-byte message`);
      t.ok(verifyAesCmac(hex(c.key), MESSAGES[i], hex(mac)), `${c.source}: verifies`);
    });
  }
  // RFC 4493 section 4, subkey generation.
  const [k1, k2] = cmacSubkeys(hex('2b7e151628aed2a6abf7158809cf4f3c'));
  t.equal(k1.toString('hex'), 'fbeed618357133667c85e08f7236a8de', 'RFC 4493 K1');
  t.equal(k2.toString('hex'), 'f7ddac306ae266ccf90bc11ee46d513b', 'RFC 4493 K2');
});

t.test('truncation', async (t) => {
  const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
  const full = hex('dfa66747de9ae63030ca32611497c827');
  t.same(aesCmacTruncated(key, MESSAGES[2], 8), full.subarray(0, 8), '8 bytes for DE64');
  t.ok(verifyAesCmac(key, MESSAGES[2], full.subarray(0, 8)), 'leftmost 8 bytes verify');
  t.notOk(verifyAesCmac(key, MESSAGES[2], full.subarray(8)), 'rightmost 8 bytes do not');
  t.notOk(verifyAesCmac(key, MESSAGES[2], full.subarray(0, 4)), 'under 8 bytes is refused');
  t.notOk(verifyAesCmac(key, MESSAGES[2], Buffer.alloc(0)), 'empty MAC is refused');
  t.notOk(verifyAesCmac(key, MESSAGES[2], Buffer.concat([full, hex('00')])), 'over 16 bytes is refused');
  t.throws(() => aesCmacTruncated(key, MESSAGES[2], 4), MacParameterError);
  t.throws(() => aesCmacTruncated(key, MESSAGES[2], 17), MacParameterError);
  t.throws(() => aesCmac(Buffer.alloc(15), MESSAGES[1]), KeyError, 'a 15-byte key is refused');
  t.throws(() => aesCmac(Buffer.alloc(20), MESSAGES[1]), KeyError, 'a 20-byte key is refused');
});

t.test('any altered bit is refused', async (t) => {
  const key = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 70 }), fc.nat(), (bytes, pick) => {
      const mac = aesCmacTruncated(key, bytes, 8);
      if (!verifyAesCmac(key, bytes, mac)) return false;
      const bad = Buffer.from(mac);
      bad[pick % 8] ^= 1 << (pick % 8);
      if (verifyAesCmac(key, bytes, bad)) return false;
      // Appending a zero byte changes the padding (no ambiguity as with zero padding).
      if (verifyAesCmac(key, Buffer.concat([bytes, Buffer.alloc(1)]), mac)) return false;
      if (bytes.length === 0) return true;
      const altered = Buffer.from(bytes);
      altered[pick % bytes.length] ^= 0x80;
      return !verifyAesCmac(key, altered, mac);
    }),
    { numRuns: 200 },
  );
  t.pass('200 random messages');
});
