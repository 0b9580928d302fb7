/**
 * Content encodings, as moov-io/iso8583's encoding.Encoder: how a field's characters, digits
 * or bytes are written on the wire. One object per field, chosen when its spec is compiled and
 * holding what it needs of the spec (content type, sign, padding), so reading and writing
 * never look at the spec again. A new encoding is one class and one entry of ENCODERS; a new
 * single-byte code page is one `TextCode`.
 */
import { ASCII_TO_EBCDIC, EBCDIC_TO_ASCII, HEX_DIGITS, HEX_VALUE } from '../charset.js';
import { Cursor, Writer, asBuffer } from '../buffers.js';
import { DecodeError, EncodeError, type FieldRef } from '../errors.js';
import type { ContentEncoding, ContentType, FieldValue } from '../types.js';
import { fill, onlyPad, type Padding } from './padding.js';

/** What the text and BCD encodings apply of a field's spec. */
export interface ContentRules {
  readonly type: ContentType;
  /** Allowed bytes of the type (1 = allowed); all 0 for b. */
  readonly charset: Uint8Array;
  /** x+n: the accepted sign characters; undefined for every other type. */
  readonly signs: string | undefined;
  readonly fixed: boolean;
  readonly pad: Padding;
}

export interface Encoder {
  /** It takes strings, padded up to a fixed length, or bytes (Uint8Array), of exactly a fixed length. */
  readonly takes: 'text' | 'bytes';
  /** Reads `units` characters, digits or bytes at c.pos, checking they are there and valid; advances c.pos. */
  decode(c: Cursor, units: number): FieldValue;
  /** Writes the value and `pad` units of padding (the caller has checked its length). */
  encode(w: Writer, value: FieldValue, pad: number): void;
}

const scratch = Buffer.allocUnsafe(4096); // decoded digits/ebcdic text, then sliced to a string
const nibbles = new Uint8Array(4096);

/** The shared scratch buffer, or a fresh one when a (huge) field does not fit in it. */
function scratchFor(n: number): Buffer {
  return n <= scratch.length ? scratch : Buffer.allocUnsafe(n);
}

function short(ref: FieldRef, at: number, need: number, left: number): DecodeError {
  return new DecodeError(ref, at, `needs ${need} bytes, ${left < 0 ? 0 : left} left`);
}

/** A single-byte code page other than ASCII: ASCII -> wire and wire -> ASCII, 0 where there is none. */
export interface TextCode {
  readonly name: string;
  readonly toWire: Uint8Array;
  readonly fromWire: Uint8Array;
}

const EBCDIC: TextCode = { name: 'EBCDIC', toWire: ASCII_TO_EBCDIC, fromWire: EBCDIC_TO_ASCII };

/** Strings and their sign, as the text and BCD encodings check them. */
abstract class StringEncoding {
  readonly takes = 'text';
  constructor(
    protected readonly r: ContentRules,
    protected readonly ref: FieldRef,
  ) {}

  protected checkSign(byte: number, at: number): void {
    const signs = this.r.signs as string;
    if (signs.indexOf(String.fromCharCode(byte)) < 0) throw new DecodeError(this.ref, at, `sign '${printable(byte)}' is not one of ${signs}`);
  }

  /** Writes the value's sign at out[o] (through `toWire` when given); returns the offset after it. */
  protected writeSign(out: Buffer, o: number, value: string, toWire: Uint8Array | undefined): number {
    const signs = this.r.signs as string;
    const sign = value.charCodeAt(0);
    if (signs.indexOf(value[0]) < 0) throw new EncodeError(this.ref, `sign ${JSON.stringify(value[0])} is not one of ${signs}`);
    out[o] = toWire ? toWire[sign] : sign;
    return o + 1;
  }
}

/** One byte per character: ASCII, or a single-byte code page (EBCDIC). */
class TextEncoding extends StringEncoding {
  /** ASCII text without sign or trimming: decode() handles it inline. */
  private readonly plain: boolean;
  // The rules the loops read, copied to the object itself (one load each, not two).
  private readonly charset: Uint8Array;
  private readonly fixed: boolean;
  private readonly padLeft: boolean;
  private readonly padChar: number;
  private readonly padByte: number;
  private readonly amount: boolean;
  private readonly toWire: Uint8Array | undefined;

  constructor(r: ContentRules, ref: FieldRef, private readonly code: TextCode | undefined) {
    super(r, ref);
    this.plain = code === undefined && r.signs === undefined && !r.pad.trim;
    this.charset = r.charset;
    this.fixed = r.fixed;
    this.padLeft = r.pad.left;
    this.padChar = r.pad.char;
    this.padByte = code ? code.toWire[r.pad.char] : r.pad.char;
    this.amount = r.signs !== undefined;
    this.toWire = code?.toWire;
  }

  decode(c: Cursor, units: number): string {
    const start = c.pos;
    const end = start + units;
    if (end > c.end) throw short(this.ref, start, units, c.end - start);
    c.pos = end;
    const buf = c.buf;
    if (this.plain) {
      // Hot path: ASCII text, validated byte by byte, returned as a substring of the message.
      const cs = this.charset;
      for (let i = start; i < end; i++) {
        if (cs[buf[i]] === 0) return this.readText(buf, start, units, start, c); // padding, or an error
      }
      return c.text.substring(start - c.base, end - c.base);
    }
    if (this.code === undefined) return this.readText(buf, start, units, start, c);
    const tmp = scratchFor(units);
    const from = this.code.fromWire;
    for (let i = 0; i < units; i++) {
      const a = from[buf[start + i]];
      if (a === 0) throw new DecodeError(this.ref, start + i, `byte 0x${hex2(buf[start + i])} is not ${this.code.name} text`);
      tmp[i] = a;
    }
    return this.readText(tmp, 0, units, start);
  }

  /**
   * Validates ASCII text against the type and returns the string, a substring of the cursor's
   * text when given. `at` is the wire offset for errors.
   */
  private readText(buf: Buffer, start: number, n: number, at: number, c?: Cursor): string {
    const cs = this.charset;
    const fixed = this.fixed;
    const left = this.padLeft;
    const pc = this.padChar;
    let i = 0;
    if (this.amount) {
      this.checkSign(buf[start], at);
      i = 1;
    }
    // A fixed field's padding is allowed even where its character is not (spaces after an 'an' value).
    if (fixed && left) while (i < n && buf[start + i] === pc) i++;
    for (; i < n; i++) {
      const b = buf[start + i];
      if (cs[b] === 0) {
        if (fixed && !left && b === pc && onlyPad(buf, start + i, start + n, pc)) break;
        throw new DecodeError(this.ref, at + i, `byte 0x${hex2(b)} is not allowed in ${this.r.type}`);
      }
    }
    let s = start;
    let e = start + n;
    if (this.r.pad.trim) {
      if (left) {
        while (s < e && buf[s] === pc) s++;
        if (s === e && this.r.type === 'n' && n > 0) s--; // all zeros: keep one
      } else {
        while (e > s && buf[e - 1] === pc) e--;
      }
    }
    return c ? c.text.substring(s - c.base, e - c.base) : buf.latin1Slice(s, e);
  }

  encode(w: Writer, v: FieldValue, pad: number): void {
    const value = v as string;
    const cs = this.charset;
    const left = this.padLeft;
    const len = value.length;
    w.ensure(len + pad);
    const out = w.buf;
    let o = w.pos;
    const toWire = this.toWire;
    const amount = this.amount;
    let i = 0;
    if (pad > 0 && left && amount) {
      // The sign stays first; zeros go between the sign and the digits.
      o = this.writeSign(out, o, value, toWire);
      i = 1;
    }
    if (pad > 0 && left) o = fill(out, o, pad, this.padByte);
    if (i === 0 && amount) {
      o = this.writeSign(out, o, value, toWire);
      i = 1;
    }
    // As on decode, a fixed field's value may carry its own padding (a decoded 'an' value with trailing spaces).
    let padStart = len;
    let padEnd = 0;
    const pc = this.padChar;
    if (this.fixed && cs[pc] === 0) {
      if (left) while (padEnd < len && value.charCodeAt(padEnd) === pc) padEnd++;
      else while (padStart > i && value.charCodeAt(padStart - 1) === pc) padStart--;
    }
    for (; i < len; i++) {
      const ch = value.charCodeAt(i);
      if (ch > 0xff || (cs[ch] === 0 && i < padStart && i >= padEnd)) {
        throw new EncodeError(this.ref, `character ${JSON.stringify(value[i])} at ${i} is not allowed in ${this.r.type}`);
      }
      if (toWire) {
        const e = toWire[ch];
        if (e === 0) throw new EncodeError(this.ref, `character ${JSON.stringify(value[i])} has no ${(this.code as TextCode).name} code`);
        out[o++] = e;
      } else {
        out[o++] = ch;
      }
    }
    if (pad > 0 && !left) o = fill(out, o, pad, this.padByte);
    w.pos = o;
  }
}

/**
 * Packed digits, two a byte; an odd count has one pad nibble (its side is the padding's). For z
 * the separator packs as nibble D; for x+n the sign is one ASCII byte before the digits.
 */
class BcdEncoding extends StringEncoding {
  private readonly amount: boolean;
  private readonly isZ: boolean;
  private readonly padLeft: boolean;
  private readonly padNibble: number;

  constructor(r: ContentRules, ref: FieldRef) {
    super(r, ref);
    this.amount = r.signs !== undefined;
    this.isZ = r.type === 'z';
    this.padLeft = r.pad.left;
    this.padNibble = r.pad.nibble;
  }

  /** Bytes of `units` digits (and the sign of x+n). */
  private size(units: number): number {
    return this.amount ? 1 + (units >> 1) : (units + 1) >> 1;
  }

  decode(c: Cursor, units: number): string {
    const start = c.pos;
    const n = this.size(units);
    if (start + n > c.end) throw short(this.ref, start, n, c.end - start);
    c.pos = start + n;
    const buf = c.buf;
    const tmp = scratchFor(units);
    let o = 0;
    let p = start;
    let digits = units;
    if (this.amount) {
      this.checkSign(buf[p], p);
      tmp[o++] = buf[p];
      p++;
      digits--;
    }
    const left = this.padLeft;
    const odd = (digits & 1) === 1;
    const isZ = this.isZ;
    const count = digits + (odd ? 1 : 0);
    const skip = odd && left ? 0 : -1; // nibble index of the pad when left
    const last = odd && !left ? count - 1 : -1;
    for (let k = 0; k < count; k++) {
      const b = buf[p + (k >> 1)];
      const v = (k & 1) === 0 ? b >> 4 : b & 0xf;
      if (k === skip || k === last) {
        if (v !== 0 && v !== 0xf) throw new DecodeError(this.ref, p + (k >> 1), `pad nibble 0x${v.toString(16)} is not 0 or F`);
        continue;
      }
      if (v <= 9) tmp[o++] = 0x30 + v;
      else if (isZ) tmp[o++] = v === 0xd ? 0x3d : 0x30 + v; // D is the separator '='
      else throw new DecodeError(this.ref, p + (k >> 1), `nibble 0x${v.toString(16)} is not a BCD digit`);
    }
    return tmp.latin1Slice(0, o);
  }

  encode(w: Writer, v: FieldValue, pad: number): void {
    const value = v as string;
    const isZ = this.isZ;
    const left = this.padLeft;
    let i = 0;
    let digits = value.length + pad;
    w.ensure(this.size(digits));
    const out = w.buf;
    let o = w.pos;
    if (this.amount) {
      o = this.writeSign(out, o, value, undefined);
      i = 1;
      digits--;
    }
    const odd = (digits & 1) === 1;
    // Nibbles: [pad nibble if odd, left] [zero padding] [the value's digits] [pad nibble if odd, right]
    const nib = digits + 1 <= nibbles.length ? nibbles : new Uint8Array(digits + 1);
    let k = 0;
    if (odd && left) nib[k++] = this.padNibble;
    for (let j = 0; j < pad; j++) nib[k++] = 0;
    for (; i < value.length; i++) {
      const ch = value.charCodeAt(i);
      let d = ch - 0x30;
      if (isZ) {
        if (ch === 0x44) d = 0xd; // 'D' separator packs as '='
        else if (d < 0 || d > 0xf) throw new EncodeError(this.ref, `character ${JSON.stringify(value[i])} at ${i} is not allowed in z`);
      } else if (d < 0 || d > 9) {
        throw new EncodeError(this.ref, `character ${JSON.stringify(value[i])} at ${i} is not a digit`);
      }
      nib[k++] = d;
    }
    if (odd && !left) nib[k++] = this.padNibble;
    for (let j = 0; j < k; j += 2) out[o++] = (nib[j] << 4) | nib[j + 1];
    w.pos = o;
  }
}

/** Bytes (type b), exactly as many as the length says. */
abstract class BytesEncoding {
  readonly takes = 'bytes';
  constructor(protected readonly ref: FieldRef) {}
}

/** Bytes as they are. */
class BinaryEncoding extends BytesEncoding {
  decode(c: Cursor, units: number): Buffer {
    const start = c.pos;
    if (start + units > c.end) throw short(this.ref, start, units, c.end - start);
    c.pos = start + units;
    return Buffer.from(c.buf.subarray(start, start + units));
  }

  encode(w: Writer, v: FieldValue): void {
    const value = v as Uint8Array;
    w.ensure(value.length);
    asBuffer(value).copy(w.buf, w.pos);
    w.pos += value.length;
  }
}

/** Bytes as two ASCII hex digits each (jPOS IFA_BINARY). */
class HexEncoding extends BytesEncoding {
  decode(c: Cursor, units: number): Buffer {
    const start = c.pos;
    const n = units * 2;
    if (start + n > c.end) throw short(this.ref, start, n, c.end - start);
    c.pos = start + n;
    const buf = c.buf;
    const out = Buffer.allocUnsafe(units);
    for (let i = 0; i < units; i++) {
      const hi = HEX_VALUE[buf[start + 2 * i]];
      const lo = HEX_VALUE[buf[start + 2 * i + 1]];
      if (hi < 0 || lo < 0) throw new DecodeError(this.ref, start + 2 * i, 'not a hex digit');
      out[i] = (hi << 4) | lo;
    }
    return out;
  }

  encode(w: Writer, v: FieldValue): void {
    const value = v as Uint8Array;
    const n = value.length;
    w.ensure(2 * n);
    const out = w.buf;
    let o = w.pos;
    for (let i = 0; i < n; i++) {
      out[o++] = HEX_DIGITS.charCodeAt(value[i] >> 4);
      out[o++] = HEX_DIGITS.charCodeAt(value[i] & 0xf);
    }
    w.pos = o;
  }
}

const isText = (t: ContentType): boolean => t !== 'b';

/** Each content encoding: the content types it can carry, and its encoder for a field. */
const ENCODERS: Readonly<Record<ContentEncoding, { accepts(type: ContentType): boolean; make(r: ContentRules, ref: FieldRef): Encoder }>> = {
  ascii: { accepts: isText, make: (r, ref) => new TextEncoding(r, ref, undefined) },
  ebcdic: { accepts: isText, make: (r, ref) => new TextEncoding(r, ref, EBCDIC) },
  bcd: { accepts: (t) => t === 'n' || t === 'z' || t === 'x+n', make: (r, ref) => new BcdEncoding(r, ref) },
  binary: { accepts: (t) => t === 'b', make: (_r, ref) => new BinaryEncoding(ref) },
  hex: { accepts: (t) => t === 'b', make: (_r, ref) => new HexEncoding(ref) },
};

/** The encoder of `encoding` for a field of these rules; `bad` throws the spec error it is given. */
export function encoderOf(encoding: ContentEncoding, r: ContentRules, ref: FieldRef, bad: (why: string) => never): Encoder {
  const kind = Object.hasOwn(ENCODERS, encoding) ? ENCODERS[encoding] : undefined;
  if (kind === undefined || !kind.accepts(r.type)) return bad(`type ${r.type} cannot use ${String(encoding)} encoding`);
  return kind.make(r, ref);
}

function hex2(b: number): string {
  return (b < 16 ? '0' : '') + b.toString(16);
}

function printable(b: number): string {
  return b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${hex2(b)}`;
}
