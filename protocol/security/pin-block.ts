/**
 * ISO 9564-1 PIN blocks:
 * - format 0 (8 bytes, under a 3DES PIN key): PIN field `0 N P..P F..F` xor PAN field
 *   `0000` + the 12 rightmost PAN digits excluding the check digit, then 3DES-ECB;
 * - format 4 (16 bytes, under an AES PIN key, ISO 9564-1:2017): PIN field
 *   `4 N P..P A..A` (16 nibbles) + 8 random bytes; PAN field `M` (PAN length - 12, 0 when
 *   shorter) + the PAN, left-padded with zeros to 12 digits and right-padded with zeros;
 *   enciphered as E_K(E_K(PIN field) xor PAN field).
 *
 * Decoding is strict: control nibble, PIN length 4..12, decimal digits, fill, each a named
 * error. PANs are 8 to 19 digits (ISO/IEC 7812). Errors never show the PIN or the PAN.
 */
import { randomBytes } from 'node:crypto';
import { aesEcb, tdesEcb, xor } from './block.js';
import {
  PanMismatchError,
  PinBlockControlError,
  PinBlockError,
  PinBlockPanError,
  PinDigitError,
  PinFillError,
  PinLengthError,
} from './errors.js';

const PIN_MIN = 4;
const PIN_MAX = 12;

function checkPin(pin: string): void {
  if (pin.length < PIN_MIN || pin.length > PIN_MAX) throw new PinLengthError(pin.length);
  for (let i = 0; i < pin.length; i++) {
    const c = pin.charCodeAt(i);
    if (c < 0x30 || c > 0x39) throw new PinDigitError(i);
  }
}

function checkPan(pan: string): void {
  if (!/^[0-9]{8,19}$/.test(pan)) throw new PinBlockPanError('must be 8 to 19 decimal digits');
}

/**
 * `count` nibbles packed into bytes: `lead`, then the digits of `text` (already checked to be
 * decimal), then `fill`. Written in place: every PIN and PAN field of a message goes through
 * here, on the switch and in the simulator.
 */
function packNibbles(count: number, lead: readonly number[], text: string, fill: number): Buffer {
  const out = Buffer.alloc(count >> 1);
  for (let i = 0; i < count; i++) {
    const t = i - lead.length;
    const v = t < 0 ? lead[i] : t < text.length ? text.charCodeAt(t) - 0x30 : fill;
    out[i >> 1] |= (i & 1) === 0 ? v << 4 : v;
  }
  return out;
}

function nibbleAt(b: Uint8Array, i: number): number {
  return i % 2 === 0 ? b[i >> 1] >>> 4 : b[i >> 1] & 0x0f;
}

// ---- format 0 ----

/** The format 0 PAN field: 0000 + the 12 rightmost digits before the check digit. */
export function panField0(pan: string): Buffer {
  checkPan(pan);
  const body = pan.slice(0, -1).slice(-12).padStart(12, '0');
  return packNibbles(16, [0, 0, 0, 0], body, 0);
}

/** The clear format 0 PIN block (PIN field xor PAN field). */
export function encodePinBlock0(pin: string, pan: string): Buffer {
  checkPin(pin);
  return xor(packNibbles(16, [0, pin.length], pin, 0xf), panField0(pan));
}

/**
 * The PIN of a clear format 0 block. The PAN field covers nibbles 5..16 only: a block that is
 * well formed where the PAN does not reach but not where it does was built for another PAN
 * (or altered there), and is reported as PanMismatchError.
 */
export function decodePinBlock0(block: Uint8Array, pan: string): string {
  if (block.length !== 8) throw new PinBlockError('block-length', `format 0 block must be 8 bytes, got ${block.length}`);
  const field = xor(block, panField0(pan));
  const control = nibbleAt(field, 0);
  if (control !== 0) throw new PinBlockControlError(0, control);
  const n = nibbleAt(field, 1);
  if (n < PIN_MIN || n > PIN_MAX) throw new PinLengthError(n);
  let pin = '';
  for (let i = 0; i < n; i++) {
    const d = nibbleAt(field, 2 + i);
    if (d > 9) {
      if (2 + i >= 4) throw new PanMismatchError('non-digit');
      throw new PinDigitError(i);
    }
    pin += String.fromCharCode(0x30 + d);
  }
  for (let i = 2 + n; i < 16; i++) {
    if (nibbleAt(field, i) !== 0xf) throw new PanMismatchError('fill');
  }
  return pin;
}

/** Format 0 block enciphered under a double- or triple-length 3DES PIN key. */
export function encryptPinBlock0(key: Uint8Array, pin: string, pan: string): Buffer {
  return encryptEncodedPinBlock0(key, encodePinBlock0(pin, pan));
}

/** A clear format 0 block (encodePinBlock0's) enciphered under `key`: for a caller that keeps the clear block of a card. */
export function encryptEncodedPinBlock0(key: Uint8Array, block: Uint8Array): Buffer {
  if (block.length !== 8) throw new PinBlockError('block-length', `format 0 block must be 8 bytes, got ${block.length}`);
  return tdesEcb(key, block);
}

export function decryptPinBlock0(key: Uint8Array, block: Uint8Array, pan: string): string {
  if (block.length !== 8) throw new PinBlockError('block-length', `format 0 block must be 8 bytes, got ${block.length}`);
  return decodePinBlock0(tdesEcb(key, block, true), pan);
}

// ---- format 4 ----

/**
 * The format 4 plain-text PIN field: `4 N PIN A..A` in the first 8 bytes, then 8 random
 * bytes. `fill` replaces the random bytes for published test vectors only.
 */
export function encodePinField4(pin: string, fill?: Uint8Array): Buffer {
  checkPin(pin);
  const random = fill ?? randomBytes(8);
  if (random.length !== 8) throw new RangeError('format 4 fill must be 8 bytes');
  return Buffer.concat([packNibbles(16, [4, pin.length], pin, 0xa), random]);
}

/** The PIN of a clear format 4 PIN field. */
export function decodePinField4(field: Uint8Array): string {
  if (field.length !== 16) throw new PinBlockError('block-length', `format 4 block must be 16 bytes, got ${field.length}`);
  const control = nibbleAt(field, 0);
  if (control !== 4) throw new PinBlockControlError(4, control);
  const n = nibbleAt(field, 1);
  if (n < PIN_MIN || n > PIN_MAX) throw new PinLengthError(n);
  let pin = '';
  for (let i = 0; i < n; i++) {
    const d = nibbleAt(field, 2 + i);
    if (d > 9) throw new PinDigitError(i);
    pin += String.fromCharCode(0x30 + d);
  }
  for (let i = 2 + n; i < 16; i++) {
    if (nibbleAt(field, i) !== 0xa) throw new PinFillError('A');
  }
  return pin;
}

/** The format 4 PAN field: M (PAN length - 12, or 0), the PAN left-padded to 12 digits, zeros. */
export function panField4(pan: string): Buffer {
  checkPan(pan);
  const m = Math.max(0, pan.length - 12);
  return packNibbles(32, [m], pan.padStart(12, '0'), 0);
}

/** Format 4 block enciphered under an AES PIN key: E_K(E_K(PIN field) xor PAN field). */
export function encipherPinBlock4(key: Uint8Array, pin: string, pan: string, fill?: Uint8Array): Buffer {
  const a = aesEcb(key, encodePinField4(pin, fill));
  return aesEcb(key, xor(a, panField4(pan)));
}

/**
 * The PIN of an enciphered format 4 block. Every nibble depends on the PAN and the key, so a
 * block for another PAN or under another key fails as a bad control nibble 15 times in 16,
 * and otherwise on length, digits or fill.
 */
export function decipherPinBlock4(key: Uint8Array, block: Uint8Array, pan: string): string {
  if (block.length !== 16) throw new PinBlockError('block-length', `format 4 block must be 16 bytes, got ${block.length}`);
  const b = aesEcb(key, block, true);
  const a = xor(b, panField4(pan));
  return decodePinField4(aesEcb(key, a, true));
}
