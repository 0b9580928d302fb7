/**
 * AES-CMAC (NIST SP 800-38B, RFC 4493) for AES-128, -192 and -256. node:crypto has no CMAC,
 * so it is built from AES-ECB (the subkeys) and AES-CBC with a zero IV (the chaining).
 */
import { timingSafeEqual } from 'node:crypto';
import { aesCbcLastBlock, aesEcb, xor } from './block.js';
import { MacParameterError } from './errors.js';

const RB = 0x87;

/** Doubling in GF(2^128): shift left one bit, xor Rb when the top bit falls out. */
function dbl(block: Buffer): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = ((block[i] << 1) | (i < 15 ? block[i + 1] >>> 7 : 0)) & 0xff;
  if (block[0] & 0x80) out[15] ^= RB;
  return out;
}

/** The subkeys K1 and K2 of SP 800-38B section 6.1. */
export function cmacSubkeys(key: Uint8Array): [Buffer, Buffer] {
  const l = aesEcb(key, Buffer.alloc(16));
  const k1 = dbl(l);
  return [k1, dbl(k1)];
}

/**
 * Subkeys by key object: a session MACs every message under the same key, and deriving them
 * costs an AES context each time. Held no longer than the key itself (weakly), and only for a
 * key that is not changed in place afterwards (its bytes are checked against the copy kept).
 */
const subkeysOf = new WeakMap<Uint8Array, { key: Buffer; subkeys: [Buffer, Buffer] }>();

function subkeys(key: Uint8Array): [Buffer, Buffer] {
  const held = subkeysOf.get(key);
  if (held && held.key.equals(key)) return held.subkeys;
  const s = cmacSubkeys(key);
  subkeysOf.set(key, { key: Buffer.from(key), subkeys: s });
  return s;
}

/** The full 16-byte AES-CMAC of `data`. */
export function aesCmac(key: Uint8Array, data: Uint8Array): Buffer {
  const [k1, k2] = subkeys(key);
  const n = Math.max(1, Math.ceil(data.length / 16));
  const complete = data.length > 0 && data.length % 16 === 0;
  const m = Buffer.alloc(n * 16);
  m.set(data);
  if (!complete) m[data.length] = 0x80;
  const lastAt = (n - 1) * 16;
  m.set(xor(m.subarray(lastAt), complete ? k1 : k2), lastAt);
  return aesCbcLastBlock(key, m);
}

/** Shortest MAC accepted: SP 800-38B advises at least 64 bits without a further risk analysis. */
export const CMAC_MIN_LENGTH = 8;

/** The leftmost `length` bytes of the CMAC (8 for DE64 / DE128). */
export function aesCmacTruncated(key: Uint8Array, data: Uint8Array, length: number): Buffer {
  if (!Number.isInteger(length) || length < CMAC_MIN_LENGTH || length > 16) {
    throw new MacParameterError(`CMAC length ${length} outside ${CMAC_MIN_LENGTH}..16 bytes`);
  }
  return aesCmac(key, data).subarray(0, length);
}

/**
 * True when `mac` is the CMAC of `data` or its leftmost `mac.length` bytes (8 to 16),
 * compared in constant time. A MAC of any other length is not a match.
 */
export function verifyAesCmac(key: Uint8Array, data: Uint8Array, mac: Uint8Array): boolean {
  const expected = aesCmac(key, data);
  if (mac.length < CMAC_MIN_LENGTH || mac.length > 16) return false;
  return timingSafeEqual(expected.subarray(0, mac.length), mac);
}
