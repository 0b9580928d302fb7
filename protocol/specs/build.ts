/**
 * A spec = an element dictionary (what each field holds) + an encoding profile
 * (how this wire writes each kind of content) + per-field overrides.
 */
import type { BitmapSpec, ContentEncoding, FieldSpec, MessageSpec, PrefixEncoding } from '../types.js';
import type { ElementRow } from './iso87.js';

export interface EncodingProfile {
  readonly mti: MessageSpec['mti']['encoding'];
  readonly bitmap: BitmapSpec;
  /** Length prefixes. */
  readonly prefix: PrefixEncoding;
  /** n, z and x+n content. */
  readonly numeric: 'ascii' | 'bcd' | 'ebcdic';
  /** a, an, anp, ans, ns content. */
  readonly text: 'ascii' | 'ebcdic';
  /** b content. */
  readonly binary: 'binary' | 'hex';
}

/** Per-field changes to the dictionary + profile result; null drops the field. */
export type Overrides = Readonly<Record<number, Partial<FieldSpec> | null>>;

export function fieldFrom(row: ElementRow, profile: EncodingProfile): FieldSpec {
  const [name, type, lengthType, length] = row;
  const encoding: ContentEncoding =
    type === 'b' ? profile.binary : type === 'n' || type === 'z' || type === 'x+n' ? profile.numeric : profile.text;
  return lengthType === 'fixed'
    ? { name, type, lengthType, length, encoding }
    : { name, type, lengthType, length, encoding, prefix: profile.prefix };
}

export function buildSpec(
  name: string,
  elements: Readonly<Record<number, ElementRow>>,
  profile: EncodingProfile,
  overrides: Overrides = {},
): MessageSpec {
  const fields: Record<number, FieldSpec> = {};
  for (const key of Object.keys(elements)) {
    const de = Number(key);
    if (de === 65 && profile.bitmap.tertiary) continue;
    fields[de] = fieldFrom(elements[de] as ElementRow, profile);
  }
  for (const key of Object.keys(overrides)) {
    const de = Number(key);
    const o = overrides[de];
    if (o === null) delete fields[de];
    else if (o !== undefined) fields[de] = { ...(fields[de] as FieldSpec), ...o };
  }
  return { name, mti: { encoding: profile.mti }, bitmap: profile.bitmap, fields };
}

/** The same changes applied to several fields. */
export function overrideEach(des: readonly number[], change: Partial<FieldSpec>): Record<number, Partial<FieldSpec>> {
  const out: Record<number, Partial<FieldSpec>> = {};
  for (const de of des) out[de] = change;
  return out;
}
