/**
 * Length prefixes, as moov-io/iso8583's prefix.Prefixer: how a field's length is written in
 * front of its content. One object per field, chosen when its spec is compiled; a new prefix
 * encoding is one class and one line of PREFIXERS.
 */
import { DecodeError, type FieldRef } from '../errors.js';
import type { LengthType, PrefixEncoding } from '../types.js';

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

export interface Prefixer {
  /** Digits of the length; 0 for a fixed field, which has no prefix. */
  readonly digits: number;
  /** Bytes the prefix takes on the wire. */
  readonly bytes: number;
  /** The largest length it can write. */
  readonly capacity: number;
  /** The length written at buf[pos, pos + bytes) (the caller has checked the bytes are there). */
  decode(buf: Buffer, pos: number, ref: FieldRef): number;
  /** Writes `length` at out[pos, pos + bytes) (the caller has made room). */
  encode(out: Buffer, pos: number, length: number): void;
}

/** A fixed field: no prefix, its length is the spec's. */
class FixedPrefixer implements Prefixer {
  readonly digits = 0;
  readonly bytes = 0;
  readonly capacity = Number.MAX_SAFE_INTEGER;
  decode(): number {
    return 0;
  }
  encode(): void {}
}

/** One character per digit: ASCII '0'-'9' or EBCDIC F0-F9. */
class DecimalPrefixer implements Prefixer {
  readonly bytes: number;
  readonly capacity: number;
  constructor(
    readonly digits: number,
    private readonly zero: number,
  ) {
    this.bytes = digits;
    this.capacity = 10 ** digits - 1;
  }
  decode(buf: Buffer, pos: number, ref: FieldRef): number {
    let len = 0;
    for (let i = 0; i < this.bytes; i++) {
      const d = buf[pos + i] - this.zero;
      if (d < 0 || d > 9) throw new DecodeError(ref, pos + i, 'length prefix is not numeric');
      len = len * 10 + d;
    }
    return len;
  }
  encode(out: Buffer, pos: number, length: number): void {
    let v = length;
    for (let i = this.bytes - 1; i >= 0; i--) {
      out[pos + i] = this.zero + (v % 10);
      v = Math.floor(v / 10);
    }
  }
}

/** Packed digits, two a byte: LL is one byte, LLL and LLLL two. */
class BcdPrefixer implements Prefixer {
  readonly bytes: number;
  readonly capacity: number;
  constructor(readonly digits: number) {
    this.bytes = Math.ceil(digits / 2);
    this.capacity = 10 ** digits - 1;
  }
  decode(buf: Buffer, pos: number, ref: FieldRef): number {
    let len = 0;
    for (let i = 0; i < this.bytes; i++) {
      const b = buf[pos + i];
      const hi = b >> 4;
      const lo = b & 0xf;
      if (hi > 9 || lo > 9) throw new DecodeError(ref, pos + i, 'length prefix is not BCD');
      len = len * 100 + hi * 10 + lo;
    }
    return len;
  }
  encode(out: Buffer, pos: number, length: number): void {
    let v = length;
    for (let i = this.bytes - 1; i >= 0; i--) {
      const two = v % 100;
      out[pos + i] = ((two / 10) << 4) | two % 10;
      v = Math.floor(v / 100);
    }
  }
}

/** A big-endian unsigned integer of as many bytes as there are Ls. */
class BinaryPrefixer implements Prefixer {
  readonly bytes: number;
  readonly capacity: number;
  constructor(readonly digits: number) {
    this.bytes = digits;
    this.capacity = 2 ** (8 * digits) - 1;
  }
  decode(buf: Buffer, pos: number): number {
    let len = 0;
    for (let i = 0; i < this.bytes; i++) len = len * 256 + buf[pos + i];
    return len;
  }
  encode(out: Buffer, pos: number, length: number): void {
    let v = length;
    for (let i = this.bytes - 1; i >= 0; i--) {
      out[pos + i] = v & 0xff;
      v = Math.floor(v / 256);
    }
  }
}

const PREFIXERS: Readonly<Record<PrefixEncoding, (digits: number) => Prefixer>> = {
  ascii: (d) => new DecimalPrefixer(d, 0x30),
  ebcdic: (d) => new DecimalPrefixer(d, 0xf0),
  bcd: (d) => new BcdPrefixer(d),
  binary: (d) => new BinaryPrefixer(d),
};

export const FIXED: Prefixer = new FixedPrefixer();

/** The prefix of a length type written in `encoding`; `bad` throws the spec error it is given. */
export function prefixerOf(lengthType: LengthType, encoding: PrefixEncoding | undefined, bad: (why: string) => never): Prefixer {
  const digits = LENGTH_DIGITS[lengthType];
  if (digits === undefined) bad(`unknown length type ${String(lengthType)}`);
  if (digits === 0) return FIXED;
  if (encoding === undefined) return bad('a variable field needs a prefix encoding');
  const make = PREFIXERS[encoding];
  if (make === undefined) return bad(`unknown prefix encoding ${String(encoding)}`);
  return make(digits);
}
