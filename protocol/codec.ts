/**
 * The message codec: a MessageSpec compiled once into per-field codecs.
 *
 *   decode(bytes) -> { mti, fields }   or a DecodeError naming field, offset and reason
 *   encode({ mti, fields }) -> bytes   or an EncodeError naming field and reason
 *
 * Layout: MTI, primary bitmap, secondary bitmap when bit 1 is set, then the data
 * elements in ascending order; with a tertiary bitmap, bit 65 announces it and it is
 * read at the position of field 65.
 */
import { Cursor, Writer } from './buffers.js';
import { DecodeError, EncodeError, type FieldRef } from './errors.js';
import { FieldCodec, type SubCodec } from './field.js';
import { HEX_DIGITS, HEX_VALUE } from './charset.js';
import type { BitmapSpec, FieldValue, IsoFields, IsoMessage, MessageSpec, SubMessageSpec } from './types.js';

const MAX_FIELD = 192;

type FieldsFactory = (values: readonly FieldValue[]) => IsoFields;
const MAX_SHAPES = 512;

/** A message layout: the fields a bitmap announces, their codecs, and a factory for the fields object. */
interface Shape {
  readonly words: readonly number[];
  readonly codecs: readonly FieldCodec[];
  readonly make: FieldsFactory;
}

/**
 * Message layouts seen so far, by bitmap. Terminals send few distinct layouts, so a
 * decode looks its bitmap up once and then reads the listed fields in order. The
 * factory is an object literal of the layout's field numbers: filling an empty object
 * with integer keys makes V8 grow its element store several times (about 15 ns a
 * field); a literal is allocated at its size at once (7 ns for all). The factories
 * contain only integer literals. Past MAX_SHAPES layouts, decoding takes the generic
 * path (bit by bit) and nothing more is cached.
 */
class Shapes {
  private readonly byHash = new Map<number, Shape[]>();
  private count = 0;

  constructor(private readonly codecs: readonly (FieldCodec | undefined)[]) {}

  /** The layout of `words` (bits 1 and 65-as-bitmap cleared), or undefined when it cannot be cached. */
  get(words: readonly number[]): Shape | undefined {
    let h = words[0];
    for (let i = 1; i < 6; i++) h = (Math.imul(h, 0x01000193) ^ words[i]) | 0;
    const bucket = this.byHash.get(h);
    if (bucket !== undefined) {
      for (let k = 0; k < bucket.length; k++) {
        const b = bucket[k].words;
        if (b[0] === words[0] && b[1] === words[1] && b[2] === words[2] && b[3] === words[3] && b[4] === words[4] && b[5] === words[5]) {
          return bucket[k];
        }
      }
    }
    if (this.count >= MAX_SHAPES) return undefined;
    const des: number[] = [];
    const codecs: FieldCodec[] = [];
    for (let wi = 0; wi < 6; wi++) {
      for (let bit = 0; bit < 32; bit++) {
        if ((words[wi] & (0x80000000 >>> bit)) === 0) continue;
        const de = wi * 32 + bit + 1;
        const fc = this.codecs[de];
        if (fc === undefined) return undefined; // the generic path reports it at the right offset
        des.push(de);
        codecs.push(fc);
      }
    }
    const make = new Function('v', `return {${des.map((d, i) => `${d | 0}: v[${i}]`).join(', ')}};`) as FieldsFactory;
    const shape: Shape = { words: words.slice(), codecs, make };
    if (bucket === undefined) this.byHash.set(h, [shape]);
    else bucket.push(shape);
    this.count++;
    return shape;
  }
}

/** Bitmap + data elements: the body of a message, or of a composite field. */
class BodyCodec implements SubCodec {
  private readonly codecs: (FieldCodec | undefined)[] = new Array<FieldCodec | undefined>(MAX_FIELD + 1).fill(undefined);
  private readonly bitmap: BitmapSpec;
  private readonly maxField: number;
  private readonly shapes = new Shapes(this.codecs);

  constructor(spec: SubMessageSpec, refOf: (de: number) => FieldRef) {
    this.bitmap = spec.bitmap;
    const tertiary = spec.bitmap.tertiary === true;
    this.maxField = spec.bitmap.secondary === 'never' ? 64 : tertiary ? 192 : 128;
    for (const key of Object.keys(spec.fields)) {
      const de = Number(key);
      const fs = spec.fields[de];
      if (fs === undefined) continue;
      if (!Number.isInteger(de) || de < 2 || de > this.maxField || (tertiary && de === 65)) {
        throw new Error(`spec: field ${key} cannot be a data element with this bitmap`);
      }
      const ref = refOf(de);
      const sub = fs.sub ? new BodyCodec(fs.sub, (d) => `${de}.${d}` as FieldRef) : undefined;
      this.codecs[de] = new FieldCodec(fs, ref, sub);
    }
  }

  field(de: number): FieldCodec | undefined {
    return this.codecs[de];
  }

  readBody(c: Cursor, ref: FieldRef = 'message'): IsoFields {
    const words = [0, 0, 0, 0, 0, 0];
    this.readBitmap(c, words, 0);
    if ((words[0] & 0x80000000) !== 0) {
      if (this.bitmap.secondary === 'never') throw new DecodeError('bitmap', c.pos, 'bit 1 set but this spec has no secondary bitmap');
      words[0] &= 0x7fffffff;
      this.readBitmap(c, words, 2);
    }
    if (this.bitmap.tertiary !== true || (words[2] & 0x80000000) === 0) {
      const shape = this.shapes.get(words);
      if (shape !== undefined) {
        const codecs = shape.codecs;
        const values = new Array<FieldValue>(codecs.length);
        let k = 0;
        try {
          for (; k < codecs.length; k++) values[k] = codecs[k].read(c);
        } catch (e) {
          if (e instanceof DecodeError && e.partial === undefined) e.partial = shape.make(values.slice(0, k));
          throw e;
        }
        this.checkEnd(c, ref);
        return shape.make(values);
      }
    }
    return this.readGeneric(c, ref, words);
  }

  /** Bit by bit: for tertiary bitmaps, layouts past the cache, and errors with their exact offset. */
  private readGeneric(c: Cursor, ref: FieldRef, words: number[]): IsoFields {
    const fields: IsoFields = {};
    const tertiary = this.bitmap.tertiary === true;
    for (let wi = 0; wi < 6; wi++) {
      let w = words[wi];
      while (w !== 0) {
        const lz = Math.clz32(w);
        w = (w ^ (0x80000000 >>> lz)) >>> 0;
        const de = wi * 32 + lz + 1;
        if (de === 65 && tertiary) {
          this.readBitmap(c, words, 4);
          continue;
        }
        const fc = this.codecs[de];
        if (fc === undefined) {
          throw new DecodeError(refIn(ref, de), c.pos, 'bit set for a field this spec does not define');
        }
        try {
          fields[de] = fc.read(c);
        } catch (e) {
          if (e instanceof DecodeError && e.partial === undefined) e.partial = fields;
          throw e;
        }
      }
    }
    this.checkEnd(c, ref);
    return fields;
  }

  private checkEnd(c: Cursor, ref: FieldRef): void {
    if (c.pos !== c.end) throw new DecodeError(ref, c.pos, `${c.end - c.pos} unexpected bytes after the last field`);
  }

  /** Reads one 64-bit bitmap into words[at], words[at+1]. */
  private readBitmap(c: Cursor, words: number[], at: number): void {
    const { buf, pos } = c;
    if (this.bitmap.encoding === 'binary') {
      if (pos + 8 > c.end) throw new DecodeError('bitmap', pos, `needs 8 bytes, ${c.end - pos} left`);
      words[at] = buf.readUInt32BE(pos);
      words[at + 1] = buf.readUInt32BE(pos + 4);
      c.pos = pos + 8;
      return;
    }
    if (pos + 16 > c.end) throw new DecodeError('bitmap', pos, `needs 16 hex digits, ${c.end - pos} bytes left`);
    for (let half = 0; half < 2; half++) {
      let v = 0;
      for (let i = 0; i < 8; i++) {
        const d = HEX_VALUE[buf[pos + half * 8 + i]];
        if (d < 0) throw new DecodeError('bitmap', pos + half * 8 + i, 'not a hex digit');
        v = v * 16 + d;
      }
      words[at + half] = v;
    }
    c.pos = pos + 16;
  }

  writeBody(w: Writer, fields: IsoFields, ref: FieldRef = 'message'): void {
    const words = [0, 0, 0, 0, 0, 0];
    const tertiary = this.bitmap.tertiary === true;
    for (const key in fields) {
      if (fields[key as unknown as number] === undefined) continue;
      const de = Number(key);
      if (!(de >= 2 && de <= MAX_FIELD && Number.isInteger(de)) || this.codecs[de] === undefined) {
        throw new EncodeError(refIn(ref, Number.isInteger(de) ? de : 0), `field ${key} is not a data element of this spec`);
      }
      const bit = de - 1;
      words[bit >>> 5] |= 0x80000000 >>> (bit & 31);
    }
    if ((words[4] | words[5]) !== 0) words[2] |= 0x80000000; // bit 65: tertiary follows
    const needSecondary = (words[2] | words[3] | words[4] | words[5]) !== 0;
    if (needSecondary || this.bitmap.secondary === 'always') words[0] |= 0x80000000;
    this.writeBitmap(w, words[0] >>> 0, words[1]);
    if ((words[0] & 0x80000000) !== 0) this.writeBitmap(w, words[2] >>> 0, words[3]);
    for (let wi = 0; wi < 6; wi++) {
      let bits = words[wi] >>> 0;
      while (bits !== 0) {
        const lz = Math.clz32(bits);
        bits = (bits ^ (0x80000000 >>> lz)) >>> 0;
        const de = wi * 32 + lz + 1;
        if (de === 1) continue;
        if (de === 65 && tertiary) {
          this.writeBitmap(w, words[4] >>> 0, words[5]);
          continue;
        }
        (this.codecs[de] as FieldCodec).write(w, fields[de] as NonNullable<IsoFields[number]>);
      }
    }
  }

  private writeBitmap(w: Writer, hi: number, lo: number): void {
    if (this.bitmap.encoding === 'binary') {
      w.ensure(8);
      w.buf.writeUInt32BE(hi >>> 0, w.pos);
      w.buf.writeUInt32BE(lo >>> 0, w.pos + 4);
      w.pos += 8;
      return;
    }
    w.ensure(16);
    const out = w.buf;
    let o = w.pos;
    for (const v of [hi >>> 0, lo >>> 0]) {
      for (let shift = 28; shift >= 0; shift -= 4) out[o++] = HEX_DIGITS.charCodeAt((v >>> shift) & 0xf);
    }
    w.pos = o;
  }
}

function refIn(parent: FieldRef, de: number): FieldRef {
  return typeof parent === 'number' ? (`${parent}.${de}` as FieldRef) : de;
}

const sharedWriter = new Writer(8192);

export interface EncodeOptions {
  /** Bytes left free at the start of the result, for a frame header the caller writes itself. */
  reserve?: number;
}

/** A compiled spec. Build once (it validates the spec), then encode/decode many messages. */
export class Codec {
  private readonly body: BodyCodec;

  constructor(readonly spec: MessageSpec) {
    this.body = new BodyCodec(spec, (de) => de);
  }

  /** The compiled field, for tools that print or check single elements. */
  field(de: number): FieldCodec | undefined {
    return this.body.field(de);
  }

  decode(bytes: Uint8Array, start = 0, end = bytes.length): IsoMessage {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (start < 0 || end > buf.length || start > end) throw new DecodeError('message', start, 'range outside the buffer');
    const c = new Cursor(buf, start, end);
    const mti = this.readMti(c);
    try {
      return { mti, fields: this.body.readBody(c) };
    } catch (e) {
      if (e instanceof DecodeError) e.mti = mti;
      throw e;
    }
  }

  /** Reads only the MTI (e.g. to answer a message whose body does not parse). */
  peekMti(bytes: Uint8Array): string | undefined {
    try {
      return this.readMti(new Cursor(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes), 0, bytes.length));
    } catch {
      return undefined;
    }
  }

  private readMti(c: Cursor): string {
    const { buf, pos } = c;
    const enc = this.spec.mti.encoding;
    const n = enc === 'bcd' ? 2 : 4;
    if (pos + n > c.end) throw new DecodeError('mti', pos, `needs ${n} bytes, ${c.end - pos} left`);
    let mti: string;
    if (enc === 'bcd') {
      const a = buf[pos];
      const b = buf[pos + 1];
      if (a >> 4 > 9 || (a & 15) > 9 || b >> 4 > 9 || (b & 15) > 9) throw new DecodeError('mti', pos, 'not BCD digits');
      mti = String.fromCharCode(0x30 + (a >> 4), 0x30 + (a & 15), 0x30 + (b >> 4), 0x30 + (b & 15));
    } else {
      const zero = enc === 'ascii' ? 0x30 : 0xf0;
      for (let i = 0; i < 4; i++) {
        const d = buf[pos + i] - zero;
        if (d < 0 || d > 9) throw new DecodeError('mti', pos + i, 'not a digit');
      }
      mti = enc === 'ascii' ? c.text.substring(pos - c.base, pos - c.base + 4) : String.fromCharCode(...buf.subarray(pos, pos + 4).map((b) => b - 0xc0));
    }
    c.pos = pos + n;
    return mti;
  }

  encode(msg: IsoMessage, options?: EncodeOptions): Buffer {
    const w = sharedWriter;
    const reserve = options?.reserve ?? 0;
    w.pos = 0;
    w.ensure(reserve);
    w.pos = reserve;
    this.writeMti(w, msg.mti);
    this.body.writeBody(w, msg.fields);
    return w.take();
  }

  private writeMti(w: Writer, mti: unknown): void {
    if (typeof mti !== 'string' || mti.length !== 4) throw new EncodeError('mti', 'must be 4 digits');
    for (let i = 0; i < 4; i++) {
      const d = mti.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) throw new EncodeError('mti', 'must be 4 digits');
    }
    const enc = this.spec.mti.encoding;
    w.ensure(4);
    const out = w.buf;
    const p = w.pos;
    if (enc === 'bcd') {
      out[p] = ((mti.charCodeAt(0) - 0x30) << 4) | (mti.charCodeAt(1) - 0x30);
      out[p + 1] = ((mti.charCodeAt(2) - 0x30) << 4) | (mti.charCodeAt(3) - 0x30);
      w.pos = p + 2;
    } else {
      const zero = enc === 'ascii' ? 0x30 : 0xf0;
      for (let i = 0; i < 4; i++) out[p + i] = zero + mti.charCodeAt(i) - 0x30;
      w.pos = p + 4;
    }
  }
}

const cache = new WeakMap<MessageSpec, Codec>();

/** The codec of a spec, compiled on first use. */
export function codecFor(spec: MessageSpec): Codec {
  let c = cache.get(spec);
  if (!c) {
    c = new Codec(spec);
    cache.set(spec, c);
  }
  return c;
}

export function decode(spec: MessageSpec, bytes: Uint8Array): IsoMessage {
  return codecFor(spec).decode(bytes);
}

export function encode(spec: MessageSpec, msg: IsoMessage, options?: EncodeOptions): Buffer {
  return codecFor(spec).encode(msg, options);
}
