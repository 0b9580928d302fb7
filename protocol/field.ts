/**
 * One data element: a FieldSpec compiled into a reader and a writer, composed as in
 * moov-io/iso8583 of a length prefix (field/prefix.ts), a content encoding
 * (field/encoding.ts) and a padding (field/padding.ts), each chosen once here from the spec
 * and each checked on the way in and on the way out. A composite field is a length prefix and
 * a bitmap-driven sub-message instead of an encoding.
 */
import { CHARSETS } from './charset.js';
import { Cursor, Writer } from './buffers.js';
import { DecodeError, EncodeError, type FieldRef } from './errors.js';
import { LENGTH_DIGITS, prefixerOf, type Prefixer } from './field/prefix.js';
import { encoderOf, type Encoder } from './field/encoding.js';
import { paddingOf } from './field/padding.js';
import type { FieldSpec, FieldValue, IsoFields } from './types.js';

export { LENGTH_DIGITS };

/** What a composite field needs from the message codec. */
export interface SubCodec {
  readBody(c: Cursor, ref: FieldRef): IsoFields;
  writeBody(w: Writer, fields: IsoFields, ref: FieldRef): void;
}

const NO_CHARACTERS = new Uint8Array(256);

export class FieldCodec {
  private readonly prefix: Prefixer;
  /** Undefined for a composite field. */
  private readonly content: Encoder | undefined;
  private readonly fixed: boolean;
  private readonly min: number;
  private readonly max: number;
  private readonly isAmount: boolean;
  /** Its values are strings (text, BCD), not bytes. */
  private readonly takesText: boolean;

  constructor(
    readonly spec: FieldSpec,
    readonly ref: FieldRef,
    private readonly sub: SubCodec | undefined,
  ) {
    const s = spec;
    const bad = (why: string): never => {
      throw new Error(`spec: field ${String(ref)} (${s.name}): ${why}`);
    };
    const digits = LENGTH_DIGITS[s.lengthType];
    if (digits === undefined) bad(`unknown length type ${String(s.lengthType)}`);
    if (!Number.isInteger(s.length) || s.length < 0) bad('length must be a non-negative integer');
    this.fixed = digits === 0;
    this.max = s.length;
    this.min = this.fixed ? s.length : (s.min ?? 0);
    this.prefix = prefixerOf(s.lengthType, s.prefix, bad);
    if (s.length > this.prefix.capacity) bad(`length ${s.length} does not fit a ${s.lengthType} prefix`);
    this.isAmount = s.type === 'x+n';

    if (s.sub) {
      if (s.type !== 'b' || s.encoding !== 'binary') bad('a composite field is type b, binary');
      if (!sub) bad('composite field without a sub codec');
      this.content = undefined;
      this.takesText = false;
    } else {
      const charset = s.type === 'b' ? NO_CHARACTERS : CHARSETS[s.type];
      if (charset === undefined) bad(`unknown content type ${String(s.type)}`);
      this.content = encoderOf(
        s.encoding,
        {
          type: s.type,
          charset,
          signs: this.isAmount ? (s.signs ?? 'CD') : undefined,
          fixed: this.fixed,
          pad: paddingOf(s, s.encoding === 'bcd', this.fixed, bad),
        },
        ref,
        bad,
      );
      this.takesText = this.content.takes === 'text';
      if (this.isAmount && this.max < 1) bad('x+n needs room for the sign');
    }
  }

  // ---------------------------------------------------------------- decode

  read(c: Cursor): FieldValue {
    const units = this.fixed ? this.max : this.readLength(c);
    if (this.content !== undefined) return this.content.decode(c, units);
    const start = c.pos;
    if (start + units > c.end) throw new DecodeError(this.ref, start, `needs ${units} bytes, ${Math.max(0, c.end - start)} left`);
    const inner = new Cursor(c.buf, start, start + units, c);
    const value = (this.sub as SubCodec).readBody(inner, this.ref);
    c.pos = start + units;
    return value;
  }

  private readLength(c: Cursor): number {
    const pos = c.pos;
    const nb = this.prefix.bytes;
    if (pos + nb > c.end) throw new DecodeError(this.ref, pos, `length prefix needs ${nb} bytes, ${c.end - pos} left`);
    const len = this.prefix.decode(c.buf, pos, this.ref);
    if (len > this.max) throw new DecodeError(this.ref, pos, `length ${len} exceeds maximum ${this.max}`);
    if (len < this.min) throw new DecodeError(this.ref, pos, `length ${len} below minimum ${this.min}`);
    if (this.isAmount && len < 1) throw new DecodeError(this.ref, pos, 'x+n needs a sign');
    c.pos = pos + nb;
    return len;
  }

  // ---------------------------------------------------------------- encode

  write(w: Writer, value: FieldValue): void {
    const content = this.content;
    if (content === undefined) {
      this.writeComposite(w, value);
      return;
    }
    let len: number;
    if (this.takesText) {
      if (typeof value !== 'string') throw new EncodeError(this.ref, 'expects a string');
      len = value.length;
      if (this.fixed ? len > this.max : len > this.max || len < this.min) {
        throw new EncodeError(this.ref, this.fixed ? `length ${len} exceeds ${this.max}` : `length ${len} outside ${this.min}..${this.max}`);
      }
      if (this.isAmount && len < 1) throw new EncodeError(this.ref, 'x+n needs a sign');
    } else {
      if (!(value instanceof Uint8Array)) throw new EncodeError(this.ref, 'expects bytes (Uint8Array)');
      len = value.length;
      this.checkExact(len);
    }
    if (!this.fixed) this.writeLength(w, len);
    content.encode(w, value, this.fixed ? this.max - len : 0);
  }

  private writeComposite(w: Writer, value: FieldValue): void {
    if (typeof value !== 'object' || value instanceof Uint8Array) throw new EncodeError(this.ref, 'expects sub-fields');
    const inner = new Writer(256);
    (this.sub as SubCodec).writeBody(inner, value, this.ref);
    this.checkExact(inner.pos);
    this.writeLength(w, inner.pos);
    w.ensure(inner.pos);
    inner.buf.copy(w.buf, w.pos, 0, inner.pos);
    w.pos += inner.pos;
  }

  /** Bytes are never padded: a fixed field takes exactly its length. */
  private checkExact(n: number): void {
    if (this.fixed ? n !== this.max : n > this.max || n < this.min) {
      throw new EncodeError(this.ref, this.fixed ? `needs exactly ${this.max} bytes, got ${n}` : `length ${n} outside ${this.min}..${this.max}`);
    }
  }

  private writeLength(w: Writer, len: number): void {
    const nb = this.prefix.bytes;
    w.ensure(nb);
    this.prefix.encode(w.buf, w.pos, len);
    w.pos += nb;
  }
}
