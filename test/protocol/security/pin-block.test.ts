// ISO 9564-1 PIN blocks, formats 0 and 4: published field encodings and enciphered blocks,
// every decode error by name, and round trips over random PINs and PANs.
import t, { type Test } from 'tap';
import fc from 'fast-check';
import {
  KeyError,
  PanMismatchError,
  PinBlockControlError,
  PinBlockError,
  PinBlockPanError,
  PinDigitError,
  PinFillError,
  PinLengthError,
  decipherPinBlock4,
  decodePinBlock0,
  decodePinField4,
  decryptPinBlock0,
  encipherPinBlock4,
  encodePinBlock0,
  encodePinField4,
  encryptEncodedPinBlock0,
  encryptPinBlock0,
  panField4,
} from '../../../protocol/security/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const HEX = (b: Buffer): string => b.toString('hex').toUpperCase();

/** Asserts that `fn` throws a PinBlockError with `reason` (and, for a PAN mismatch, `detail`). */
function throwsPin(t: Test, fn: () => unknown, reason: string, msg: string, detail?: string): void {
  try {
    fn();
    t.fail(`${msg}: did not throw`);
  } catch (e) {
    t.ok(e instanceof PinBlockError, `${msg}: a PinBlockError`);
    t.equal((e as PinBlockError).reason, reason, `${msg}: reason ${reason}`);
    if (detail !== undefined) t.equal((e as PanMismatchError).detail, detail, `${msg}: detail ${detail}`);
  }
}

t.test('format 0: published clear blocks', async (t) => {
  // psec (knovichikhin/psec), tests/test_pinblock.py: test_encode_pinblock_iso_0 / test_decode_pinblock_iso_0.
  const pan = '5555555551234567';
  const cases: [string, string][] = [
    ['1234', '041261AAAAEDCBA9'],
    ['123456789', '091261032D8DCBA9'],
    ['1234567890', '0A1261032D82CBA9'],
    ['123456789012', '0C1261032D8226A9'],
  ];
  for (const [pin, block] of cases) {
    t.equal(HEX(encodePinBlock0(pin, pan)), block, `encode ${pin.length}-digit PIN`);
    t.equal(decodePinBlock0(hex(block), pan), pin, `decode ${pin.length}-digit PIN`);
  }
});

t.test('format 0: named decode errors', async (t) => {
  const pan = '5555555551234567';
  // The malformed blocks of psec's test_decode_pinblock_iso_0_exception, with our names.
  t.throws(() => decodePinBlock0(hex('241261AAAAEDCBA9'), pan), PinBlockControlError, 'control nibble 2');
  throwsPin(t, () => decodePinBlock0(hex('041261AAAAEDCB'), pan), 'block-length', '7 bytes');
  t.throws(() => decodePinBlock0(hex('0F1261AAAAEDCBA9'), pan), PinLengthError, 'length 15');
  t.throws(() => decodePinBlock0(hex('021261AAAAEDCBA9'), pan), PinLengthError, 'length 2');
  // Fill and fifth digit lie under the PAN field: reported as a PAN mismatch, with the rule broken.
  t.throws(() => decodePinBlock0(hex('041261AAAAEDCBAA'), pan), PanMismatchError, 'bad fill under the PAN');
  throwsPin(t, () => decodePinBlock0(hex('041261AAAAEDCBAA'), pan), 'pan-mismatch', 'bad fill', 'fill');
  throwsPin(t, () => decodePinBlock0(hex('051261AAAAEDCBA9'), pan), 'pan-mismatch', 'fifth digit F', 'non-digit');
  // A non-digit where the PAN does not reach (PIN digits 1-2) is a digit error.
  t.throws(() => decodePinBlock0(hex('04A261AAAAEDCBA9'), pan), PinDigitError, 'first digit A');
  t.throws(() => decodePinBlock0(hex('041261AAAAEDCBA9'), '5555555A51234567'), PinBlockPanError, 'non-digit PAN');
  t.throws(() => decodePinBlock0(hex('041261AAAAEDCBA9'), '5555555'), PinBlockPanError, '7-digit PAN');
  // The right block, the wrong PAN (another card's): never the PIN.
  t.throws(() => decodePinBlock0(hex('041261AAAAEDCBA9'), '5555555551234577'), PanMismatchError, 'another card');
  try {
    decodePinBlock0(hex('041261AAAAEDCBAA'), pan);
  } catch (e) {
    t.notMatch((e as Error).message, /1234|5555555551234567|041261/, 'no PIN, PAN or block in the message');
  }
});

t.test('format 0: encode refuses bad PINs', async (t) => {
  t.throws(() => encodePinBlock0('123', '5555555551234567'), PinLengthError);
  t.throws(() => encodePinBlock0('1234567890123', '5555555551234567'), PinLengthError);
  t.throws(() => encodePinBlock0('123A', '5555555551234567'), PinDigitError);
  t.throws(() => encodePinBlock0('12 4', '5555555551234567'), PinDigitError);
  t.throws(() => encodePinBlock0('١٢٣٤', '5555555551234567'), PinDigitError, 'Arabic-Indic digits are not decimal digits here');
});

t.test('format 0 under 3DES', async (t) => {
  const key = hex('0123456789ABCDEFFEDCBA9876543210');
  const pan = '5555555551234567';
  const block = encryptPinBlock0(key, '1234', pan);
  t.equal(block.length, 8);
  t.not(HEX(block), '041261AAAAEDCBA9', 'enciphered');
  t.equal(decryptPinBlock0(key, block, pan), '1234');
  throwsPin(t, () => decryptPinBlock0(hex('0123456789ABCDEFFEDCBA9876543212'), block, pan), 'control', 'another key');
  t.throws(() => encryptPinBlock0(hex('0123456789ABCDEF'), '1234', pan), KeyError, 'single-length key refused');
  throwsPin(t, () => decryptPinBlock0(key, Buffer.alloc(16), pan), 'block-length', '16-byte format 0 block');
  t.same(encryptEncodedPinBlock0(key, encodePinBlock0('1234', pan)), block, 'a kept clear block enciphers to the same bytes');
  throwsPin(t, () => encryptEncodedPinBlock0(key, Buffer.alloc(16)), 'block-length', 'a clear block of 16 bytes');
});

t.test('format 4: published fields and blocks', async (t) => {
  // Leon Lynch, pinblock_format4_test.c (citing ANSI X9.24-3:2017 supplement test vectors,
  // "Calculation of AES PIN Block Format 4"): PIN and PAN fields.
  t.equal(HEX(encodePinField4('1234').subarray(0, 8)), '441234AAAAAAAAAA', 'PIN field, 4 digits');
  t.equal(HEX(panField4('4111111111111111')), '44111111111111111000000000000000', 'PAN field, 16 digits');
  t.equal(HEX(encodePinField4('12345').subarray(0, 8)), '4512345AAAAAAAAA', 'PIN field, 5 digits (hand-made)');
  t.equal(HEX(panField4('411111111111111')), '34111111111111110000000000000000', 'PAN field, 15 digits (hand-made)');
  t.equal(HEX(panField4('123456789')), '00001234567890000000000000000000', 'PAN field, 9 digits left-padded (hand-made)');
  t.notSame(encodePinField4('1234').subarray(8), encodePinField4('1234').subarray(8), 'the last 8 bytes are random');
  // psec (knovichikhin/psec), tests/test_pinblock.py test_encipher_pinblock_iso_4_det (also paysec's
  // test_encipher_pinblock_iso_4_valid): random fill of FF bytes.
  const key = hex('00112233445566778899AABBCCDDEEFF');
  const block = encipherPinBlock4(key, '1234', '1234567890123456789', Buffer.alloc(8, 0xff));
  t.equal(HEX(block), '28B41FDDD29B743E93124BD8E32D921E', 'enciphered block');
  t.equal(decipherPinBlock4(key, block, '1234567890123456789'), '1234', 'deciphered');
});

t.test('format 4: named decode errors', async (t) => {
  const f = (s: string): Buffer => Buffer.concat([hex(s), Buffer.alloc(8, 0x5a)]);
  t.equal(decodePinField4(f('441234AAAAAAAAAA')), '1234');
  t.throws(() => decodePinField4(f('041234AAAAAAAAAA')), PinBlockControlError);
  t.throws(() => decodePinField4(f('431234AAAAAAAAAA')), PinLengthError);
  t.throws(() => decodePinField4(f('4D1234AAAAAAAAAA')), PinLengthError);
  t.throws(() => decodePinField4(f('4412B4AAAAAAAAAA')), PinDigitError);
  t.throws(() => decodePinField4(f('441234AAAAAAAFAA')), PinFillError);
  t.throws(() => decodePinField4(f('441234FFFFFFFFFF')), PinFillError, 'format 0 fill is not format 4 fill');
  throwsPin(t, () => decodePinField4(hex('441234AAAAAAAAAA')), 'block-length', '8-byte format 4 field');
  const key = hex('00112233445566778899AABBCCDDEEFF');
  const block = encipherPinBlock4(key, '1234', '1234567890123456789');
  throwsPin(t, () => decipherPinBlock4(key, block.subarray(0, 8), '1234567890123456789'), 'block-length', '8-byte format 4 block');
  t.throws(() => encipherPinBlock4(hex('0011223344556677'), '1234', '1234567890123456789'), KeyError, '8-byte key refused');
  t.throws(() => encodePinField4('1234', Buffer.alloc(7)), RangeError);
});

const pinArb = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 4, maxLength: 12 });
const panArb = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 12, maxLength: 19 });

t.test('round trips', async (t) => {
  const tdes = hex('0123456789ABCDEFFEDCBA9876543210');
  const aes = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
  fc.assert(
    fc.property(pinArb, panArb, (pin, pan) => {
      return decryptPinBlock0(tdes, encryptPinBlock0(tdes, pin, pan), pan) === pin
        && decipherPinBlock4(aes, encipherPinBlock4(aes, pin, pan), pan) === pin;
    }),
    { numRuns: 300 },
  );
  t.pass('300 PIN/PAN pairs, both formats');
  // A block built for one PAN, decoded with another: format 4 never gives the PIN; format 0
  // fails unless the two PANs agree on the 12 digits its PAN field covers.
  fc.assert(
    fc.property(pinArb, panArb, panArb, (pin, pan, other) => {
      if (other === pan) return true;
      const block = encipherPinBlock4(aes, pin, pan);
      try {
        // Random bytes pass the structure checks about once in a million: then the digits are
        // random too, and what must never happen is the real PIN coming out.
        return decipherPinBlock4(aes, block, other) !== pin;
      } catch (e) {
        return e instanceof PinBlockError;
      }
    }),
    { numRuns: 200 },
  );
  t.pass('format 4 under another PAN fails with a PinBlockError');
  fc.assert(
    fc.property(pinArb, panArb, panArb, (pin, pan, other) => {
      const covered = (p: string): string => p.slice(0, -1).slice(-12).padStart(12, '0');
      const block = encodePinBlock0(pin, pan);
      // Where the PANs differ under a PIN digit, the XOR can give another valid digit: format 0
      // then yields a wrong PIN, never the real one (which is why the PIN check still refuses it).
      const same = covered(other) === covered(pan);
      try {
        const got = decodePinBlock0(block, other);
        return same ? got === pin : got !== pin;
      } catch (e) {
        return e instanceof PinBlockError && !same;
      }
    }),
    { numRuns: 300 },
  );
  t.pass('format 0 under another PAN gives the PIN only if the PAN digits it covers agree');
  // The case the random runs above found: PANs that differ only under the PIN's digits.
  const pan = '4000001234567899';
  const other = '4001001234567899';
  t.not(decodePinBlock0(encodePinBlock0('1234', pan), other), '1234', 'a PAN differing under a PIN digit: never the real PIN');
});

t.test('hostile blocks: a PIN of 4-12 digits or a PinBlockError, nothing else', async (t) => {
  const tdes = hex('0123456789ABCDEFFEDCBA9876543210');
  const aes = hex('00112233445566778899AABBCCDDEEFF');
  const outcome = (fn: () => string): boolean => {
    try {
      return /^[0-9]{4,12}$/.test(fn());
    } catch (e) {
      return e instanceof PinBlockError;
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 24 }), panArb, (bytes, pan) => {
      const b = Buffer.from(bytes);
      return outcome(() => decodePinBlock0(b, pan))
        && outcome(() => decryptPinBlock0(tdes, b, pan))
        && outcome(() => decodePinField4(b))
        && outcome(() => decipherPinBlock4(aes, b, pan));
    }),
    { numRuns: 500 },
  );
  t.pass('500 random byte strings of 0 to 24 bytes');
});
