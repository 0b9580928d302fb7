import t from 'tap';
import {
  DE48_TAGS,
  DecodeError,
  EncodeError,
  buildBerTlv,
  buildDe48,
  buildDe54,
  buildDe90,
  expectsResponse,
  isRepeat,
  isResponse,
  mtiClass,
  originalOf,
  parseBerTlv,
  parseDe48,
  parseDe54,
  parseDe90,
  repeatOf,
  responseMti,
} from '../../protocol/index.js';

t.test('MTI helpers', async (t) => {
  const pairs: [string, string][] = [
    ['0800', '0810'],
    ['0100', '0110'],
    ['0101', '0110'],
    ['0120', '0130'],
    ['0121', '0130'],
    ['0200', '0210'],
    ['0201', '0210'],
    ['0220', '0230'],
    ['0221', '0230'],
    ['0400', '0410'],
    ['0401', '0410'],
    ['0420', '0430'],
    ['0421', '0430'],
    ['0500', '0510'],
  ];
  for (const [req, res] of pairs) t.equal(responseMti(req), res, `${req} -> ${res}`);
  t.ok(isRepeat('0201'));
  t.notOk(isRepeat('0200'));
  t.equal(originalOf('0421'), '0420');
  t.equal(originalOf('0200'), '0200');
  t.equal(repeatOf('0200'), '0201');
  t.equal(repeatOf('0201'), '0201');
  t.ok(isResponse('0210'));
  t.ok(expectsResponse('0220'));
  t.equal(mtiClass('0420'), '4');
  t.throws(() => responseMti('0210'), /not a request or advice/);
  t.throws(() => responseMti('02x0'), /not an MTI/);
});

t.test('DE48 tag/length/value', async (t) => {
  const s = buildDe48({ SV: 'FUEL', PR: '001', QT: '25000', TC: '12345678' });
  t.equal(s, 'SV004FUELPR003001QT00525000TC00812345678');
  t.same(parseDe48(s), { SV: 'FUEL', PR: '001', QT: '25000', TC: '12345678' });
  t.same(Object.keys(parseDe48(s)), ['SV', 'PR', 'QT', 'TC'], 'wire order kept');
  t.same(parseDe48('ZZ003abc'), { ZZ: 'abc' }, 'unknown tags are kept');
  t.same(parseDe48(''), {});
  const bad: [string, RegExp][] = [
    ['SV004FUE', /runs past the end/],
    ['SV0', /truncated tag header/],
    ['sv004FUEL', /not 2 upper-case letters/],
    ['SV0x4FUEL', /not 3 digits/],
    ['SV004FUELSV004FUEL', /repeated/],
    ['SV003GAS', /not one of FUEL/],
    ['PR0041234', /PR length 4 outside 3..3/],
    ['QT0031a3', /QT is not n/],
  ];
  for (const [input, re] of bad) {
    const e = t.throws(() => parseDe48(input), DecodeError) as unknown as DecodeError;
    t.match(e.message, re, input);
    t.equal(e.field, 48);
  }
  t.throws(() => buildDe48({ SP: '12345' }), EncodeError);
  t.throws(() => buildDe48({ s1: 'x' }), EncodeError);
  t.ok(Object.keys(DE48_TAGS).includes('TC'));
});

t.test('DE54 balances', async (t) => {
  const s = buildDe54([
    { accountType: '00', amountType: '02', currency: '952', amount: 150000 },
    { accountType: '00', amountType: '01', currency: '952', amount: -25 },
  ]);
  t.equal(s, '0002952C000000150000' + '0001952D000000000025');
  t.same(parseDe54(s)[1], { accountType: '00', amountType: '01', currency: '952', amount: -25 });
  t.throws(() => parseDe54('0002952X000000150000'), DecodeError);
  t.throws(() => parseDe54('0002952C00000015000'), /multiple of 20/);
  t.throws(() => buildDe54([{ accountType: '00', amountType: '02', currency: '952', amount: 1e13 }]), EncodeError);
  t.throws(() => buildDe54([{ accountType: '00', amountType: '02', currency: '952', amount: 1.5 }]), EncodeError);
});

t.test('DE90 original data elements', async (t) => {
  const s = buildDe90({ mti: '0200', stan: '123', transmissionDateTime: '1127101500' });
  t.equal(s.length, 42);
  t.equal(s, '0200000123112710150000000000000' + '00000000000');
  t.same(parseDe90(s), { mti: '0200', stan: '000123', transmissionDateTime: '1127101500', acquirer: '00000000000', forwarder: '00000000000' });
  t.throws(() => parseDe90('0200'), DecodeError);
  t.throws(() => buildDe90({ mti: '0200', stan: '1234567', transmissionDateTime: '1' }), EncodeError);
});

t.test('BER-TLV (DE55)', async (t) => {
  const items = [
    { tag: '9A', value: Buffer.from('210720') },
    { tag: '9F02', value: Buffer.from('000000000501') },
    { tag: '5F2A', value: Buffer.alloc(200, 1) },
  ];
  const bytes = buildBerTlv(items);
  t.same(parseBerTlv(bytes).map((x) => [x.tag, x.value.toString('hex')]), items.map((x) => [x.tag, x.value.toString('hex')]));
  t.throws(() => parseBerTlv(Buffer.from([0x9f])), /runs past the end/);
  t.throws(() => parseBerTlv(Buffer.from([0x9a, 0x05, 1, 2])), /runs past the end/);
  t.throws(() => parseBerTlv(Buffer.from([0x9a, 0x84, 0, 0, 0, 1])), /length of 4 bytes/);
});
