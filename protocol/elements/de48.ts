/**
 * DE48 private data of the host interface (DESIGN.md §3): a sequence of
 * tag (2 upper-case letters) + length (3 digits) + value. The tag table is the
 * one place where the tags the switch reads or writes are defined.
 */
import { DecodeError, EncodeError } from '../errors.js';

export interface De48TagSpec {
  readonly name: string;
  /** n: digits only; an: letters and digits; ans: printable; hex: hexadecimal digits. */
  readonly type: 'n' | 'an' | 'ans' | 'hex';
  readonly min: number;
  readonly max: number;
  /** Allowed values, when the tag is an enumeration. */
  readonly values?: readonly string[];
  /** A secret or key material: never printed or logged (shown as ****). */
  readonly secret?: boolean;
}

export const DE48_TAGS = {
  SV: { name: 'Service', type: 'an', min: 1, max: 10, values: ['FUEL', 'DOTATION', 'TICKET'] },
  PR: { name: 'Product code', type: 'n', min: 3, max: 3 },
  QT: { name: 'Quantity (millilitres)', type: 'n', min: 1, max: 12 },
  UP: { name: 'Unit price (minor units per litre)', type: 'n', min: 1, max: 12 },
  OD: { name: 'Odometer (km)', type: 'n', min: 1, max: 9 },
  VH: { name: 'Vehicle id', type: 'ans', min: 1, max: 20 },
  DR: { name: 'Driver id', type: 'ans', min: 1, max: 20 },
  TC: { name: 'Transaction code', type: 'n', min: 4, max: 16, secret: true },
  SP: { name: 'Terminal security PIN', type: 'n', min: 4, max: 4, secret: true },
  MS: { name: 'Message for the terminal display', type: 'ans', min: 0, max: 99 },
  KA: { name: 'Working keys: algorithm (of the master key too)', type: 'an', min: 3, max: 4, values: ['TDES', 'AES'] },
  MK: { name: 'MAC key, wrapped under the master key (hex)', type: 'an', min: 32, max: 48, secret: true },
  MC: { name: 'MAC key check value (hex)', type: 'an', min: 6, max: 10 },
  PK: { name: 'PIN key, wrapped under the master key (hex)', type: 'an', min: 32, max: 48, secret: true },
  PC: { name: 'PIN key check value (hex)', type: 'an', min: 6, max: 10 },
  // DE52 is b8 in this interface; a format 4 block is 16 bytes, so an AES terminal sends it here
  PB: { name: 'Cardholder PIN block, ISO 9564 format 4 under the AES PIN key', type: 'hex', min: 32, max: 32, secret: true },
} as const satisfies Record<string, De48TagSpec>;

export type De48Tag = keyof typeof DE48_TAGS;

/** The tags whose values are never printed or logged. */
export const SECRET_DE48_TAGS: ReadonlySet<string> = new Set(Object.entries(DE48_TAGS as Record<string, De48TagSpec>).filter(([, s]) => s.secret).map(([t]) => t));

/** Tag -> value, in wire order. Unknown tags are kept as they came. */
export type De48 = Partial<Record<De48Tag, string>> & Record<string, string>;

const TYPE_RE: Readonly<Record<De48TagSpec['type'], RegExp>> = {
  n: /^[0-9]*$/,
  an: /^[A-Za-z0-9]*$/,
  ans: /^[\x20-\x7e]*$/,
  hex: /^[0-9A-Fa-f]*$/,
};

function checkValue(tag: string, value: string): string | undefined {
  const spec = (DE48_TAGS as Record<string, De48TagSpec>)[tag];
  if (!spec) return undefined;
  if (value.length < spec.min || value.length > spec.max) return `${tag} length ${value.length} outside ${spec.min}..${spec.max}`;
  if (!TYPE_RE[spec.type].test(value)) return `${tag} is not ${spec.type}`;
  if (spec.values && !spec.values.includes(value)) return `${tag} value ${JSON.stringify(value)} is not one of ${spec.values.join(', ')}`;
  return undefined;
}

/** Parses DE48; a structural or value error is a DecodeError on field 48 (offset within DE48). */
export function parseDe48(data: string): De48 {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    if (i + 5 > data.length) throw new DecodeError(48, i, `truncated tag header (${data.length - i} characters left)`);
    const tag = data.slice(i, i + 2);
    if (!/^[A-Z]{2}$/.test(tag)) throw new DecodeError(48, i, `tag ${JSON.stringify(tag)} is not 2 upper-case letters`);
    const lenText = data.slice(i + 2, i + 5);
    if (!/^[0-9]{3}$/.test(lenText)) throw new DecodeError(48, i + 2, `length of ${tag} is not 3 digits`);
    const len = Number(lenText);
    const start = i + 5;
    if (start + len > data.length) throw new DecodeError(48, start, `${tag} value of ${len} runs past the end`);
    if (Object.prototype.hasOwnProperty.call(out, tag)) throw new DecodeError(48, i, `tag ${tag} repeated`);
    const value = data.slice(start, start + len);
    const bad = checkValue(tag, value);
    if (bad) throw new DecodeError(48, start, bad);
    out[tag] = value;
    i = start + len;
  }
  return out;
}

/** Builds DE48 from tag/value pairs (object order is wire order). */
export function buildDe48(tags: Readonly<Record<string, string | undefined>>): string {
  let s = '';
  for (const tag of Object.keys(tags)) {
    const value = tags[tag];
    if (value === undefined) continue;
    if (!/^[A-Z]{2}$/.test(tag)) throw new EncodeError(48, `tag ${JSON.stringify(tag)} is not 2 upper-case letters`);
    if (value.length > 999) throw new EncodeError(48, `${tag} value longer than 999`);
    const bad = checkValue(tag, value);
    if (bad) throw new EncodeError(48, bad);
    s += tag + String(value.length).padStart(3, '0') + value;
  }
  return s;
}
