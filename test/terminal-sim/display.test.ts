// What the simulator prints of a message: the PAN masked, secret fields left out, and the DE48
// tags the tag table marks secret (transaction code, security PIN, PIN block, wrapped keys)
// shown as ****, in the table for people and in --json alike.
import t from 'tap';
import { DE48_TAGS, SECRET_DE48_TAGS, buildDe48, type IsoMessage } from '../../protocol/index.js';
import { safeFields, showField } from '../../terminal-sim/display.js';

const PB = '9F8E7D6C5B4A39281706F5E4D3C2B1A0';
const MK = '0123456789ABCDEF0123456789ABCDEF';

t.test('the secret DE48 tags are the table’s: TC, SP, PB, MK, PK', async (t) => {
  t.same([...SECRET_DE48_TAGS].sort(), ['MK', 'PB', 'PK', 'SP', 'TC']);
  t.notOk(SECRET_DE48_TAGS.has('MC'), 'a check value is not secret');
  for (const tag of SECRET_DE48_TAGS) t.ok(tag in DE48_TAGS);
});

t.test('a PIN block in DE48 PB, a code, a security PIN and wrapped keys are never shown', async (t) => {
  const de48 = buildDe48({ SV: 'FUEL', PB, TC: '12345678', SP: '4821', MK, MC: 'ABCDEF' });
  const shown = showField(48, de48);
  t.equal(shown, 'SV=FUEL PB=**** TC=**** SP=**** MK=**** MC=ABCDEF');
  const msg: IsoMessage = { mti: '0200', fields: { 2: '6280001234567890', 48: de48, 52: Buffer.alloc(8, 1), 64: Buffer.alloc(8, 2) } };
  const json = JSON.stringify(safeFields(msg));
  for (const secret of [PB, '12345678', '4821', MK, '6280001234567890', '0101010101010101']) t.notOk(json.includes(secret), `--json leaves out ${secret.slice(0, 4)}…`);
  t.match(json, /628000\*+7890/, 'the PAN masked');
});
