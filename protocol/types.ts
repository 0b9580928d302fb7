/**
 * The vocabulary of a spec: what a field holds (content type), how its
 * length is given (length type + prefix encoding), how its content is
 * written (content encoding) and padded. A spec is plain data built from
 * these; `codec.ts` compiles it.
 */

/**
 * ISO 8583 content types.
 * - n: digits; a: letters; an: letters and digits; anp: an + space;
 * - ans: printable (ASCII 0x20-0x7E and Latin-1 0xA0-0xFF); ns: digits and specials;
 * - z: track 2/3 code set (digits, `=` or `D` separator, `:;<>?`);
 * - b: raw bytes; x+n: a sign character (C credit / D debit) then digits.
 */
export type ContentType = 'n' | 'a' | 'an' | 'anp' | 'ans' | 'ns' | 'z' | 'b' | 'x+n';

/** Fixed, or a length prefix of 1 to 6 digits (L .. LLLLLL). */
export type LengthType = 'fixed' | 'L' | 'LL' | 'LLL' | 'LLLL' | 'LLLLL' | 'LLLLLL';

/**
 * How a length prefix is written.
 * - ascii / ebcdic: one character per L;
 * - bcd: packed digits, ceil(L/2) bytes (LL = 1 byte, LLL and LLLL = 2 bytes);
 * - binary: big-endian unsigned integer of as many bytes as there are Ls.
 */
export type PrefixEncoding = 'ascii' | 'bcd' | 'binary' | 'ebcdic';

/**
 * How the content is written.
 * - ascii / ebcdic: one byte per character;
 * - bcd: two digits per byte (odd lengths padded with one nibble, see `pad`);
 *   for z the separator packs as nibble D; for x+n the sign is one ASCII byte before the digits;
 * - binary: bytes as they are (type b);
 * - hex: bytes written as two ASCII hex digits each (type b in ASCII specs, jPOS IFA_BINARY).
 */
export type ContentEncoding = 'ascii' | 'ebcdic' | 'bcd' | 'binary' | 'hex';

export interface FieldSpec {
  readonly name: string;
  readonly type: ContentType;
  readonly lengthType: LengthType;
  /** Exact length (fixed) or maximum (variable), in characters/digits, or bytes for b. */
  readonly length: number;
  /** Minimum length of a variable field (default 0). */
  readonly min?: number;
  /** Encoding of the length prefix (variable fields only). */
  readonly prefix?: PrefixEncoding;
  readonly encoding: ContentEncoding;
  /**
   * Fixed fields: the side a short value is padded on and with what character
   * (defaults: digits left with '0', text right with ' ').
   * BCD: the side of the pad nibble of an odd number of digits
   * (defaults: left for fixed, right for variable, as jPOS).
   */
  readonly pad?: { readonly side: 'left' | 'right'; readonly char?: string };
  /** Strip the pad characters on decode (moov-style); default false: values come back as on the wire. */
  readonly trim?: boolean;
  /** x+n: accepted sign characters (default 'CD'). */
  readonly signs?: string;
  /** Composite field: its content is a bitmap-driven sub-message (e.g. Postilion field 127). */
  readonly sub?: SubMessageSpec;
}

export interface BitmapSpec {
  /** binary: 8 bytes per bitmap; hex: 16 ASCII hex digits per bitmap. */
  readonly encoding: 'binary' | 'hex';
  /** Secondary bitmap: when a field 65-128 is present (auto), always, or never (64-bit only). */
  readonly secondary: 'auto' | 'always' | 'never';
  /** Bit 65 announces a tertiary bitmap (fields 129-192) instead of being a data element. */
  readonly tertiary?: boolean;
}

export interface MessageSpec {
  readonly name: string;
  readonly mti: { readonly encoding: 'ascii' | 'bcd' | 'ebcdic' };
  readonly bitmap: BitmapSpec;
  /** Data elements by number (2..192); 1 and, with a tertiary bitmap, 65 are bitmaps. */
  readonly fields: Readonly<Record<number, FieldSpec>>;
}

/** A composite field's layout: a bitmap then its own fields (no MTI). */
export interface SubMessageSpec {
  readonly bitmap: BitmapSpec;
  readonly fields: Readonly<Record<number, FieldSpec>>;
}

/** The value of a data element: text for every type but b, bytes for b, sub-fields for a composite. */
export type FieldValue = string | Uint8Array | IsoFields;

/** Data elements by number. Integer keys iterate in ascending order. */
export interface IsoFields {
  [de: number]: FieldValue | undefined;
}

/** A message: its MTI and its data elements. Plain data; no methods. */
export interface IsoMessage {
  mti: string;
  fields: IsoFields;
}
