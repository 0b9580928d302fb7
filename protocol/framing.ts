/**
 * TCP framing: each message is preceded by a length header, optionally followed
 * by a 5-byte TPDU (0x60, destination NII, source NII). The header's length counts
 * every byte after it, TPDU included.
 *
 * Framer is a streaming parser: push chunks as they arrive, get whole frames back,
 * whatever the chunk boundaries. A frame that fits in one chunk is returned as a view
 * of it (no copy); a frame split over chunks is assembled once, in a buffer of its
 * announced size, after that size has been checked against the maximum.
 */
import { FrameError } from './errors.js';

export type LengthHeader = 'binary2' | 'bcd2' | 'ascii4';

export interface FramingOptions {
  /** binary2: 2-byte big-endian (default); bcd2: 2 BCD bytes; ascii4: 4 ASCII digits. */
  readonly header?: LengthHeader;
  /** A 5-byte TPDU follows the header. */
  readonly tpdu?: boolean;
  /** Largest frame accepted, in bytes after the header (default 4096). */
  readonly maxFrame?: number;
}

export const TPDU_LENGTH = 5;
export const DEFAULT_MAX_FRAME = 4096;

const HEADER_BYTES: Readonly<Record<LengthHeader, number>> = { binary2: 2, bcd2: 2, ascii4: 4 };
const HEADER_MAX: Readonly<Record<LengthHeader, number>> = { binary2: 0xffff, bcd2: 9999, ascii4: 9999 };

export function headerBytes(header: LengthHeader = 'binary2'): number {
  return HEADER_BYTES[header];
}

/** Bytes before the message itself: header plus TPDU. */
export function framePrefixBytes(opts: FramingOptions = {}): number {
  return headerBytes(opts.header) + (opts.tpdu ? TPDU_LENGTH : 0);
}

/** Called once per complete frame; `tpdu` is set when the framing has one. Views are valid until the callback returns... and after: they are never reused. */
export type FrameHandler = (message: Buffer, tpdu: Buffer | undefined) => void;

export class Framer {
  private readonly header: LengthHeader;
  private readonly hs: number;
  private readonly tpdu: boolean;
  private readonly maxFrame: number;
  private readonly hdr = Buffer.alloc(4);
  private hdrHave = 0;
  private body: Buffer | null = null;
  private bodyHave = 0;
  private consumed = 0;
  private failed: FrameError | null = null;

  constructor(opts: FramingOptions = {}) {
    this.header = opts.header ?? 'binary2';
    if (!(this.header in HEADER_BYTES)) throw new Error(`unknown frame header ${String(this.header)}`);
    this.hs = HEADER_BYTES[this.header];
    this.tpdu = opts.tpdu === true;
    const max = opts.maxFrame ?? DEFAULT_MAX_FRAME;
    if (!Number.isInteger(max) || max < 1) throw new Error('maxFrame must be a positive integer');
    this.maxFrame = Math.min(max, HEADER_MAX[this.header]);
  }

  /** Bytes of a frame that has started but not finished (0 between frames). */
  get pending(): number {
    return this.body === null ? this.hdrHave : this.hs + this.bodyHave;
  }

  /**
   * Feeds a chunk; calls `onFrame` for each frame it completes. Throws FrameError on a bad
   * header, after which the stream cannot be trusted: close the connection.
   */
  push(chunk: Buffer, onFrame: FrameHandler): void {
    if (this.failed) throw this.failed;
    const end = chunk.length;
    let off = 0;
    while (off < end) {
      if (this.body !== null) {
        const body = this.body;
        const n = Math.min(body.length - this.bodyHave, end - off);
        chunk.copy(body, this.bodyHave, off, off + n);
        this.bodyHave += n;
        off += n;
        this.consumed += n;
        if (this.bodyHave === body.length) {
          this.body = null;
          this.bodyHave = 0;
          this.emit(body, onFrame);
        }
        continue;
      }
      let len: number;
      if (this.hdrHave === 0 && end - off >= this.hs) {
        len = this.parseHeader(chunk, off);
        off += this.hs;
      } else {
        const n = Math.min(this.hs - this.hdrHave, end - off);
        chunk.copy(this.hdr, this.hdrHave, off, off + n);
        this.hdrHave += n;
        off += n;
        if (this.hdrHave < this.hs) return;
        this.hdrHave = 0;
        len = this.parseHeader(this.hdr, 0);
      }
      this.consumed += this.hs;
      if (end - off >= len) {
        const frame = chunk.subarray(off, off + len);
        off += len;
        this.consumed += len;
        this.emit(frame, onFrame);
      } else {
        const body = Buffer.allocUnsafe(len);
        this.bodyHave = chunk.copy(body, 0, off, end);
        this.consumed += this.bodyHave;
        this.body = body;
        off = end;
      }
    }
  }

  private emit(frame: Buffer, onFrame: FrameHandler): void {
    if (this.tpdu) onFrame(frame.subarray(TPDU_LENGTH), frame.subarray(0, TPDU_LENGTH));
    else onFrame(frame, undefined);
  }

  private fail(reason: string): never {
    this.failed = new FrameError(reason, this.consumed);
    throw this.failed;
  }

  private parseHeader(b: Buffer, at: number): number {
    let len = 0;
    switch (this.header) {
      case 'binary2':
        len = (b[at] << 8) | b[at + 1];
        break;
      case 'bcd2':
        for (let i = 0; i < 2; i++) {
          const hi = b[at + i] >> 4;
          const lo = b[at + i] & 0xf;
          if (hi > 9 || lo > 9) this.fail(`BCD length header 0x${b.toString('hex', at, at + 2)} is not BCD`);
          len = len * 100 + hi * 10 + lo;
        }
        break;
      case 'ascii4':
        for (let i = 0; i < 4; i++) {
          const d = b[at + i] - 0x30;
          if (d < 0 || d > 9) this.fail(`ASCII length header ${JSON.stringify(b.latin1Slice(at, at + 4))} is not 4 digits`);
          len = len * 10 + d;
        }
        break;
    }
    if (len === 0) this.fail('zero-length frame');
    if (len > this.maxFrame) this.fail(`frame of ${len} bytes exceeds the maximum of ${this.maxFrame}`);
    if (this.tpdu && len <= TPDU_LENGTH) this.fail(`frame of ${len} bytes cannot hold a TPDU and a message`);
    return len;
  }
}

/** Writes the length header (and TPDU) into the first framePrefixBytes(opts) bytes of `frame`. */
export function writeFramePrefix(frame: Buffer, opts: FramingOptions = {}, tpdu?: Uint8Array): void {
  const header = opts.header ?? 'binary2';
  const hs = HEADER_BYTES[header];
  const len = frame.length - hs;
  if (len > HEADER_MAX[header]) throw new FrameError(`frame of ${len} bytes does not fit a ${header} header`, 0);
  if (opts.maxFrame !== undefined && len > opts.maxFrame) throw new FrameError(`frame of ${len} bytes exceeds the maximum of ${opts.maxFrame}`, 0);
  switch (header) {
    case 'binary2':
      frame[0] = len >> 8;
      frame[1] = len & 0xff;
      break;
    case 'bcd2': {
      const hi = Math.floor(len / 100);
      const lo = len % 100;
      frame[0] = (Math.floor(hi / 10) << 4) | hi % 10;
      frame[1] = (Math.floor(lo / 10) << 4) | lo % 10;
      break;
    }
    case 'ascii4':
      frame.latin1Write(String(len).padStart(4, '0'), 0);
      break;
  }
  if (opts.tpdu) {
    if (!tpdu || tpdu.length !== TPDU_LENGTH) throw new FrameError('this framing needs a 5-byte TPDU', 0);
    frame.set(tpdu, hs);
  }
}

/** A framed copy of `message`. Prefer encoding with `reserve: framePrefixBytes(opts)` and writeFramePrefix. */
export function frame(message: Uint8Array, opts: FramingOptions = {}, tpdu?: Uint8Array): Buffer {
  const p = framePrefixBytes(opts);
  const out = Buffer.allocUnsafe(p + message.length);
  out.set(message, p);
  writeFramePrefix(out, opts, tpdu);
  return out;
}

/** The TPDU of an answer: same ID, destination and source NIIs swapped. */
export function tpduReply(tpdu: Uint8Array): Buffer {
  if (tpdu.length !== TPDU_LENGTH) throw new FrameError('a TPDU has 5 bytes', 0);
  return Buffer.from([tpdu[0], tpdu[3], tpdu[4], tpdu[1], tpdu[2]]);
}
