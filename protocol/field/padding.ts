/**
 * Padding, as moov-io/iso8583's padding.Padder: the side a short value of a fixed field is
 * padded on, with what character, the nibble that pads an odd number of BCD digits, and whether
 * a decoded value is trimmed of it. Chosen once when a field's spec is compiled.
 */
import type { FieldSpec } from '../types.js';

export interface Padding {
  readonly left: boolean;
  /** The pad character (its ASCII code; an EBCDIC field writes its EBCDIC code). */
  readonly char: number;
  /** The nibble of an odd number of BCD digits: F when the pad character is F, else 0. */
  readonly nibble: number;
  /** Strip the pad characters on decode (moov-style); otherwise values come back as on the wire. */
  readonly trim: boolean;
}

/**
 * Fixed text pads right with spaces, digits left with zeros; BCD pads the odd nibble left when
 * fixed and right when variable (jPOS IFB_NUMERIC / IFB_LLNUM). The spec's `pad` overrides.
 */
export function paddingOf(spec: FieldSpec, bcd: boolean, fixed: boolean, bad: (why: string) => never): Padding {
  const numeric = spec.type === 'n' || spec.type === 'x+n' || spec.type === 'z';
  const side = spec.pad?.side ?? (bcd ? (fixed ? 'left' : 'right') : numeric ? 'left' : 'right');
  const char = spec.pad?.char ?? (numeric ? '0' : ' ');
  if (char.length !== 1) bad('pad char must be one character');
  return { left: side === 'left', char: char.charCodeAt(0), nibble: char === 'F' || char === 'f' ? 0xf : 0, trim: spec.trim === true };
}

/** True when buf[from, to) is all `pad`. */
export function onlyPad(buf: Buffer, from: number, to: number, pad: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== pad) return false;
  return true;
}

/** Writes `n` times `byte` at out[o]; returns the offset after them. */
export function fill(out: Buffer, o: number, n: number, byte: number): number {
  for (let k = 0; k < n; k++) out[o++] = byte;
  return o;
}
