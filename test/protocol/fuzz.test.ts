// Property tests over random and mutated input: the decoder, the framer and the DE48
// parser either succeed or throw their own typed errors (never TypeError, RangeError or
// a hang); the encoder either succeeds or throws EncodeError, and what it encodes decodes.
import t from 'tap';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Codec,
  DecodeError,
  EncodeError,
  FrameError,
  Framer,
  ascii87,
  binary87,
  buildDe48,
  buildSpec,
  ISO87_ELEMENTS,
  parseBerTlv,
  parseDe48,
  parseDe54,
  parseDe90,
  specFromGenericPackager,
  type FramingOptions,
  type IsoMessage,
  type MessageSpec,
} from '../../protocol/index.js';
import { VECTORS } from '../helpers/paths.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 20000);

const specs: MessageSpec[] = [
  ascii87,
  binary87,
  buildSpec('ascii87-hex-tertiary', ISO87_ELEMENTS, {
    mti: 'ascii',
    bitmap: { encoding: 'hex', secondary: 'auto', tertiary: true },
    prefix: 'ascii',
    numeric: 'ascii',
    text: 'ascii',
    binary: 'hex',
  }),
  specFromGenericPackager(readFileSync(join(VECTORS, 'jpos', 'iso87ascii.xml'), 'utf8')),
  specFromGenericPackager(readFileSync(join(VECTORS, 'jpos', 'iso93binary.xml'), 'utf8')),
];
const codecs = specs.map((s) => new Codec(s));

const purchase: IsoMessage = {
  mti: '0200',
  fields: {
    2: '6280001234567890123',
    3: '000000',
    4: '000000015000',
    7: '1127101500',
    11: '000042',
    12: '101500',
    13: '1127',
    14: '2812',
    22: '021',
    25: '00',
    35: '6280001234567890123=28121010000',
    41: 'TPE00001',
    42: 'PS_SENOSOFT    ',
    48: 'SV004FUELPR003001QT00525000',
    49: '952',
    52: Buffer.from('0123456789abcdef', 'hex'),
    90: '0200000041112710140000000000000000000000000',
  },
};
purchase.fields[90] = (purchase.fields[90] as string).slice(0, 42);

/** Runs fn; returns the name of what it threw that it should not have. */
function unexpected(fn: () => unknown, allowed: new (...a: never[]) => Error): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof allowed ? undefined : `${(e as Error)?.name}: ${(e as Error)?.message}`;
  }
}

t.test('random bytes: decode returns a message or throws DecodeError', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: codecs.length - 1 }), fc.uint8Array({ minLength: 0, maxLength: 600 }), (i, bytes) => {
      const bad = unexpected(() => codecs[i].decode(bytes), DecodeError);
      if (bad) throw new Error(`${specs[i].name}: ${bad}`);
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} random inputs over ${specs.length} specs`);
});

t.test('mutated valid messages: decode returns a message or throws DecodeError', async (t) => {
  const valid = codecs.slice(0, 2).map((c) => c.encode(purchase));
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), value: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), value: fc.nat() }),
  );
  let decoded = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, muts) => {
      let b = Buffer.from(valid[i]);
      for (const m of muts) {
        const at = b.length === 0 ? 0 : m.at % b.length;
        if (m.kind === 'flip' && b.length) b[at] = m.value;
        else if (m.kind === 'cut') b = b.subarray(0, at);
        else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)]);
        else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
      }
      try {
        codecs[i].decode(b);
        decoded++;
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        if (typeof e.offset !== 'number' || e.offset < 0 || e.offset > b.length) throw new Error(`offset ${e.offset} outside the input`);
      }
    }),
    { numRuns: RUNS },
  );
  t.ok(decoded > 0, `${decoded} of ${RUNS} mutants still decoded, the rest were DecodeErrors`);
});

t.test('random streams: the framer returns frames or throws FrameError, never buffering past its maximum', async (t) => {
  const options = fc.record({
    header: fc.constantFrom('binary2' as const, 'bcd2' as const, 'ascii4' as const),
    tpdu: fc.boolean(),
    maxFrame: fc.integer({ min: 1, max: 5000 }),
  });
  fc.assert(
    fc.property(options, fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (opts: FramingOptions, chunks) => {
      const f = new Framer(opts);
      for (const c of chunks) {
        try {
          f.push(Buffer.from(c), (m) => {
            if (m.length > (opts.maxFrame ?? 4096)) throw new Error('frame above the maximum');
          });
        } catch (e) {
          if (e instanceof FrameError) return;
          throw e;
        }
        if (f.pending > (opts.maxFrame ?? 4096) + 4) throw new Error(`buffered ${f.pending} bytes`);
      }
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} random streams`);
});

t.test('random field values: encode succeeds or throws EncodeError, and what it encodes decodes back', async (t) => {
  const fields = [2, 3, 4, 7, 11, 35, 37, 41, 42, 48, 49, 52, 54, 90, 102];
  const value = fc.oneof(fc.string({ maxLength: 60 }), fc.stringMatching(/^[0-9]{0,20}$/), fc.uint8Array({ maxLength: 10 }), fc.constant(undefined));
  let encoded = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1 }), fc.dictionary(fc.constantFrom(...fields.map(String)), value), (i, dict) => {
      const msg: IsoMessage = { mti: '0200', fields: {} };
      for (const [k, v] of Object.entries(dict)) if (v !== undefined) msg.fields[Number(k)] = v;
      let bytes: Buffer;
      try {
        bytes = codecs[i].encode(msg);
      } catch (e) {
        if (e instanceof EncodeError) return;
        throw e;
      }
      encoded++;
      const back = codecs[i].decode(bytes);
      if (!codecs[i].encode(back).equals(bytes)) throw new Error('decode(encode(x)) does not re-encode to the same bytes');
    }),
    { numRuns: RUNS },
  );
  t.ok(encoded > 0, `${encoded} encodable messages re-encoded identically`);
});

t.test('field parsers take any string or bytes and answer with DecodeError', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), (s, b) => {
      for (const fn of [() => parseDe48(s), () => parseDe54(s), () => parseDe90(s), () => parseBerTlv(b)]) {
        const bad = unexpected(fn, DecodeError);
        if (bad) throw new Error(bad);
      }
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 20 })), (tags) => {
      let s: string;
      try {
        s = buildDe48(tags);
      } catch (e) {
        if (e instanceof EncodeError) return;
        throw e;
      }
      const back = parseDe48(s);
      if (JSON.stringify(Object.entries(back)) !== JSON.stringify(Object.entries(tags))) throw new Error('DE48 round trip');
    }),
    { numRuns: RUNS },
  );
  t.pass('DE48, DE54, DE90, BER-TLV');
});
