/**
 * Typed errors of the protocol layer. Decoding or framing any byte string
 * either succeeds or throws one of these; nothing else escapes the codec.
 */

/** Where in a message an error was found: a data element number, or a structural part. */
export type FieldRef = number | 'mti' | 'bitmap' | 'message' | `${number}.${number}`;

export abstract class Iso8583Error extends Error {
  abstract readonly code: 'DECODE' | 'ENCODE' | 'FRAME';
}

/** The bytes could not be parsed with the spec: names the field, the byte offset and why. */
export class DecodeError extends Iso8583Error {
  readonly code = 'DECODE' as const;
  /** MTI of the message when it could be read before the failure (lets a server answer 30). */
  mti: string | undefined;
  /** The fields decoded before the failure (lets a server echo STAN and terminal in its answer). */
  partial: Record<number, unknown> | undefined;
  constructor(
    readonly field: FieldRef,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`decode: field ${String(field)} at offset ${offset}: ${reason}`);
    this.name = 'DecodeError';
  }
}

/** A value does not fit its field spec (type, length), or the message is not encodable. */
export class EncodeError extends Iso8583Error {
  readonly code = 'ENCODE' as const;
  constructor(
    readonly field: FieldRef,
    readonly reason: string,
  ) {
    super(`encode: field ${String(field)}: ${reason}`);
    this.name = 'EncodeError';
  }
}

/** A stream header is oversized or nonsensical; the connection cannot be resynchronised. */
export class FrameError extends Iso8583Error {
  readonly code = 'FRAME' as const;
  constructor(
    readonly reason: string,
    /** Bytes of the stream consumed before the bad header. */
    readonly offset: number,
  ) {
    super(`frame: ${reason} (stream offset ${offset})`);
    this.name = 'FrameError';
  }
}

export function isIso8583Error(e: unknown): e is Iso8583Error {
  return e instanceof Iso8583Error;
}
