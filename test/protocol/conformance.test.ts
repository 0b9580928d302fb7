// Conformance with messages packed by other implementations (../shared/vectors, see its
// SOURCES.md): each decodes with the spec that packed it to the documented values, and
// re-encodes to the identical bytes.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Codec,
  ascii87,
  binary87,
  parseBerTlv,
  specFromGenericPackager,
  type FieldSpec,
  type IsoFields,
  type MessageSpec,
} from '../../protocol/index.js';
import { VECTORS, vector } from '../helpers/paths.js';
import type { TestContext } from '../helpers/tap.js';

const jposXml = (name: string): string => readFileSync(join(VECTORS, 'jpos', name), 'utf8');

/** jPOS XML message: field id -> { value, binary }. */
function jposValues(name: string): Map<number, { value: string; binary: boolean }> {
  const out = new Map<number, { value: string; binary: boolean }>();
  for (const m of jposXml(name).matchAll(/<field\s+id="(\d+)"\s+value="([^"]*)"(\s+type="binary")?\s*\/>/g)) {
    out.set(Number(m[1]), { value: m[2], binary: m[3] !== undefined });
  }
  return out;
}

function asText(v: unknown): string {
  return v instanceof Uint8Array ? Buffer.from(v).toString('hex').toUpperCase() : String(v);
}

function checkJpos(
  t: TestContext,
  spec: MessageSpec,
  bin: string,
  xml: string,
  expectOverride: Record<number, string> = {},
): void {
  const bytes = vector(`jpos/${bin}`);
  const codec = new Codec(spec);
  const msg = codec.decode(bytes);
  const doc = jposValues(xml);
  t.equal(msg.mti, doc.get(0)?.value, `${bin}: MTI`);
  const got = Object.keys(msg.fields).map(Number);
  t.same(got, [...doc.keys()].filter((k) => k !== 0), `${bin}: the documented fields, no more`);
  let matched = 0;
  for (const [de, { value, binary }] of doc) {
    if (de === 0) continue;
    const v = msg.fields[de];
    const want = expectOverride[de] ?? value;
    const have = binary ? asText(v) : v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v;
    if (have !== want) t.fail(`${bin}: field ${de}: ${JSON.stringify(have)} != ${JSON.stringify(want)}`);
    else matched++;
  }
  t.equal(matched, doc.size - 1, `${bin}: all ${doc.size - 1} documented values`);
  t.ok(codec.encode(msg).equals(bytes), `${bin}: re-encodes to the identical ${bytes.length} bytes`);
}


t.test('jPOS ISO87BPackager golden file with the built-in binary87', async (t) => {
  checkJpos(t, binary87, 'ISO87BPackager.bin', 'ISO87.xml');
  checkJpos(t, binary87, 'ISO87B-Field64.bin', 'ISO87-Field64.xml');
});

t.test('jPOS packagers built from their GenericPackager XML', async (t) => {
  checkJpos(t, specFromGenericPackager(jposXml('iso87binary.xml')), 'ISO87BPackager.bin', 'ISO87.xml');
  checkJpos(t, specFromGenericPackager(jposXml('iso87binary.xml')), 'ISO87B-Field64.bin', 'ISO87-Field64.xml');
  checkJpos(t, specFromGenericPackager(jposXml('iso87ascii.xml')), 'ISO87APackager.bin', 'ISO87.xml');
  checkJpos(t, specFromGenericPackager(jposXml('iso87ascii.xml')), 'ISO87A-Field64.bin', 'ISO87-Field64.xml');
  // ISO93.xml puts "EFGH" in field 56, a numeric field, which jPOS does not check.
  // ASCII: the letters go on the wire as they are, so we read that field as text.
  checkJpos(t, specFromGenericPackager(jposXml('iso93ascii.xml'), 'iso93a', { 56: { type: 'ans' } }), 'ISO93APackager.bin', 'ISO93.xml');
  // BCD: jPOS packs each letter as (char - '0') nibbles, so "EFGH" went out as the digits 5678.
  checkJpos(t, specFromGenericPackager(jposXml('iso93binary.xml')), 'ISO93BPackager.bin', 'ISO93.xml', { 56: '5678' });
});

// Postilion (jPOS PostPackager): ISO87 ASCII with a binary bitmap; field 127 is a
// 6-digit-length composite with its own 8-byte bitmap (127.2 LL, 127.25 LLLL).
const postilion: MessageSpec = {
  ...ascii87,
  name: 'postilion',
  fields: {
    ...ascii87.fields,
    127: {
      name: 'Postilion private data',
      type: 'b',
      lengthType: 'LLLLLL',
      length: 999999,
      prefix: 'ascii',
      encoding: 'binary',
      sub: {
        bitmap: { encoding: 'binary', secondary: 'never' },
        fields: {
          2: { name: 'Switch key', type: 'ans', lengthType: 'LL', length: 32, prefix: 'ascii', encoding: 'ascii' },
          25: { name: 'ICC data', type: 'ans', lengthType: 'LLLL', length: 8000, prefix: 'ascii', encoding: 'ascii' },
        },
      },
    },
  },
};

t.test('jPOS Postilion message (composite field 127)', async (t) => {
  const bytes = vector('jpos/post.bin');
  const codec = new Codec(postilion);
  const msg = codec.decode(bytes);
  t.equal(msg.mti, '0620');
  t.same(
    { 3: msg.fields[3], 7: msg.fields[7], 11: msg.fields[11], 12: msg.fields[12], 13: msg.fields[13], 41: msg.fields[41] },
    { 3: '000000', 7: '1117003616', 11: '375204', 12: '003616', 13: '1117', 41: 'ATM00002' },
  );
  const sub = msg.fields[127] as IsoFields;
  t.same({ ...sub }, { 2: 'SWITCH_KEY', 25: 'ICC_DATA' }, 'field 127 sub-fields');
  t.ok(codec.encode(msg).equals(bytes), 're-encodes identically');
});

// moov-io/iso8583 specs (message_test.go, test/testdata): ASCII MTI, hex-ASCII bitmap.
const moovAscii = (fields: Record<number, FieldSpec>, tertiary = false): MessageSpec => ({
  name: 'moov',
  mti: { encoding: 'ascii' },
  bitmap: { encoding: 'hex', secondary: 'auto', tertiary },
  fields,
});
const A = (type: FieldSpec['type'], lengthType: FieldSpec['lengthType'], length: number, extra: Partial<FieldSpec> = {}): FieldSpec => ({
  name: '',
  type,
  lengthType,
  length,
  encoding: 'ascii',
  ...(lengthType === 'fixed' ? {} : { prefix: 'ascii' as const }),
  ...extra,
});

t.test('moov simple_0100.txt: hex bitmap, and three bitmaps', async (t) => {
  const [line1, line2] = vector('moov/simple_0100.txt').toString('latin1').split('\n');
  const c1 = new Codec(moovAscii({ 2: A('n', 'LL', 19), 3: A('n', 'fixed', 6), 4: A('n', 'fixed', 12, { trim: true }) }));
  const m1 = c1.decode(Buffer.from(line1));
  t.same([m1.mti, m1.fields[2], m1.fields[3], m1.fields[4]], ['0100', '4242424242424242', '123456', '100'], 'documented values (F4 numeric 100)');
  t.equal(c1.encode(m1).toString('latin1'), line1, 're-encodes identically');
  const c2 = new Codec(moovAscii({ 130: A('ans', 'fixed', 1) }, true));
  const m2 = c2.decode(Buffer.from(line2));
  t.same(m2.fields, { 130: '1' }, 'field 130 through the tertiary bitmap');
  t.equal(c2.encode(m2).toString('latin1'), line2, 're-encodes identically');
});

t.test('moov test/testdata messages with the jPOS ISO87 ASCII packager', async (t) => {
  const codec = new Codec(specFromGenericPackager(jposXml('iso87ascii.xml')));
  const nm = vector('moov/network_management_message.dat');
  const m = codec.decode(nm);
  t.same({ mti: m.mti, ...m.fields }, { mti: '0800', 7: '0420090613', 11: '900001', 12: '090613', 13: '0420', 15: '0420', 70: '001' });
  t.ok(codec.encode(m).equals(nm), 'network management re-encodes identically');
  const ft = vector('moov/financial_transaction_message.dat');
  const f = codec.decode(ft);
  t.same(
    { mti: f.mti, ...f.fields },
    {
      mti: '0200',
      3: '380000',
      4: '000000000000',
      7: '0420050805',
      11: '011392',
      12: '120805',
      13: '0420',
      15: '0422',
      18: '5132',
      32: '2000001',
      37: '000000115604',
      42: '0800411        ',
      48: '511463331563',
      49: '360',
      60: '99',
    },
  );
  t.ok(codec.encode(f).equals(ft), 'financial transaction re-encodes identically');
});

t.test('moov TestPackUnpack: mixed ASCII, BCD, LBCD, binary and BER-TLV', async (t) => {
  const N = (length: number, extra: Partial<FieldSpec> = {}): FieldSpec => A('n', 'fixed', length, { trim: true, ...extra });
  const spec: MessageSpec = {
    name: 'moov-mixed',
    mti: { encoding: 'ascii' },
    bitmap: { encoding: 'binary', secondary: 'auto' },
    fields: {
      2: A('n', 'LL', 19),
      3: A('n', 'fixed', 6),
      4: N(12),
      7: N(10),
      11: N(6),
      12: N(6),
      13: N(4),
      14: N(4),
      19: N(3, { encoding: 'bcd' }),
      22: N(3),
      25: N(2),
      32: A('n', 'LL', 11),
      35: A('z', 'LL', 37),
      37: A('ans', 'fixed', 12),
      39: A('ans', 'fixed', 2),
      41: A('ans', 'fixed', 8),
      42: A('ans', 'fixed', 15),
      43: A('ans', 'fixed', 40, { pad: { side: 'left', char: ' ' }, trim: true }),
      49: N(3, { encoding: 'bcd', pad: { side: 'right' } }),
      52: { name: 'PIN', type: 'b', lengthType: 'fixed', length: 8, encoding: 'binary' },
      53: N(16, { pad: { side: 'left', char: ' ' } }),
      55: { name: 'ICC', type: 'b', lengthType: 'LLL', length: 999, prefix: 'ascii', encoding: 'binary' },
      120: A('ans', 'LLL', 999),
    },
  };
  const bytes = vector('moov/mixed_0100_TestPackUnpack.bin');
  const codec = new Codec(spec);
  const m = codec.decode(bytes);
  const f = m.fields;
  t.equal(m.mti, '0100');
  t.same(
    [f[2], f[3], f[35], f[37], f[41], f[42], f[43], f[120]],
    ['4276555555555555', '000000', '4276555555555555=12345678901234567890', '987654321001', '00000321', '120000000000034', 'Test text', 'Another test text'],
  );
  const numbers = { 4: 77700, 7: 701111844, 11: 123, 12: 131844, 13: 701, 14: 1902, 19: 643, 22: 901, 25: 2, 32: 123456, 49: 643, 53: 1234000000000000 };
  for (const [de, want] of Object.entries(numbers)) t.equal(Number(f[Number(de)]), want, `F${de} = ${want}`);
  t.equal(Buffer.from(f[52] as Uint8Array).toString('hex'), '0102030405060708', 'F52 binary');
  const tlv = parseBerTlv(f[55] as Uint8Array);
  t.same(
    tlv.map((x) => [x.tag, x.value.toString('latin1')]),
    [
      ['9A', '210720'],
      ['9F02', '000000000501'],
    ],
    'F55 BER-TLV',
  );
  t.ok(codec.encode(m).equals(bytes), 're-encodes identically');
});

t.test('OpenIso8583.Net extended 0200 with ascii87 (secondary bitmap)', async (t) => {
  const bytes = vector('openiso/extended_0200.bin');
  const codec = new Codec(ascii87);
  const m = codec.decode(bytes);
  t.same({ mti: m.mti, ...m.fields }, { mti: '0200', 2: '58889212354567816', 3: '270010', 102: '9012273811' });
  t.ok(codec.encode(m).equals(bytes), 're-encodes identically');
});

t.test('zemuldo/iso_8583 vectors: ASCII bitmap and binary bitmap', async (t) => {
  const [line1, line2] = vector('zemuldo/vectors.txt').toString('latin1').split('\n');
  const hexBitmap = new Codec({ ...ascii87, name: 'ascii87-hex-bitmap', bitmap: { encoding: 'hex', secondary: 'auto' } });
  const m1 = hexBitmap.decode(Buffer.from(line1));
  t.same({ mti: m1.mti, ...m1.fields }, { mti: '0800', 7: '1125161336', 11: '000255', 70: '301' });
  t.equal(hexBitmap.encode(m1).toString('latin1'), line1, 'line 1 re-encodes identically');
  const raw = Buffer.from(line2.replace(/ \(hex\)$/, ''), 'hex');
  const codec = new Codec(ascii87);
  const m2 = codec.decode(raw);
  t.same({ mti: m2.mti, ...m2.fields }, { mti: '0800', 3: '990000', 7: '0823151716', 11: '000001', 24: '831', 41: '00000001' });
  t.ok(codec.encode(m2).equals(raw), 'line 2 re-encodes identically');
});
