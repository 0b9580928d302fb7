// Cipher contexts are kept per key and reused (block.ts): any sequence of MACs, PIN blocks and
// key wraps, over a few keys and any lengths, interleaved, gives what fresh contexts give, call
// by call. The expected value of each call is computed with every kept context dropped first.
import t from 'tap';
import fc from 'fast-check';
import { dropCipherContexts } from '../../../protocol/security/block.js';
import { aesCmac, decipherPinBlock4, decryptPinBlock0, encipherPinBlock4, encryptPinBlock0, retailMac, wrapKey } from '../../../protocol/security/index.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

type Op = { kind: 'retail' | 'cmac' | 'pin0' | 'pin4' | 'wrap'; key: number; data: Uint8Array; pin: string };

const op = fc.record({
  kind: fc.constantFrom('retail', 'cmac', 'pin0', 'pin4', 'wrap') as fc.Arbitrary<Op['kind']>,
  key: fc.nat(2),
  data: fc.uint8Array({ minLength: 0, maxLength: 200 }),
  pin: fc.stringMatching(/^[0-9]{4,12}$/),
});

t.test('kept contexts give what fresh ones give, over any interleaving', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 3, maxLength: 3 }), fc.array(op, { minLength: 1, maxLength: 40 }), (keysRaw, ops) => {
      // distinct halves: the retail MAC refuses a key whose halves are equal
      const keys = keysRaw.map((k, i) => Buffer.from(k.map((b, j) => (j < 8 ? b : b ^ (0x11 + i)))));
      const pan = '6280001234567890';
      const call = (o: Op): string => {
        const key = keys[o.key];
        switch (o.kind) {
          case 'retail':
            return hex(retailMac(key, o.data));
          case 'cmac':
            return hex(aesCmac(key, o.data));
          case 'pin0': {
            const block = encryptPinBlock0(key, o.pin, pan);
            return `${hex(block)}:${decryptPinBlock0(key, block, pan)}`;
          }
          case 'pin4': {
            const block = encipherPinBlock4(key, o.pin, pan, Buffer.alloc(8, 0xa5));
            return `${hex(block)}:${decipherPinBlock4(key, block, pan)}`;
          }
          case 'wrap':
            return hex(wrapKey('aes', key, keys[(o.key + 1) % 3]).wrapped);
        }
      };
      const expected = ops.map((o) => {
        dropCipherContexts();
        return call(o);
      });
      dropCipherContexts();
      const got = ops.map(call);
      return got.every((g, i) => g === expected[i]);
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} sequences`);
});

t.test('a failing call leaves the next ones right', async (t) => {
  const key = Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex');
  const before = hex(retailMac(key, Buffer.from('a message')));
  t.throws(() => decryptPinBlock0(key, Buffer.alloc(7), '6280001234567890'), 'a 7-byte block is refused');
  t.throws(() => retailMac(Buffer.alloc(16), Buffer.from('x')), 'a key with equal halves is refused');
  t.equal(hex(retailMac(key, Buffer.from('a message'))), before);
});
