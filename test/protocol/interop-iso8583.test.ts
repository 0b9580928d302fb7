// Interop with the npm package iso_8583 (its defaults), over every field both define the
// same way, with randomized messages: what iso_8583 packs we decode to the same values,
// what we pack iso_8583 decodes to the same values, and with a secondary bitmap always
// present (iso_8583's habit) the bytes are identical.
import t from 'tap';
import Iso8583 from 'iso_8583';
import isoFormats from 'iso_8583/lib/formats.js';
import { Codec, Framer, ascii87, frame, type FieldSpec, type IsoFields, type MessageSpec } from '../../protocol/index.js';

const LEN: Record<string, FieldSpec['lengthType']> = { fixed: 'fixed', llvar: 'LL', lllvar: 'LLL' };

/** Fields iso_8583 and ascii87 define alike (type, length type, length), and why the others differ. */
function commonFields(): { common: number[]; differ: string[] } {
  const common: number[] = [];
  const differ: string[] = [];
  for (let de = 2; de <= 128; de++) {
    const theirs = isoFormats[String(de)];
    const ours = ascii87.fields[de];
    if (!theirs || !ours) continue;
    const theirLength = theirs.ContentType === 'b' ? theirs.MaxLen / 2 : theirs.MaxLen;
    if (theirs.ContentType === ours.type && LEN[theirs.LenType] === ours.lengthType && theirLength === ours.length) common.push(de);
    else differ.push(`${de}: iso_8583 ${theirs.ContentType} ${theirs.LenType} ${theirLength}, ascii87 ${ours.type} ${ours.lengthType} ${ours.length}${ours.type === 'b' ? ' (bytes)' : ''}`);
  }
  return { common, differ };
}

// Characters both sides accept for each type (iso_8583's checks are narrower than ISO's for ans/ns).
const CHARS: Record<string, string> = {
  n: '0123456789',
  an: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  anp: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ',
  ans: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -!$%^&*()_+|~=`{}[]:";\'<>?,./',
  ns: '0123456789 -!$%^&*()_+|~=`{}[]:";\'<>?,./',
  z: '0123456789=D',
};

let seed = 8583;
const rand = (n: number): number => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};

/** A value as iso_8583 takes it (b as hex digits) and as we do (b as bytes). */
function randomValue(spec: FieldSpec): { theirs: string; ours: string | Buffer } {
  const len = spec.lengthType === 'fixed' ? spec.length : 1 + rand(spec.length);
  if (spec.type === 'b') {
    const bytes = Buffer.from(Array.from({ length: len }, () => rand(256)));
    return { theirs: bytes.toString('hex'), ours: bytes };
  }
  if (spec.type === 'x+n') {
    const v = (rand(2) ? 'C' : 'D') + Array.from({ length: len - 1 }, () => String(rand(10))).join('');
    return { theirs: v, ours: v };
  }
  const abc = CHARS[spec.type];
  const v = Array.from({ length: len }, () => abc[rand(abc.length)]).join('');
  return { theirs: v, ours: v };
}

const MTIS = ['0100', '0110', '0200', '0210', '0220', '0230', '0400', '0410', '0420', '0430', '0800', '0810'];
const ROUNDS = 400;
const { common, differ } = commonFields();
const alwaysSecondary: MessageSpec = { ...ascii87, name: 'ascii87-always-secondary', bitmap: { encoding: 'binary', secondary: 'always' } };

function randomMessage(): { mti: string; theirs: Record<string, string>; ours: IsoFields } {
  const mti = MTIS[rand(MTIS.length)];
  const theirs: Record<string, string> = { 0: mti };
  const ours: IsoFields = {};
  const count = 1 + rand(25);
  for (let i = 0; i < count; i++) {
    const de = common[rand(common.length)];
    const v = randomValue(ascii87.fields[de] as FieldSpec);
    theirs[de] = v.theirs;
    ours[de] = v.ours;
  }
  return { mti, theirs, ours };
}

function same(ours: IsoFields, theirs: Record<string, string>): string | undefined {
  const keys = Object.keys(theirs).filter((k) => k !== '0');
  if (keys.length !== Object.keys(ours).length) return `field sets differ: ${keys.join(',')} vs ${Object.keys(ours).join(',')}`;
  for (const k of keys) {
    const a = ours[Number(k)];
    const b = theirs[k];
    const av = a instanceof Uint8Array ? Buffer.from(a).toString('hex') : a;
    if (av !== b.toLowerCase() && av !== b) return `field ${k}: ours ${JSON.stringify(av)}, theirs ${JSON.stringify(b)}`;
  }
  return undefined;
}

t.test('the fields compared', async (t) => {
  t.ok(common.length >= 100, `${common.length} fields defined alike: ${common.join(' ')}`);
  t.comment(`defined differently (left out):\n  ${differ.join('\n  ')}`);
  for (const de of [2, 3, 4, 7, 11, 12, 13, 14, 22, 25, 35, 37, 38, 39, 41, 42, 48, 49, 54, 70, 90]) {
    t.ok(common.includes(de), `host-interface field ${de} is compared`);
  }
});

t.test('what iso_8583 packs, ascii87 decodes to the same values', async (t) => {
  const codec = new Codec(ascii87);
  let checked = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const m = randomMessage();
    const packed = new Iso8583(m.theirs).getBufferMessage();
    if (!Buffer.isBuffer(packed)) {
      t.fail(`iso_8583 refused ${JSON.stringify(m.theirs)}: ${packed.error}`);
      continue;
    }
    let decoded: IsoFields | undefined;
    let mti = '';
    new Framer({ maxFrame: 65535 }).push(packed, (body) => {
      const msg = codec.decode(body);
      decoded = msg.fields;
      mti = msg.mti;
    });
    const diff = decoded ? same(decoded, m.theirs) : 'no frame';
    if (diff || mti !== m.mti) t.fail(`round ${i}: ${diff ?? 'MTI'}`);
    else checked++;
  }
  t.equal(checked, ROUNDS, `${ROUNDS} messages`);
});

t.test('what ascii87 packs, iso_8583 decodes to the same values', async (t) => {
  const codec = new Codec(ascii87);
  let checked = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const m = randomMessage();
    const bytes = frame(codec.encode({ mti: m.mti, fields: m.ours }), {}, undefined);
    const theirs = new Iso8583().getIsoJSON(bytes, {});
    if ('error' in theirs && typeof theirs.error === 'string') {
      t.fail(`iso_8583 could not read round ${i}: ${theirs.error}`);
      continue;
    }
    const back = theirs as Record<string, string>;
    const diff = same(m.ours, back);
    if (diff || back[0] !== m.mti) t.fail(`round ${i}: ${diff ?? 'MTI'}`);
    else checked++;
  }
  t.equal(checked, ROUNDS, `${ROUNDS} messages`);
});

t.test('with the secondary bitmap always present, the bytes are identical to iso_8583', async (t) => {
  const codec = new Codec(alwaysSecondary);
  let identical = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const m = randomMessage();
    const theirs = new Iso8583(m.theirs).getBufferMessage() as Buffer;
    const ours = frame(codec.encode({ mti: m.mti, fields: m.ours }));
    if (ours.equals(theirs)) identical++;
    else t.fail(`round ${i}: ${ours.toString('hex')} != ${theirs.toString('hex')}`);
  }
  t.equal(identical, ROUNDS);
});
