/**
 * One data element: a FieldSpec compiled into a reader and a writer.
 * The parts compose as in moov-io/iso8583: length prefix + content encoding + padding,
 * each chosen by the spec, each checked on the way in and on the way out.
 */
import { ASCII_TO_EBCDIC, CHARSETS, EBCDIC_TO_ASCII, HEX_DIGITS, HEX_VALUE } from './charset.js';
import { Cursor, Writer, asBuffer } from './buffers.js';
import { DecodeError, EncodeError, type FieldRef } from './errors.js';
import type { FieldSpec, FieldValue, IsoFields, LengthType } from './types.js';

/** Number of length digits of each length type. */
export const LENGTH_DIGITS: Readonly<Record<LengthType, number>> = {
  fixed: 0,
  L: 1,
  LL: 2,
  LLL: 3,
  LLLL: 4,
  LLLLL: 5,
  LLLLLL: 6,
};

/** What a composite field needs from the message codec. */
export interface SubCodec {
  readBody(c: Cursor, ref: FieldRef): IsoFields;
  writeBody(w: Writer, fields: IsoFields, ref: FieldRef): void;
}

const enum Enc {
  Text, // ascii, validated against the type's charset
  Ebcdic,
  Bcd,
  Binary,
  Hex,
  Composite,
}

const scratch = Buffer.allocUnsafe(4096); // decoded digits/ebcdic text, then sliced to a string
const nibbles = new Uint8Array(4096);

/** The shared scratch buffer, or a fresh one when a (huge) field does not fit in it. */
function scratchFor(n: number): Buffer {
  return n <= scratch.length ? scratch : Buffer.allocUnsafe(n);
}

export class FieldCodec {
  private readonly enc: Enc;
  private readonly digits: number; // prefix digits, 0 = fixed
  private readonly prefixBytes: number;
  private readonly prefixEnc: FieldSpec['prefix'];
  private readonly min: number;
  private readonly max: number;
  private readonly charset: Uint8Array | undefined;
  private readonly isAmount: boolean;
  private readonly signs: string;
  private readonly padLeft: boolean;
  private readonly padChar: number;
  private readonly padNibble: number;
  private readonly trim: boolean;
  /** ASCII text without sign, trimming or leading padding: read() handles it inline. */
  private readonly plainText: boolean;

  constructor(
    readonly spec: FieldSpec,
    readonly ref: FieldRef,
    private readonly sub: SubCodec | undefined,
  ) {
    const s = spec;
    const bad = (why: string): never => {
      throw new Error(`spec: field ${String(ref)} (${s.name}): ${why}`);
    };
    this.digits = LENGTH_DIGITS[s.lengthType];
    if (this.digits === undefined) bad(`unknown length type ${String(s.lengthType)}`);
    if (!Number.isInteger(s.length) || s.length < 0) bad('length must be a non-negative integer');
    this.max = s.length;
    this.min = this.digits === 0 ? s.length : (s.min ?? 0);
    this.prefixEnc = s.prefix;
    if (this.digits > 0) {
      if (s.prefix === undefined) bad('a variable field needs a prefix encoding');
      this.prefixBytes = s.prefix === 'bcd' ? Math.ceil(this.digits / 2) : this.digits;
      const capacity = s.prefix === 'binary' ? 2 ** (8 * this.digits) - 1 : 10 ** this.digits - 1;
      if (s.length > capacity) bad(`length ${s.length} does not fit a ${s.lengthType} prefix`);
    } else {
      this.prefixBytes = 0;
    }
    this.isAmount = s.type === 'x+n';
    this.signs = s.signs ?? 'CD';
    this.trim = s.trim === true;
    this.charset = s.type === 'b' ? undefined : CHARSETS[s.type];

    if (s.sub) {
      if (s.type !== 'b' || s.encoding !== 'binary') bad('a composite field is type b, binary');
      if (!sub) bad('composite field without a sub codec');
      this.enc = Enc.Composite;
    } else if (s.type === 'b') {
      if (s.encoding === 'binary') this.enc = Enc.Binary;
      else if (s.encoding === 'hex') this.enc = Enc.Hex;
      else this.enc = bad(`type b cannot use ${s.encoding} encoding`);
    } else if (s.encoding === 'ascii') {
      this.enc = Enc.Text;
    } else if (s.encoding === 'ebcdic') {
      this.enc = Enc.Ebcdic;
    } else if (s.encoding === 'bcd') {
      if (s.type !== 'n' && s.type !== 'z' && s.type !== 'x+n') bad(`type ${s.type} cannot use bcd`);
      this.enc = Enc.Bcd;
    } else {
      this.enc = bad(`type ${s.type} cannot use ${s.encoding} encoding`);
    }
    if (this.isAmount && this.max < 1) bad('x+n needs room for the sign');

    this.plainText = this.enc === Enc.Text && !this.isAmount && !this.trim;
    const numeric = s.type === 'n' || s.type === 'x+n' || s.type === 'z';
    // Fixed text pads right with spaces, digits left with zeros; BCD pads the odd nibble left
    // when fixed and right when variable (jPOS IFB_NUMERIC / IFB_LLNUM).
    const side = s.pad?.side ?? (this.enc === Enc.Bcd ? (this.digits === 0 ? 'left' : 'right') : numeric ? 'left' : 'right');
    this.padLeft = side === 'left';
    const pc = s.pad?.char ?? (numeric ? '0' : ' ');
    if (pc.length !== 1) bad('pad char must be one character');
    this.padChar = pc.charCodeAt(0);
    this.padNibble = pc === 'F' || pc === 'f' ? 0xf : 0;
  }

  /** Bytes the content of `units` characters/digits/bytes takes on the wire. */
  private contentBytes(units: number): number {
    switch (this.enc) {
      case Enc.Bcd:
        return this.isAmount ? 1 + ((units - 1 + 1) >> 1) : (units + 1) >> 1;
      case Enc.Hex:
        return units * 2;
      default:
        return units;
    }
  }

  // ---------------------------------------------------------------- decode

  read(c: Cursor): FieldValue {
    const ref = this.ref;
    let units = this.max;
    if (this.digits > 0) units = this.readPrefix(c);
    const start = c.pos;
    if (this.plainText) {
      // Hot path: ASCII text, validated byte by byte, returned as a substring of the message.
      const end = start + units;
      if (end > c.end) throw this.short(start, units, c.end - start);
      const buf = c.buf;
      const cs = this.charset as Uint8Array;
      c.pos = end;
      for (let i = start; i < end; i++) {
        if (cs[buf[i]] === 0) return this.readText(buf, start, units, start, c); // padding, or an error
      }
      return c.text.substring(start - c.base, end - c.base);
    }
    if (this.enc === Enc.Composite) {
      if (start + units > c.end) throw this.short(start, units, c.end - start);
      const inner = new Cursor(c.buf, start, start + units, c);
      const value = (this.sub as SubCodec).readBody(inner, ref);
      c.pos = start + units;
      return value;
    }
    const n = this.contentBytes(units);
    if (start + n > c.end) throw this.short(start, n, c.end - start);
    c.pos = start + n;
    const buf = c.buf;
    switch (this.enc) {
      case Enc.Text:
        return this.readText(buf, start, n, start, c);
      case Enc.Ebcdic: {
        const tmp = scratchFor(n);
        for (let i = 0; i < n; i++) {
          const a = EBCDIC_TO_ASCII[buf[start + i]];
          if (a === 0) throw new DecodeError(ref, start + i, `byte 0x${hex2(buf[start + i])} is not EBCDIC text`);
          tmp[i] = a;
        }
        return this.readText(tmp, 0, n, start);
      }
      case Enc.Bcd:
        return this.readBcd(buf, start, units);
      case Enc.Binary:
        return Buffer.from(buf.subarray(start, start + n));
      case Enc.Hex: {
        const out = Buffer.allocUnsafe(units);
        for (let i = 0; i < units; i++) {
          const hi = HEX_VALUE[buf[start + 2 * i]];
          const lo = HEX_VALUE[buf[start + 2 * i + 1]];
          if (hi < 0 || lo < 0) throw new DecodeError(ref, start + 2 * i, 'not a hex digit');
          out[i] = (hi << 4) | lo;
        }
        return out;
      }
      default:
        throw new DecodeError(ref, start, 'unsupported encoding');
    }
  }

  private short(at: number, need: number, left: number): DecodeError {
    return new DecodeError(this.ref, at, `needs ${need} bytes, ${left < 0 ? 0 : left} left`);
  }

  private readPrefix(c: Cursor): number {
    const { buf, pos } = c;
    const nb = this.prefixBytes;
    if (pos + nb > c.end) throw new DecodeError(this.ref, pos, `length prefix needs ${nb} bytes, ${c.end - pos} left`);
    let len = 0;
    switch (this.prefixEnc) {
      case 'ascii':
      case 'ebcdic': {
        const zero = this.prefixEnc === 'ascii' ? 0x30 : 0xf0;
        for (let i = 0; i < nb; i++) {
          const d = buf[pos + i] - zero;
          if (d < 0 || d > 9) throw new DecodeError(this.ref, pos + i, 'length prefix is not numeric');
          len = len * 10 + d;
        }
        break;
      }
      case 'bcd':
        for (let i = 0; i < nb; i++) {
          const b = buf[pos + i];
          const hi = b >> 4;
          const lo = b & 0xf;
          if (hi > 9 || lo > 9) throw new DecodeError(this.ref, pos + i, 'length prefix is not BCD');
          len = len * 100 + hi * 10 + lo;
        }
        break;
      default:
        for (let i = 0; i < nb; i++) len = len * 256 + buf[pos + i];
    }
    if (len > this.max) throw new DecodeError(this.ref, pos, `length ${len} exceeds maximum ${this.max}`);
    if (len < this.min) throw new DecodeError(this.ref, pos, `length ${len} below minimum ${this.min}`);
    if (this.isAmount && len < 1) throw new DecodeError(this.ref, pos, 'x+n needs a sign');
    c.pos = pos + nb;
    return len;
  }

  /**
   * Validates text bytes against the type and returns the string, a substring of the
   * cursor's text when given. `at` is the wire offset for errors.
   */
  private readText(buf: Buffer, start: number, n: number, at = start, c?: Cursor): string {
    const cs = this.charset as Uint8Array;
    let i = 0;
    if (this.isAmount) {
      if (this.signs.indexOf(String.fromCharCode(buf[start])) < 0) {
        throw new DecodeError(this.ref, at, `sign '${printable(buf[start])}' is not one of ${this.signs}`);
      }
      i = 1;
    }
    // A fixed field's padding is allowed even where its character is not (spaces after an 'an' value).
    const fixed = this.digits === 0;
    const pc = this.padChar;
    if (fixed && this.padLeft) while (i < n && buf[start + i] === pc) i++;
    for (; i < n; i++) {
      const b = buf[start + i];
      if (cs[b] === 0) {
        if (fixed && !this.padLeft && b === pc && onlyPad(buf, start + i, start + n, pc)) break;
        throw new DecodeError(this.ref, at + i, `byte 0x${hex2(b)} is not allowed in ${this.spec.type}`);
      }
    }
    let s = start;
    let e = start + n;
    if (this.trim) {
      const p = this.padChar;
      if (this.padLeft) {
        while (s < e && buf[s] === p) s++;
        if (s === e && this.spec.type === 'n' && n > 0) s--; // all zeros: keep one
      } else {
        while (e > s && buf[e - 1] === p) e--;
      }
    }
    return c ? c.text.substring(s - c.base, e - c.base) : buf.latin1Slice(s, e);
  }

  private readBcd(buf: Buffer, start: number, units: number): string {
    const tmp = scratchFor(units);
    let o = 0;
    let p = start;
    let digits = units;
    if (this.isAmount) {
      const sign = buf[p];
      if (this.signs.indexOf(String.fromCharCode(sign)) < 0) {
        throw new DecodeError(this.ref, p, `sign '${printable(sign)}' is not one of ${this.signs}`);
      }
      tmp[o++] = sign;
      p++;
      digits--;
    }
    const odd = (digits & 1) === 1;
    const isZ = this.spec.type === 'z';
    const nibbles = digits + (odd ? 1 : 0);
    const skip = odd && this.padLeft ? 0 : -1; // nibble index of the pad when left
    const last = odd && !this.padLeft ? nibbles - 1 : -1;
    for (let k = 0; k < nibbles; k++) {
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

  // ---------------------------------------------------------------- encode

  write(w: Writer, value: FieldValue): void {
    const ref = this.ref;
    if (this.enc === Enc.Composite) {
      if (typeof value !== 'object' || value instanceof Uint8Array) throw new EncodeError(ref, 'expects sub-fields');
      const inner = new Writer(256);
      (this.sub as SubCodec).writeBody(inner, value, ref);
      this.checkLength(inner.pos);
      this.writePrefix(w, inner.pos);
      w.ensure(inner.pos);
      inner.buf.copy(w.buf, w.pos, 0, inner.pos);
      w.pos += inner.pos;
      return;
    }
    if (this.spec.type === 'b') {
      if (!(value instanceof Uint8Array)) throw new EncodeError(ref, 'expects bytes (Uint8Array)');
      const n = value.length;
      this.checkLength(n);
      this.writePrefix(w, n);
      if (this.enc === Enc.Binary) {
        w.ensure(n);
        asBuffer(value).copy(w.buf, w.pos);
        w.pos += n;
      } else {
        w.ensure(2 * n);
        const out = w.buf;
        let o = w.pos;
        for (let i = 0; i < n; i++) {
          out[o++] = HEX_DIGITS.charCodeAt(value[i] >> 4);
          out[o++] = HEX_DIGITS.charCodeAt(value[i] & 0xf);
        }
        w.pos = o;
      }
      return;
    }
    if (typeof value !== 'string') throw new EncodeError(ref, 'expects a string');
    const len = value.length;
    const fixed = this.digits === 0;
    if (fixed ? len > this.max : len > this.max || len < this.min) {
      throw new EncodeError(ref, fixed ? `length ${len} exceeds ${this.max}` : `length ${len} outside ${this.min}..${this.max}`);
    }
    if (this.isAmount && len < 1) throw new EncodeError(ref, 'x+n needs a sign');
    const units = fixed ? this.max : len;
    if (!fixed) this.writePrefix(w, units);
    const pad = units - len;
    if (this.enc === Enc.Bcd) {
      this.writeBcd(w, value, pad);
      return;
    }
    w.ensure(units);
    const out = w.buf;
    let o = w.pos;
    const cs = this.charset as Uint8Array;
    const ebcdic = this.enc === Enc.Ebcdic;
    let i = 0;
    if (pad > 0 && this.padLeft && this.isAmount) {
      // The sign stays first; zeros go between the sign and the digits.
      o = this.writeSign(out, o, value, ebcdic);
      i = 1;
    }
    if (pad > 0 && this.padLeft) o = fill(out, o, pad, this.padByte(ebcdic));
    if (i === 0 && this.isAmount) {
      o = this.writeSign(out, o, value, ebcdic);
      i = 1;
    }
    // As on decode, a fixed field's value may carry its own padding (a decoded 'an' value with trailing spaces).
    let padStart = len;
    let padEnd = 0;
    const pc = this.padChar;
    if (fixed && cs[pc] === 0) {
      if (this.padLeft) while (padEnd < len && value.charCodeAt(padEnd) === pc) padEnd++;
      else while (padStart > i && value.charCodeAt(padStart - 1) === pc) padStart--;
    }
    for (; i < len; i++) {
      const ch = value.charCodeAt(i);
      if (ch > 0xff || (cs[ch] === 0 && i < padStart && i >= padEnd)) {
        throw new EncodeError(ref, `character ${JSON.stringify(value[i])} at ${i} is not allowed in ${this.spec.type}`);
      }
      if (ebcdic) {
        const e = ASCII_TO_EBCDIC[ch];
        if (e === 0) throw new EncodeError(ref, `character ${JSON.stringify(value[i])} has no EBCDIC code`);
        out[o++] = e;
      } else {
        out[o++] = ch;
      }
    }
    if (pad > 0 && !this.padLeft) o = fill(out, o, pad, this.padByte(ebcdic));
    w.pos = o;
  }

  private padByte(ebcdic: boolean): number {
    return ebcdic ? ASCII_TO_EBCDIC[this.padChar] : this.padChar;
  }

  private writeSign(out: Buffer, o: number, value: string, ebcdic: boolean): number {
    const sign = value.charCodeAt(0);
    if (this.signs.indexOf(value[0]) < 0) throw new EncodeError(this.ref, `sign ${JSON.stringify(value[0])} is not one of ${this.signs}`);
    out[o] = ebcdic ? ASCII_TO_EBCDIC[sign] : sign;
    return o + 1;
  }

  private checkLength(n: number): void {
    if (this.digits === 0 ? n !== this.max : n > this.max || n < this.min) {
      throw new EncodeError(
        this.ref,
        this.digits === 0 ? `needs exactly ${this.max} bytes, got ${n}` : `length ${n} outside ${this.min}..${this.max}`,
      );
    }
  }

  private writePrefix(w: Writer, len: number): void {
    const nb = this.prefixBytes;
    w.ensure(nb);
    const out = w.buf;
    const p = w.pos;
    switch (this.prefixEnc) {
      case 'ascii':
      case 'ebcdic': {
        const zero = this.prefixEnc === 'ascii' ? 0x30 : 0xf0;
        let v = len;
        for (let i = nb - 1; i >= 0; i--) {
          out[p + i] = zero + (v % 10);
          v = Math.floor(v / 10);
        }
        break;
      }
      case 'bcd': {
        let v = len;
        for (let i = nb - 1; i >= 0; i--) {
          const two = v % 100;
          out[p + i] = ((two / 10) << 4) | two % 10;
          v = Math.floor(v / 100);
        }
        break;
      }
      default: {
        let v = len;
        for (let i = nb - 1; i >= 0; i--) {
          out[p + i] = v & 0xff;
          v = Math.floor(v / 256);
        }
      }
    }
    w.pos = p + nb;
  }

  private writeBcd(w: Writer, value: string, pad: number): void {
    const ref = this.ref;
    const isZ = this.spec.type === 'z';
    let i = 0;
    let digits = this.digits === 0 ? this.max : value.length;
    w.ensure(this.contentBytes(digits));
    const out = w.buf;
    let o = w.pos;
    if (this.isAmount) {
      o = this.writeSign(out, o, value, false);
      i = 1;
      digits--;
    }
    const odd = (digits & 1) === 1;
    // Nibbles: [pad nibble if odd, left] [zero padding] [the value's digits] [pad nibble if odd, right]
    const nib = digits + 1 <= nibbles.length ? nibbles : new Uint8Array(digits + 1);
    let k = 0;
    if (odd && this.padLeft) nib[k++] = this.padNibble;
    for (let j = 0; j < pad; j++) nib[k++] = 0;
    for (; i < value.length; i++) {
      const ch = value.charCodeAt(i);
      let v = ch - 0x30;
      if (isZ) {
        if (ch === 0x44) v = 0xd; // 'D' separator packs as '='
        else if (v < 0 || v > 0xf) throw new EncodeError(ref, `character ${JSON.stringify(value[i])} at ${i} is not allowed in z`);
      } else if (v < 0 || v > 9) {
        throw new EncodeError(ref, `character ${JSON.stringify(value[i])} at ${i} is not a digit`);
      }
      nib[k++] = v;
    }
    if (odd && !this.padLeft) nib[k++] = this.padNibble;
    for (let j = 0; j < k; j += 2) out[o++] = (nib[j] << 4) | nib[j + 1];
    w.pos = o;
  }
}

function onlyPad(buf: Buffer, from: number, to: number, pad: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== pad) return false;
  return true;
}

function fill(out: Buffer, o: number, n: number, byte: number): number {
  for (let k = 0; k < n; k++) out[o++] = byte;
  return o;
}

function hex2(b: number): string {
  return (b < 16 ? '0' : '') + b.toString(16);
}

function printable(b: number): string {
  return b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${hex2(b)}`;
}
