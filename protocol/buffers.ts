/** Read cursor and growable writer shared by the field and message codecs. */
import { EncodeError } from './errors.js';

export class Cursor {
  /**
   * The decoded range as one Latin-1 string, made once per message: text fields are
   * substrings of it (one native call per message instead of one per field).
   */
  readonly text: string;
  /** Offset in `buf` of text[0]. */
  readonly base: number;
  constructor(
    public buf: Buffer,
    public pos: number,
    public end: number,
    parent?: Cursor,
  ) {
    if (parent) {
      this.text = parent.text;
      this.base = parent.base;
    } else {
      this.text = buf.latin1Slice(pos, end);
      this.base = pos;
    }
  }
}

/** Largest message the encoder will build (far above any frame limit). */
export const MAX_ENCODED_BYTES = 1 << 20;

export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size = 4096) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    if (need > MAX_ENCODED_BYTES) throw new EncodeError('message', `message larger than ${MAX_ENCODED_BYTES} bytes`);
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(Math.min(size, MAX_ENCODED_BYTES));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A copy of what was written, as a buffer of its own. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }
}

/** Buffer view over any Uint8Array without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
