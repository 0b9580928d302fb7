// Round trips of every content type x content encoding x length type x prefix encoding,
// with empty, odd, typical and maximum-length values; plus the exact bytes of each
// encoding rule, so a round trip cannot pass by being wrong both ways.
import t from 'tap';
import {
  Codec,
  DecodeError,
  EncodeError,
  type ContentEncoding,
  type ContentType,
  type FieldSpec,
  type LengthType,
  type MessageSpec,
  type PrefixEncoding,
} from '../../protocol/index.js';

const ALPHABET: Record<Exclude<ContentType, 'b'>, string> = {
  n: '0123456789',
  a: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
  an: 'ABCXYZabcxyz0123456789',
  anp: 'ABC xyz 019',
  ans: 'Az09 !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
  ns: '0123456789 !#$%&*+-./:;<=>?@',
  z: '0123456789=D',
  'x+n': '0123456789',
};

/** Characters that also exist in EBCDIC (IBM-1047 printable ASCII). */
const EBCDIC_SAFE = /^[\x20-\x7e]*$/;

let seed = 12345;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}

function valueOf(type: ContentType, len: number): string | Buffer {
  if (type === 'b') return Buffer.from(Array.from({ length: len }, () => rand(256)));
  if (type === 'x+n') {
    if (len === 0) return '';
    return (rand(2) ? 'C' : 'D') + Array.from({ length: len - 1 }, () => ALPHABET.n[rand(10)]).join('');
  }
  const abc = ALPHABET[type];
  return Array.from({ length: len }, () => abc[rand(abc.length)]).join('');
}

function oneField(field: FieldSpec): Codec {
  const spec: MessageSpec = { name: 'one', mti: { encoding: 'ascii' }, bitmap: { encoding: 'binary', secondary: 'auto' }, fields: { 2: field } };
  return new Codec(spec);
}

const TEXT_TYPES: ContentType[] = ['n', 'a', 'an', 'anp', 'ans', 'ns', 'z', 'x+n'];
const LENGTH_TYPES: LengthType[] = ['fixed', 'L', 'LL', 'LLL', 'LLLL', 'LLLLLL'];
const PREFIXES: PrefixEncoding[] = ['ascii', 'bcd', 'binary', 'ebcdic'];

function encodingsFor(type: ContentType): ContentEncoding[] {
  if (type === 'b') return ['binary', 'hex'];
  if (type === 'n' || type === 'z' || type === 'x+n') return ['ascii', 'ebcdic', 'bcd'];
  return ['ascii', 'ebcdic'];
}

function maxFor(lt: LengthType): number {
  return { fixed: 7, L: 9, LL: 37, LLL: 120, LLLL: 1200, LLLLL: 1500, LLLLLL: 3000 }[lt];
}

t.test('every type x encoding x length type x prefix round-trips', async (t) => {
  let cases = 0;
  for (const type of [...TEXT_TYPES, 'b' as const]) {
    for (const encoding of encodingsFor(type)) {
      for (const lengthType of LENGTH_TYPES) {
        for (const prefix of lengthType === 'fixed' ? [undefined] : PREFIXES) {
          const max = maxFor(lengthType);
          for (const bcdPad of encoding === 'bcd' ? (['left', 'right'] as const) : [undefined]) {
            const field: FieldSpec = {
              name: `${type}/${encoding}/${lengthType}/${prefix ?? '-'}`,
              type,
              lengthType,
              length: max,
              encoding,
              ...(prefix ? { prefix } : {}),
              ...(bcdPad ? { pad: { side: bcdPad } } : {}),
            };
            const codec = oneField(field);
            const lengths = lengthType === 'fixed' ? [max] : [type === 'x+n' ? 1 : 0, 1, 2, 3, Math.floor(max / 2), max - 1, max];
            for (const len of lengths) {
              if (type === 'x+n' && len === 0) continue;
              let value = valueOf(type, len);
              if (encoding === 'ebcdic' && typeof value === 'string' && !EBCDIC_SAFE.test(value)) continue;
              if (encoding === 'bcd' && type === 'z' && typeof value === 'string') value = value.replace(/D/g, '=');
              const bytes = codec.encode({ mti: '0100', fields: { 2: value } });
              const back = codec.decode(bytes);
              cases++;
              if (typeof value === 'string') {
                if (back.fields[2] !== value) t.fail(`${field.name} len ${len}: ${JSON.stringify(value)} came back ${JSON.stringify(back.fields[2])}`);
              } else if (!Buffer.from(back.fields[2] as Uint8Array).equals(value)) {
                t.fail(`${field.name} len ${len}: bytes differ`);
              }
            }
          }
        }
      }
    }
  }
  t.ok(cases > 1000, `${cases} round trips`);
});

/** Encodes field 2 alone and returns the bytes after MTI and bitmap. */
function wire(field: FieldSpec, value: string | Buffer): Buffer {
  return oneField(field).encode({ mti: '0100', fields: { 2: value } }).subarray(12);
}

const F = (over: Partial<FieldSpec>): FieldSpec => ({ name: 'f', type: 'n', lengthType: 'fixed', length: 4, encoding: 'ascii', ...over });

t.test('exact bytes of each rule', async (t) => {
  t.equal(wire(F({ length: 6 }), '42').toString(), '000042', 'fixed n pads left with zeros');
  t.equal(wire(F({ type: 'ans', length: 6 }), 'AB').toString(), 'AB    ', 'fixed ans pads right with spaces');
  t.equal(wire(F({ type: 'ans', length: 6, pad: { side: 'left', char: '*' } }), 'AB').toString(), '****AB', 'custom pad');
  t.equal(wire(F({ type: 'x+n', length: 9 }), 'C100').toString(), 'C00000100', 'x+n zero-fills after the sign');
  t.equal(wire(F({ lengthType: 'LL', length: 19, prefix: 'ascii' }), '12345').toString(), '0512345', 'ASCII LL prefix');
  t.equal(wire(F({ type: 'ans', lengthType: 'LLL', length: 999, prefix: 'ascii' }), 'SV004FUEL').toString(), '009SV004FUEL', 'ASCII LLL prefix');
  t.equal(wire(F({ encoding: 'bcd', length: 3 }), '123').toString('hex'), '0123', 'odd fixed BCD: pad nibble left');
  t.equal(wire(F({ encoding: 'bcd', length: 3, pad: { side: 'right' } }), '123').toString('hex'), '1230', 'odd fixed BCD, right pad (LBCD)');
  t.equal(wire(F({ encoding: 'bcd', lengthType: 'LL', length: 19, prefix: 'bcd' }), '12345').toString('hex'), '05123450', 'odd variable BCD: pad nibble right');
  t.equal(wire(F({ encoding: 'bcd', lengthType: 'LL', length: 19, prefix: 'bcd', pad: { side: 'right', char: 'F' } }), '123').toString('hex'), '03123f', 'F pad nibble');
  t.equal(wire(F({ type: 'z', encoding: 'bcd', lengthType: 'LL', length: 37, prefix: 'bcd' }), '4761=221').toString('hex'), '084761d221', 'track 2 = packs as nibble D');
  t.equal(wire(F({ type: 'z', encoding: 'bcd', lengthType: 'LL', length: 37, prefix: 'bcd' }), '4761D221').toString('hex'), '084761d221', 'track 2 D packs as nibble D');
  t.equal(wire(F({ type: 'z', lengthType: 'LL', length: 37, prefix: 'ascii' }), '4761D221').toString(), '084761D221', 'ASCII track 2 keeps D');
  t.equal(wire(F({ type: 'x+n', encoding: 'bcd', length: 9 }), 'D00000100').toString('hex'), '4400000100', 'x+n BCD: ASCII sign then BCD');
  t.equal(wire(F({ type: 'ans', lengthType: 'LLL', length: 999, prefix: 'bcd' }), 'AB').toString('hex'), '00024142', 'BCD LLL prefix is 2 bytes');
  t.equal(wire(F({ type: 'ans', lengthType: 'LL', length: 999, prefix: 'binary' }), 'x'.repeat(300)).subarray(0, 2).toString('hex'), '012c', 'binary LL prefix is 2 bytes big-endian');
  t.equal(wire(F({ type: 'ans', lengthType: 'L', length: 9, prefix: 'binary' }), 'AB').toString('hex'), '024142', 'binary L prefix is 1 byte');
  t.equal(wire(F({ type: 'ans', lengthType: 'LL', length: 99, prefix: 'ebcdic', encoding: 'ebcdic' }), 'A1 z').toString('hex'), 'f0f4c1f140a9', 'EBCDIC prefix and content');
  t.equal(wire(F({ type: 'b', length: 2, encoding: 'hex' }), Buffer.from([0x0a, 0xbc])).toString(), '0ABC', 'b as hex digits');
  t.equal(wire(F({ type: 'b', length: 2, encoding: 'binary' }), Buffer.from([0x0a, 0xbc])).toString('hex'), '0abc', 'b raw');
});

t.test('decode returns values as on the wire unless the spec trims', async (t) => {
  const f = F({ type: 'ans', length: 6 });
  t.equal(oneField(f).decode(oneField(f).encode({ mti: '0100', fields: { 2: 'AB' } })).fields[2], 'AB    ');
  const trimmed = F({ type: 'ans', length: 6, trim: true });
  t.equal(oneField(trimmed).decode(oneField(trimmed).encode({ mti: '0100', fields: { 2: 'AB' } })).fields[2], 'AB');
  const num = F({ length: 6, trim: true });
  t.equal(oneField(num).decode(oneField(num).encode({ mti: '0100', fields: { 2: '0' } })).fields[2], '0', 'all-zero numeric keeps one digit');
});

t.test('encoding validates type and length with a typed error naming the field', async (t) => {
  const cases: [FieldSpec, unknown, RegExp][] = [
    [F({ length: 4 }), '12a4', /not allowed in n/],
    [F({ length: 4 }), '12345', /length 5 exceeds 4/],
    [F({ type: 'an', length: 4 }), 'AB-1', /not allowed in an/],
    [F({ type: 'a', length: 4 }), 'AB1', /not allowed in a/],
    [F({ type: 'x+n', length: 5 }), 'X1234', /sign/],
    [F({ type: 'x+n', length: 5 }), 'C12A4', /not allowed/],
    [F({ encoding: 'bcd', length: 4 }), '12A4', /not a digit/],
    [F({ type: 'ans', lengthType: 'LL', length: 10, min: 2, prefix: 'ascii' }), 'A', /outside 2..10/],
    [F({ type: 'ans', lengthType: 'LL', length: 10, prefix: 'ascii' }), 'A'.repeat(11), /outside 0..10/],
    [F({ type: 'b', length: 8, encoding: 'binary' }), Buffer.alloc(7), /exactly 8 bytes/],
    [F({ type: 'b', length: 8, encoding: 'binary' }), 'not bytes', /expects bytes/],
    [F({ length: 4 }), Buffer.alloc(4), /expects a string/],
    [F({ type: 'ans', length: 4, encoding: 'ebcdic' }), 'é', /no EBCDIC code/],
    [F({ type: 'ans', length: 4 }), '€', /not allowed in ans/],
  ];
  for (const [field, value, re] of cases) {
    try {
      oneField(field).encode({ mti: '0100', fields: { 2: value as string } });
      t.fail(`${JSON.stringify(value)} should not encode`);
    } catch (e) {
      t.ok(e instanceof EncodeError, 'EncodeError');
      t.equal((e as EncodeError).field, 2, 'names field 2');
      t.match((e as Error).message, re);
    }
  }
  const codec = oneField(F({}));
  t.throws(() => codec.encode({ mti: '02x0', fields: {} }), EncodeError, 'bad MTI');
  t.throws(() => codec.encode({ mti: '0200', fields: { 3: '000000' } }), /not a data element/, 'field outside the spec');
  t.throws(() => codec.encode({ mti: '0200', fields: { 1: 'x' } }), /not a data element/, 'bitmap is not settable');
});

t.test('decoding validates content with DecodeError naming field and offset', async (t) => {
  const codec = oneField(F({ length: 4 }));
  const good = codec.encode({ mti: '0100', fields: { 2: '1234' } });
  const bad = Buffer.from(good);
  bad[14] = 0x41; // 'A' in a numeric field, at offset 12 + 2
  const e = t.throws(() => codec.decode(bad)) as unknown as DecodeError;
  t.ok(e instanceof DecodeError);
  t.equal(e.field, 2);
  t.equal(e.offset, 14);
  t.equal(e.mti, '0100', 'the MTI is reported when it was readable');
  t.throws(() => codec.decode(good.subarray(0, good.length - 1)), /field 2 at offset 12: needs 4 bytes, 3 left/);
  t.throws(() => codec.decode(Buffer.concat([good, Buffer.from('X')])), /1 unexpected bytes after the last field/);
});

t.test('spec errors are caught when the spec is compiled', async (t) => {
  t.throws(() => oneField(F({ type: 'an', encoding: 'bcd' })), /cannot use bcd/);
  t.throws(() => oneField(F({ lengthType: 'LL', length: 100, prefix: 'ascii' })), /does not fit/);
  t.throws(() => oneField(F({ lengthType: 'LL', length: 10 })), /needs a prefix/);
  t.throws(() => oneField(F({ type: 'b', encoding: 'ascii' })), /cannot use ascii/);
});
