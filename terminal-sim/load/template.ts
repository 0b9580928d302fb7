/**
 * Frames encoded once and patched: the load generator sends the same few layouts all the time,
 * where only the trace (7, 11, 12, 13), the terminal (41, 42), the card (2), the amount (4) and
 * the original (90) change from one message to the next. A frame of a layout is encoded once
 * with the codec (header and TPDU included); each message is then a copy of it with those
 * fields' bytes overwritten, which is what the codec would write for them, checked when the
 * template is made:
 * - the template is the codec's encoding of a real message of the layout;
 * - each patched field is found by encoding the message again with every character of that
 *   field changed: the bytes that differ must be exactly the field's characters, as Latin-1,
 *   in both encodings (so a spec that packs digits in BCD, or writes EBCDIC, gets no
 *   template and is encoded in full every time);
 * - a value is patched only when it has the length the template was made with: a field of
 *   variable length (a PAN, a DE48) gets a template per length, and any other difference
 *   falls back to the codec.
 * Values are written as they are: their characters are the fields' own (fleet.ts validates
 * PANs, terminal ids and service points; the rest the generator makes). A binary field (a PIN
 * block) is patched the same way, found with its bytes complemented: written as its bytes, or
 * as upper-case hex digits when the spec writes it so.
 */
import { writeFramePrefix, type Codec, type FramingOptions, type IsoFields } from '../../protocol/index.js';

/** One layout at one set of lengths: the frame and where each patched field's characters go. */
export class FrameTemplate {
  private constructor(
    private readonly bytes: Buffer,
    private readonly des: readonly number[],
    private readonly offsets: readonly number[],
    private readonly lengths: readonly number[],
    /** Per patched field: 0 characters, 1 bytes, 2 bytes written as hex digits. */
    private readonly kinds: readonly number[],
  ) {}

  /**
   * The template of `mti` + `fields` with `patched` fields patchable, or undefined when the
   * codec does not write those fields as their own characters (see the file's comment).
   */
  static make(codec: Codec, framing: FramingOptions, tpdu: Uint8Array | undefined, prefix: number, mti: string, fields: IsoFields, patched: readonly number[]): FrameTemplate | undefined {
    const encode = (f: IsoFields): Buffer => {
      const b = codec.encode({ mti, fields: f }, { reserve: prefix });
      writeFramePrefix(b, framing, tpdu);
      return b;
    };
    const base = encode(fields);
    const offsets: number[] = [];
    const lengths: number[] = [];
    const kinds: number[] = [];
    for (const de of patched) {
      const value = fields[de];
      if (value instanceof Uint8Array) {
        const at = FrameTemplate.locateBytes(encode, base, fields, de, value);
        if (at === undefined) return undefined;
        offsets.push(at.offset);
        lengths.push(value.length);
        kinds.push(at.hex ? 2 : 1);
        continue;
      }
      if (typeof value !== 'string' || value.length === 0) return undefined;
      const other = [...value].map((c) => (c === '0' ? '1' : '0')).join('');
      const alt = FrameTemplate.encodeOther(encode, fields, de, other); // undefined: the field takes no digits
      const span = alt && FrameTemplate.changed(base, alt);
      if (alt === undefined || span === undefined) return undefined;
      const [first, last] = span;
      if (last - first + 1 !== value.length) return undefined;
      if (base.latin1Slice(first, last + 1) !== value || alt.latin1Slice(first, last + 1) !== other) return undefined;
      offsets.push(first);
      lengths.push(value.length);
      kinds.push(0);
    }
    return new FrameTemplate(base, [...patched], offsets, lengths, kinds);
  }

  /** The layout's frame with field `de` set to `other`, or undefined when the codec refuses it. */
  private static encodeOther(encode: (f: IsoFields) => Buffer, fields: IsoFields, de: number, other: string | Uint8Array): Buffer | undefined {
    try {
      return encode({ ...fields, [de]: other });
    } catch {
      return undefined;
    }
  }

  /** The first and last byte where two frames of one length differ; undefined when none does, or the lengths differ. */
  private static changed(base: Buffer, alt: Buffer): [number, number] | undefined {
    if (alt.length !== base.length) return undefined;
    let first = -1;
    let last = -1;
    for (let i = 0; i < base.length; i++) {
      if (base[i] === alt[i]) continue;
      if (first < 0) first = i;
      last = i;
    }
    return first < 0 ? undefined : [first, last];
  }

  /** Where a binary field's bytes are in `base`, found by encoding it again complemented. */
  private static locateBytes(encode: (f: IsoFields) => Buffer, base: Buffer, fields: IsoFields, de: number, value: Uint8Array): { offset: number; hex: boolean } | undefined {
    if (value.length === 0) return undefined;
    const other = Buffer.from(value.map((b) => b ^ 0xff));
    const alt = FrameTemplate.encodeOther(encode, fields, de, other);
    const span = alt && FrameTemplate.changed(base, alt);
    if (alt === undefined || span === undefined) return undefined;
    const [first, last] = span;
    const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();
    // Complementing every byte changes every hex digit and every byte, so the span is the field's.
    if (last - first + 1 === value.length && base.subarray(first, last + 1).equals(value) && alt.subarray(first, last + 1).equals(other)) return { offset: first, hex: false };
    if (last - first + 1 === 2 * value.length && base.latin1Slice(first, last + 1) === hexOf(value) && alt.latin1Slice(first, last + 1) === hexOf(other)) return { offset: first, hex: true };
    return undefined;
  }

  /** The frame of `fields` (the layout's), or undefined when a patched value's length differs from the template's. */
  render(fields: IsoFields): Buffer | undefined {
    const { des, offsets, lengths, kinds } = this;
    for (let i = 0; i < des.length; i++) {
      const v = fields[des[i]];
      if (kinds[i] === 0 ? typeof v !== 'string' || v.length !== lengths[i] : !(v instanceof Uint8Array) || v.length !== lengths[i]) return undefined;
    }
    const out = Buffer.allocUnsafe(this.bytes.length);
    this.bytes.copy(out, 0);
    for (let i = 0; i < des.length; i++) {
      const v = fields[des[i]];
      if (kinds[i] === 0) out.latin1Write(v as string, offsets[i], lengths[i]);
      else if (kinds[i] === 1) out.set(v as Uint8Array, offsets[i]);
      else out.latin1Write(Buffer.from(v as Uint8Array).toString('hex').toUpperCase(), offsets[i], 2 * lengths[i]);
    }
    return out;
  }
}

/**
 * The frames of one layout: a template per length of its variable field (none: one template),
 * made on first use, and the codec for whatever no template fits.
 */
export class FrameTemplates {
  private readonly byLength = new Map<number, FrameTemplate | null>();

  constructor(
    private readonly codec: Codec,
    private readonly framing: FramingOptions,
    private readonly tpdu: Uint8Array | undefined,
    private readonly prefix: number,
    readonly mti: string,
    private readonly patched: readonly number[],
    private readonly variable?: number,
  ) {}

  /** The frame of `mti` + `fields`: byte for byte what the codec encodes (and the frame prefix). */
  frame(fields: IsoFields): Buffer {
    const v = this.variable === undefined ? undefined : fields[this.variable];
    const key = typeof v === 'string' ? v.length : -1;
    let t = this.byLength.get(key);
    if (t === undefined) {
      t = FrameTemplate.make(this.codec, this.framing, this.tpdu, this.prefix, this.mti, fields, this.patched) ?? null;
      this.byLength.set(key, t);
    }
    const out = t?.render(fields);
    if (out !== undefined) return out;
    const b = this.codec.encode({ mti: this.mti, fields }, { reserve: this.prefix });
    writeFramePrefix(b, this.framing, this.tpdu);
    return b;
  }
}
