// The MAC of a packed message, with messages built by our codec: DE64 for a primary bitmap,
// DE128 for a secondary one, binary and hex wires; every byte before the MAC is covered, and a
// missing, misplaced or wrong MAC is told apart.
import t from 'tap';
import fc from 'fast-check';
import { Codec, ISO87_ELEMENTS, ascii87, binary87, buildSpec, type IsoFields, type MessageSpec } from '../../../protocol/index.js';
import {
  MacParameterError,
  type MessageMacAlgorithm,
  locateMac,
  messageMac,
  retailMac,
  aesCmac,
  signPackedMessage,
  verifyPackedMessage,
} from '../../../protocol/security/index.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const KEYS: Record<MessageMacAlgorithm, Buffer> = {
  'retail-mac': hex('0123456789ABCDEFFEDCBA9876543210'),
  'aes-cmac': hex('2b7e151628aed2a6abf7158809cf4f3c'),
};

const hexWire = buildSpec('hex87', ISO87_ELEMENTS, {
  mti: 'ascii',
  bitmap: { encoding: 'hex', secondary: 'auto' },
  prefix: 'ascii',
  numeric: 'ascii',
  text: 'ascii',
  binary: 'hex',
});

const SPECS: MessageSpec[] = [ascii87, binary87, hexWire];

function sale(extra: IsoFields = {}): IsoFields {
  return {
    2: '7083560000000012',
    3: '000000',
    4: '000000004500',
    11: '000123',
    22: '021',
    41: 'TPE00001',
    42: 'STATION-0000042',
    49: '952',
    ...extra,
  };
}

t.test('DE64 and DE128, every wire, both algorithms', async (t) => {
  for (const spec of SPECS) {
    const codec = new Codec(spec);
    for (const algorithm of ['retail-mac', 'aes-cmac'] as const) {
      const key = KEYS[algorithm];
      for (const [what, fields, field] of [
        ['primary bitmap', sale({ 64: Buffer.alloc(8) }), 64],
        ['secondary bitmap', sale({ 100: '12345678901', 128: Buffer.alloc(8) }), 128],
      ] as const) {
        const name = `${spec.name} ${algorithm} ${what}`;
        const packed = codec.encode({ mti: '0200', fields });
        const place = locateMac(spec, packed);
        t.ok(typeof place === 'object' && place.field === field, `${name}: MAC in DE${field}`);
        const signed = signPackedMessage(spec, packed, algorithm, key);
        t.equal(signed.length, packed.length, `${name}: same length`);
        const msg = codec.decode(signed);
        const start = (place as { start: number }).start;
        // The MAC is that of the bytes before the MAC field, computed directly.
        const direct = algorithm === 'retail-mac' ? retailMac(key, signed.subarray(0, start)) : aesCmac(key, signed.subarray(0, start)).subarray(0, 8);
        t.same(Buffer.from(msg.fields[field] as Uint8Array), direct, `${name}: DE${field} is the MAC of the bytes before it`);
        t.same(signed.subarray(0, start), packed.subarray(0, start), `${name}: nothing else changed`);
        t.equal(verifyPackedMessage(spec, signed, algorithm, key), 'ok', `${name}: verifies`);
        t.equal(verifyPackedMessage(spec, packed, algorithm, key), 'wrong', `${name}: the placeholder is wrong`);
        // Re-encoding the decoded message gives the same bytes: what a terminal builds is what we check.
        t.same(codec.encode(msg), signed, `${name}: codec round trip`);
      }
    }
  }
});

t.test('every byte before the MAC is covered', async (t) => {
  const codec = new Codec(ascii87);
  for (const algorithm of ['retail-mac', 'aes-cmac'] as const) {
    const key = KEYS[algorithm];
    const signed = signPackedMessage(ascii87, codec.encode({ mti: '0200', fields: sale({ 64: Buffer.alloc(8) }) }), algorithm, key);
    let refused = 0;
    for (let i = 0; i < signed.length; i++) {
      const altered = Buffer.from(signed);
      altered[i] ^= 0x01;
      if (verifyPackedMessage(ascii87, altered, algorithm, key) !== 'ok') refused++;
    }
    t.equal(refused, signed.length, `${algorithm}: each of ${signed.length} flipped bytes is refused`);
    const other = Buffer.from(KEYS[algorithm]);
    other[3] ^= 0x10;
    t.equal(verifyPackedMessage(ascii87, signed, algorithm, other), 'wrong', `${algorithm}: another key`);
  }
  // The amount of a MACed purchase changed in flight: wrong.
  const signed = signPackedMessage(ascii87, codec.encode({ mti: '0200', fields: sale({ 64: Buffer.alloc(8) }) }), 'retail-mac', KEYS['retail-mac']);
  const msg = codec.decode(signed);
  const tampered = codec.encode({ mti: msg.mti, fields: { ...msg.fields, 4: '000000450000' } });
  t.equal(verifyPackedMessage(ascii87, tampered, 'retail-mac', KEYS['retail-mac']), 'wrong', 'amount changed');
  t.equal(verifyPackedMessage(ascii87, codec.encode({ mti: '0220', fields: msg.fields }), 'retail-mac', KEYS['retail-mac']), 'wrong', 'MTI changed');
});

t.test('missing, misplaced, malformed', async (t) => {
  const codec = new Codec(ascii87);
  const key = KEYS['retail-mac'];
  t.equal(verifyPackedMessage(ascii87, codec.encode({ mti: '0200', fields: sale() }), 'retail-mac', key), 'missing', 'no DE64');
  t.equal(verifyPackedMessage(ascii87, codec.encode({ mti: '0200', fields: sale({ 100: '1234' }) }), 'retail-mac', key), 'missing', 'secondary bitmap, no DE128');
  const both = codec.encode({ mti: '0200', fields: sale({ 64: Buffer.alloc(8), 100: '1234', 128: Buffer.alloc(8) }) });
  t.equal(verifyPackedMessage(ascii87, both, 'retail-mac', key), 'misplaced', 'DE64 beside a secondary bitmap');
  t.throws(() => signPackedMessage(ascii87, both, 'retail-mac', key), MacParameterError, 'not signed either');
  t.equal(verifyPackedMessage(ascii87, codec.encode({ mti: '0200', fields: sale({ 100: '1234', 64: Buffer.alloc(8) }) }), 'retail-mac', key), 'misplaced', 'DE64 with a secondary bitmap and no DE128');
  t.equal(verifyPackedMessage(ascii87, Buffer.from('0200'), 'retail-mac', key), 'malformed', 'no bitmap');
  t.equal(verifyPackedMessage(ascii87, Buffer.concat([Buffer.from('0200'), hex('0000000000000001')]), 'retail-mac', key), 'malformed', 'DE64 bit set, no room for it');
  t.equal(verifyPackedMessage(hexWire, Buffer.from('0200ZZ00000000000001'), 'retail-mac', key), 'malformed', 'hex bitmap that is not hex');
  t.throws(() => signPackedMessage(ascii87, codec.encode({ mti: '0200', fields: sale() }), 'retail-mac', key), MacParameterError, 'nothing to sign');
  t.throws(() => messageMac('hmac' as MessageMacAlgorithm, key, Buffer.alloc(8)), MacParameterError);
  // A hex MAC field holding non-hex characters is wrong, not an exception.
  const hcodec = new Codec(hexWire);
  const hsigned = signPackedMessage(hexWire, hcodec.encode({ mti: '0200', fields: sale({ 64: Buffer.alloc(8) }) }), 'aes-cmac', KEYS['aes-cmac']);
  const hbad = Buffer.from(hsigned);
  hbad[hbad.length - 1] = 0x5a;
  t.equal(verifyPackedMessage(hexWire, hbad, 'aes-cmac', KEYS['aes-cmac']), 'wrong', 'non-hex MAC digits');
  const lower = Buffer.from(hsigned.toString('latin1').slice(0, -16) + hsigned.toString('latin1').slice(-16).toLowerCase(), 'latin1');
  t.equal(verifyPackedMessage(hexWire, lower, 'aes-cmac', KEYS['aes-cmac']), 'ok', 'lower-case hex digits are the same MAC');
});

t.test('random messages round trip', async (t) => {
  const codec = new Codec(binary87);
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 12, maxLength: 12 }),
      fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 6, maxLength: 6 }),
      fc.boolean(),
      fc.constantFrom<MessageMacAlgorithm>('retail-mac', 'aes-cmac'),
      (amount, stan, secondary, algorithm) => {
        const fields = sale(secondary ? { 4: amount, 11: stan, 102: 'ACCT 1', 128: Buffer.alloc(8) } : { 4: amount, 11: stan, 64: Buffer.alloc(8) });
        const signed = signPackedMessage(binary87, codec.encode({ mti: '0200', fields }), algorithm, KEYS[algorithm]);
        return verifyPackedMessage(binary87, signed, algorithm, KEYS[algorithm]) === 'ok';
      },
    ),
    { numRuns: 100 },
  );
  t.pass('100 random binary87 messages');
});

t.test('hostile bytes get a verdict, never an exception', async (t) => {
  const verdicts = new Set(['ok', 'missing', 'misplaced', 'wrong', 'malformed']);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), fc.constantFrom(...SPECS), fc.constantFrom<MessageMacAlgorithm>('retail-mac', 'aes-cmac'), (bytes, spec, algorithm) => {
      const v = verifyPackedMessage(spec, bytes, algorithm, KEYS[algorithm]);
      return verdicts.has(v) && v !== 'ok';
    }),
    { numRuns: 500 },
  );
  t.pass('500 random byte strings');
});
