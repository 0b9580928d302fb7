/**
 * Typed errors of the security primitives. Messages name the rule that failed and never
 * carry key bytes, PIN digits, PIN blocks or PANs: they may reach a log.
 */

export type SecurityErrorCode = 'KEY' | 'MAC' | 'PIN_BLOCK' | 'UNWRAP' | 'KCV';

export abstract class SecurityError extends Error {
  abstract readonly code: SecurityErrorCode;
}

/** A key of the wrong length or kind for the operation (e.g. a single-length DES key for the retail MAC). */
export class KeyError extends SecurityError {
  readonly code = 'KEY' as const;
  constructor(readonly reason: string) {
    super(`key: ${reason}`);
    this.name = 'KeyError';
  }
}

/** MAC parameters out of range (truncation length, padding method). Not a wrong MAC: verify returns false for that. */
export class MacParameterError extends SecurityError {
  readonly code = 'MAC' as const;
  constructor(readonly reason: string) {
    super(`mac: ${reason}`);
    this.name = 'MacParameterError';
  }
}

export type PinBlockReason =
  | 'block-length'
  | 'control'
  | 'pin-length'
  | 'non-digit'
  | 'fill'
  | 'pan'
  | 'pan-mismatch';

/** A PIN block that cannot be built or does not decode; `reason` says which rule failed. */
export class PinBlockError extends SecurityError {
  readonly code = 'PIN_BLOCK' as const;
  constructor(
    readonly reason: PinBlockReason,
    message: string,
  ) {
    super(`pin block: ${message}`);
    this.name = 'PinBlockError';
  }
}

/** The block is not of the expected format (control nibble), or the wrong key deciphered it. */
export class PinBlockControlError extends PinBlockError {
  constructor(expected: number, found: number) {
    super('control', `control nibble ${found.toString(16).toUpperCase()}, expected ${expected}`);
    this.name = 'PinBlockControlError';
  }
}

/** The PIN length nibble is outside 4..12 (or a PIN to encode has such a length). */
export class PinLengthError extends PinBlockError {
  constructor(length: number) {
    super('pin-length', `PIN length ${length} outside 4..12`);
    this.name = 'PinLengthError';
  }
}

/** A PIN position holds a nibble that is not a decimal digit (or a PIN to encode has a non-digit). */
export class PinDigitError extends PinBlockError {
  constructor(position: number) {
    super('non-digit', `PIN digit ${position + 1} is not a decimal digit`);
    this.name = 'PinDigitError';
  }
}

/** A fill nibble after the PIN is not the format's fill value. */
export class PinFillError extends PinBlockError {
  constructor(expected: string) {
    super('fill', `fill after the PIN is not ${expected}`);
    this.name = 'PinFillError';
  }
}

/** The PAN given to build or check a block is not a PAN the format accepts. */
export class PinBlockPanError extends PinBlockError {
  constructor(rule: string) {
    super('pan', `PAN ${rule}`);
    this.name = 'PinBlockPanError';
  }
}

/**
 * Format 0: the part of the block that the PAN does not touch is well formed, but the part it
 * does is not: the block was built with another PAN (or altered in those nibbles).
 * `detail` says which rule the PAN-covered part broke.
 */
export class PanMismatchError extends PinBlockError {
  constructor(readonly detail: 'non-digit' | 'fill') {
    super('pan-mismatch', `does not decode under this PAN (${detail === 'fill' ? 'fill' : 'PIN digit'} under the PAN field is wrong)`);
    this.name = 'PanMismatchError';
  }
}

/** A wrapped key failed its integrity check (AES key wrap) or is of an impossible length. */
export class UnwrapError extends SecurityError {
  readonly code = 'UNWRAP' as const;
  constructor(readonly reason: string) {
    super(`unwrap: ${reason}`);
    this.name = 'UnwrapError';
  }
}

/** A key's check value differs from the one expected: wrong key, wrong master key or altered transport. */
export class KcvMismatchError extends SecurityError {
  readonly code = 'KCV' as const;
  constructor(readonly what: string) {
    super(`check value of ${what} does not match`);
    this.name = 'KcvMismatchError';
  }
}

export function isSecurityError(e: unknown): e is SecurityError {
  return e instanceof SecurityError;
}
