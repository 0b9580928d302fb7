/**
 * docs/messages.md, generated from the tables the switch runs on (spec, DE48 tags, response
 * codes, processing codes) and from example messages encoded by the project's own codec:
 *   node dist/tools/message-reference.js > docs/messages.md      (make docs)
 * A test regenerates it and compares, so the reference cannot drift from the code.
 */
import { fileURLToPath } from 'node:url';
import {
  Codec,
  DE48_TAGS,
  ascii87,
  binary87,
  buildDe48,
  buildDe90,
  frame,
  type IsoMessage,
  type MessageSpec,
} from '../protocol/index.js';
import { OUTCOME_CODES, RESPONSE_CODES } from '../switch/authorize/response-codes.js';
import { PROCESSING_CODES } from '../switch/authorize/processing-codes.js';
import { ECHOED_FIELDS, answer } from '../switch/authorize/response.js';
import { encipherPinBlock4, encryptPinBlock0, signPackedMessage, wrapKey } from '../protocol/security/index.js';

/** Keys of the documented examples: fixed, public, for interoperability checks only. */
const EXAMPLE_MASTER = Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex');
const EXAMPLE_MAC = Buffer.from('89ABCDEF01234567FEDCBA9876543210', 'hex');
const EXAMPLE_PIN = Buffer.from('FEDCBA98765432100123456789ABCDEF', 'hex');
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

/** The data elements the switch reads or writes, and what for. */
const FIELDS_USED: Record<number, string> = {
  2: 'card number (or DE35, or a transaction code in DE48 TC)',
  3: 'processing code: 00 purchase, 31 balance inquiry (48, 60: back-office only, declined 57)',
  4: 'amount in minor units (XOF has none); final amount in a completion',
  7: 'transmission date-time MMDDhhmmss; with DE41 and DE11 the duplicate key',
  11: 'STAN; answers are matched by it',
  12: 'local time (echoed)',
  13: 'local date (echoed)',
  14: "the card's expiry YYMM: with a card, DE14 or track 2's is required (30), and must be the card's (54)",
  22: 'entry mode: 90x or 02x (swiped) requires track 2 (30 without); part of the content a duplicate must match',
  25: 'condition code (echoed)',
  35: 'track 2: PAN, separator (= or D), expiry YYMM, service code; must agree with DE2 and DE14 (30)',
  37: 'RRN, set by the switch (journal row of the original)',
  38: 'approval code, set on approvals; names a pre-authorization in a completion without DE90',
  39: 'response code (below)',
  41: 'terminal id (8 letters or digits)',
  42: 'service point code, padded to 15',
  48: 'private data, tag + 3-digit length + value (tags below)',
  49: 'currency (952 XOF by default)',
  52: "cardholder PIN: ISO 9564 format 0 block under the terminal's PIN key when it is 3DES (an AES terminal sends format 4 in DE48 PB); required where the profile says so (55, 75 after three wrong); never logged or echoed",
  54: 'available balance in answers: account type 00, amount type 02, currency, C/D, 12 digits',
  70: 'network management code: 001 sign-on, 002 sign-off, 161 key change, 301 echo',
  74: 'reconciliation: credits, number',
  76: 'reconciliation: debits (purchases, completions), number',
  77: 'reconciliation: debit reversals, number',
  86: 'reconciliation: credits, amount',
  88: 'reconciliation: debits, amount',
  89: 'reconciliation: debit reversals, amount',
  90: 'original data elements: MTI, STAN, DE7 of the message a completion or reversal names',
};

const MESSAGES: [string, string, string][] = [
  ['0800', '0810', 'network management: sign-on (DE70 001, with DE48 SP on first initialisation, whose answer carries the working keys), sign-off (002), key change (161), echo (301)'],
  ['0100', '0110', 'pre-authorization at the pump: holds the amount'],
  ['0120 / 0220', '0130 / 0230', 'completion advice: DE4 final amount, DE90 (or DE38) names the pre-authorization; releases the rest'],
  ['0200', '0210', 'purchase (DE3 00) or balance inquiry (DE3 31)'],
  ['0400 / 0420', '0410 / 0430', 'reversal of an earlier message named by DE90; idempotent'],
  ['0500', '0510', "end-of-day reconciliation: the terminal's totals (DE74/76/77/86/88/89); 00 or 95"],
  ['0101, 0201, 0221, 0401, 0421', 'as the original', 'repeat: the stored answer of the message already answered'],
];

const hexdump = (b: Buffer): string => {
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 16) {
    const chunk = b.subarray(i, i + 16);
    const hex = [...chunk].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    const text = [...chunk].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
    lines.push(`${i.toString(16).padStart(4, '0')}  ${hex.padEnd(47)}  ${text}`);
  }
  return lines.join('\n');
};

function example(codec: Codec, title: string, request: IsoMessage, reply: IsoMessage): string {
  const req = frame(codec.encode(request));
  const ans = frame(codec.encode(reply));
  return `### ${title}\n\nRequest (${req.length} bytes with the 2-byte length header):\n\n\`\`\`\n${hexdump(req)}\n\`\`\`\n\nAnswer (${ans.length} bytes):\n\n\`\`\`\n${hexdump(ans)}\n\`\`\`\n`;
}

function fieldTable(spec: MessageSpec): string {
  const rows = Object.keys(FIELDS_USED)
    .map(Number)
    .map((de) => {
      const f = spec.fields[de];
      const format = f ? `${f.type} ${f.lengthType === 'fixed' ? f.length : `${f.lengthType}..${f.length}`}` : '-';
      return `| ${de} | ${f?.name ?? ''} | ${format} | ${FIELDS_USED[de]} |`;
    });
  return ['| DE | name | format (ascii87) | use |', '|---:|---|---|---|', ...rows].join('\n');
}

export function messageReference(): string {
  const codec = new Codec(ascii87);
  const base = { 7: '1127101500', 11: '000123', 12: '101500', 13: '1127', 41: 'TPE00101', 42: 'PS_SENOSOFT    ', 49: '952' };
  const purchase: IsoMessage = { mti: '0200', fields: { 2: '6280000000000011', 3: '000000', 4: '000000015000', ...base, 48: buildDe48({ SV: 'FUEL', PR: '001', QT: '25000' }) } };
  const approved = answer(purchase, { code: '00', rrnOf: 4711, approvalCode: '004711', available: 85_000, currency: '952' });
  const virtualized = answer(purchase, { code: '57', rrnOf: 4712 });
  const signOn: IsoMessage = { mti: '0800', fields: { 7: base[7], 11: '000001', 41: base[41], 48: buildDe48({ SP: '4821' }), 70: '001' } };
  const reversal: IsoMessage = {
    mti: '0400',
    fields: { 4: '000000015000', ...base, 11: '000124', 90: buildDe90({ mti: '0200', stan: '000123', transmissionDateTime: '1127101500' }) },
  };
  // The purchase as a terminal sends it on a listener that requires a MAC: DE64 under the MAC key.
  const macedPurchase = codec.decode(signPackedMessage(ascii87, codec.encode({ ...purchase, fields: { ...purchase.fields, 64: Buffer.alloc(8) } }), 'retail-mac', EXAMPLE_MAC));
  const wm = wrapKey('tdes', EXAMPLE_MASTER, EXAMPLE_MAC);
  const wp = wrapKey('tdes', EXAMPLE_MASTER, EXAMPLE_PIN);
  const keyTags = { KA: 'TDES', MK: hexOf(wm.wrapped), MC: hexOf(wm.kcv), PK: hexOf(wp.wrapped), PC: hexOf(wp.kcv) };
  // The cardholder PIN 1234 of the purchase's card, under the example PIN key as 3DES (DE52)
  // and as AES (DE48 PB; the fill of format 4, random on a terminal, fixed here to be reproducible).
  const pan = purchase.fields[2] as string;
  const withPin0: IsoMessage = { ...purchase, fields: { ...purchase.fields, 52: encryptPinBlock0(EXAMPLE_PIN, '1234', pan) } };
  const pb = hexOf(encipherPinBlock4(EXAMPLE_PIN, '1234', pan, Buffer.alloc(8, 0xff)));
  const withPin4: IsoMessage = { ...purchase, fields: { ...purchase.fields, 48: buildDe48({ SV: 'FUEL', PR: '001', QT: '25000', PB: pb }) } };
  const parts: string[] = [];
  parts.push(`# Message reference

The host interface of the switch (DESIGN.md §3), generated from the code by
\`node dist/tools/message-reference.js\` (\`make docs\`); a test keeps this file equal to what
the code produces. Default spec \`ascii87\` (ASCII MTI, binary bitmap, ASCII numerics and
length prefixes, wire-compatible with the npm package iso_8583); \`binary87\` (BCD, jPOS
ISO87B kind) is a listener setting (\`SWITCH_LISTENERS\`). Framing: 2-byte binary length by
default; 4-digit ASCII, 2-byte BCD, each optionally followed by a 5-byte TPDU.

## Messages

| request | answer | what |
|---|---|---|
${MESSAGES.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`).join('\n')}

An answer echoes the request's fields ${ECHOED_FIELDS.join(', ')} when present and adds 37, 38
(approvals), 39, 48 (tag MS) and 54 (available balance, approvals). Card data (2, 35, 52) is
never echoed.

## Sessions

A connection carries one terminal's session. The terminal signs on (0800, DE70 001) on the
connection before anything else; from that sign-on on, every message on the connection must
carry its DE41. Until the sign-on is answered 00, and after a sign-off (0800, DE70 002) answered
00, a message other than a sign-on or an echo gets 58 (\`SIGN ON FIRST\`). A message whose DE41
is not the session's gets 58 and the connection is closed once what is in flight is answered.
An echo (DE70 301) needs no session and opens none. A refused sign-on leaves the connection
without a session. What is refused for the session is not journaled. A terminal that
reconnects signs on again.

## Terminal keys

Each terminal has a **master key** of 16 bytes: double-length 3DES (K1‖K2, odd parity; the
default) or AES-128. The back office makes it and prints it once as two clear components, each
with its check value; the terminal's key is their XOR (parity-adjusted for 3DES), and its check
value is printed too, so that key injection can be verified.

The switch makes a terminal's **working keys**, a MAC key and a PIN key of the master key's
algorithm and length, and sends them in the 0810 answered 00 to

- the initialising sign-on (0800, DE70 001 with DE48 SP); a terminal with no master key is
  initialised without keys;
- a key change (0800, DE70 161) on the terminal's session; 63 when it has no master key, 58
  without a session or before initialisation.

DE48 of that 0810 carries, after MS, in this order:

| tag | value |
|---|---|
| KA | \`TDES\` or \`AES\`: the algorithm of the master key and of both working keys |
| MK | the MAC key wrapped under the master key, upper-case hex |
| MC | the MAC key's check value, upper-case hex |
| PK | the PIN key wrapped under the master key, upper-case hex |
| PC | the PIN key's check value, upper-case hex |

- Wrapping, TDES: the 16-byte key's two 8-byte blocks each enciphered in 3DES-ECB
  (encipher K1, decipher K2, encipher K1) under the master key: 16 bytes, 32 hex digits.
  AES: AES key wrap (RFC 3394, default IV \`A6A6A6A6A6A6A6A6\`) under the master key: 24 bytes,
  48 hex digits.
- Check value, TDES: the first 3 bytes of 8 zero bytes enciphered in 3DES under the key (6 hex
  digits). AES: the first 5 bytes of the AES-CMAC of 16 zero bytes under the key (10 hex digits).
- The terminal unwraps both keys, compares their check values, and keeps them only if both
  match; otherwise it keeps the keys it had.
- The keys are renewed (and the old ones kept for the grace period) each time the switch answers
  such a message 00; a terminal that loses the answer signs on again or asks again.

### MAC

A listener with \`SWITCH_AUTH=mac\` requires a MAC on every message of a session after its
sign-on (the sign-on itself and an echo carry none; a sign-off and a key change do). The MAC is
8 bytes in DE64, or in DE128 when the message has a secondary bitmap (an 0800 with DE70), and
is the last field. It is computed over the packed message from its first MTI byte up to the
MAC field, without the frame's length header or TPDU:

- 3DES MAC key: ISO 9797-1 MAC algorithm 3 (the "retail MAC"): padding method 1 (zero bytes up
  to a multiple of 8, none when already a multiple), single-DES CBC under K1 with a zero IV,
  the last block deciphered under K2 and enciphered under K1.
- AES MAC key: AES-CMAC (NIST SP 800-38B, RFC 4493), its leftmost 8 bytes.

A wrong or missing MAC gets 63 (\`MAC ERROR\`), a session whose terminal has no MAC key 63
(\`NO TERMINAL KEY\`); such a message is not posted nor journaled, and is counted and kept in
the security log. After a key change the previous MAC key still verifies for
\`SWITCH_KEY_GRACE_SECONDS\` (600 by default). Answers carry no MAC.

Why DE48: it is the interface's tagged private data, already read by terminals for SP and MS,
textual in both specs, with one tag table (below). DE53 (n 16) has no room for wrapped keys, and
DE96 (b 64) would need a binary sub-format of its own. Why 161: it is the key-change code of the
network management code set this interface uses (001 sign-on, 002 sign-off, 161 key change, 301
echo).

## Data elements

${fieldTable(ascii87)}

In \`binary87\` the same elements are packed BCD where numeric (${binary87.fields[2]?.name}: ${binary87.fields[2]?.encoding}, length prefix ${binary87.fields[2]?.prefix}).

## DE48 tags

Tag (2 letters) + length (3 digits) + value, in any order.

| tag | meaning | type | length |
|---|---|---|---|
${Object.entries(DE48_TAGS)
  .map(([tag, s]) => `| ${tag} | ${s.name} | ${s.type} | ${s.min === s.max ? s.min : `${s.min}..${s.max}`}${'values' in s ? ` (${s.values.join(', ')})` : ''} |`)
  .join('\n')}

## Processing codes (DE3, first two digits)

| code | operation | from a terminal |
|---|---|---|
${Object.entries(PROCESSING_CODES)
  .map(([code, p]) => `| ${code} | ${p.name} | ${p.fromTerminal} |`)
  .join('\n')}

## Response codes (DE39)

| code | meaning | the ledger's or switch's verdicts that give it |
|---|---|---|
${Object.entries(RESPONSE_CODES)
  .map(([code, c]) => `| ${code} | ${'when' in c ? `${c.name}: ${c.when}` : c.name} | ${Object.entries(OUTCOME_CODES).filter(([, c]) => c === code).map(([o]) => o).join(', ')} |`)
  .join('\n')}

## The cardholder PIN

A card payment or inquiry carries the cardholder's PIN where the card's profile requires it
(fuel profiles do by default), as a PIN block under the terminal's working PIN key:

| PIN key | block | field |
|---|---|---|
| 3DES (double length) | ISO 9564 format 0: PIN field XOR PAN field, enciphered (8 bytes) | DE52, 8 bytes |
| AES-128 | ISO 9564 format 4: E(E(PIN field) XOR PAN field), 16 bytes, random fill | DE48 tag PB, 32 upper-case hex digits |

DE52 is 8 bytes in this interface, too short for a format 4 block: that is why an AES terminal
sends it in DE48. A message with both, a PB that is not 32 hex digits, or a PIN block without a
card is malformed (30). A block of the other kind than the terminal's PIN key (format 0 under an
AES key, format 4 under a 3DES one), or one that no key of the terminal reads, is a wrong PIN
(55, counted). A PIN key retired by a key change still reads for the grace period.

Order of checks: session and MAC, format, duplicate, terminal and service point, card or code, status
and expiry, profile flags, limits, balance.

## Examples (encoded by the project's codec)
`);
  parts.push(example(codec, 'Purchase, approved', purchase, approved));
  parts.push(example(codec, 'The same purchase with a virtualized card: 57', purchase, virtualized));
  parts.push(example(codec, 'Sign-on with the security PIN', signOn, answer(signOn, { code: '00', text: 'TERMINAL INITIALIZED' })));
  parts.push(example(codec, 'Initialising sign-on answered with the working keys (3DES)', signOn, answer(signOn, { code: '00', text: 'TERMINAL INITIALIZED', tags: keyTags })));
  parts.push(`The keys of this example (test values, never to be used): master key \`${hexOf(EXAMPLE_MASTER)}\`, MAC key \`${hexOf(EXAMPLE_MAC)}\`, PIN key \`${hexOf(EXAMPLE_PIN)}\`.\n`);
  parts.push(example(codec, 'The purchase with its MAC (retail MAC under the MAC key above)', macedPurchase, approved));
  parts.push(example(codec, 'The purchase with the PIN 1234 in DE52 (format 0 under the PIN key above, as 3DES)', withPin0, approved));
  parts.push(example(codec, 'The purchase with the PIN 1234 in DE48 PB (format 4 under the PIN key above, as AES-128; fill FF..FF)', withPin4, approved));
  parts.push(example(codec, 'Reversal of the purchase', reversal, answer(reversal, { code: '00', rrnOf: 4713 })));
  return parts.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.stdout.write(messageReference());
