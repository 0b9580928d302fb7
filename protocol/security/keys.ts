/**
 * Key handling for terminal keys: generation, check values (KCV), clear components for key
 * injection, and wrapping of working keys under a master key.
 *
 * - KCV, 3DES: the first 3 bytes of 8 zero bytes enciphered under the key (ANSI X9.24-1:2017
 *   7.7.2, "legacy" check value).
 * - KCV, AES: the first 5 bytes (or 3, for displays that show 6 hex digits) of the AES-CMAC of
 *   16 zero bytes (ANSI X9.24-1:2017 annex A.3).
 * - Components: 2 or 3 random values whose XOR is the key; DES components have odd parity,
 *   so the combined key is parity-adjusted after the XOR (as an HSM's "form key" does).
 * - Wrapping: a 3DES key under a 3DES master key is 3DES-ECB of its 8-byte blocks; an AES key
 *   under an AES master key is AES key wrap (RFC 3394). A master key never wraps a longer
 *   key, nor a key of the other algorithm (weaker never protects stronger).
 */
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { aesCmac } from './aes-cmac.js';
import { aesAlgorithm, tdesEcb } from './block.js';
import { KcvMismatchError, KeyError, UnwrapError } from './errors.js';

export type KeyAlgorithm = 'tdes' | 'aes';

const TDES_LENGTHS = [16, 24];
const AES_LENGTHS = [16, 24, 32];

function checkKey(algorithm: KeyAlgorithm, key: Uint8Array, what = 'key'): void {
  const lengths = algorithm === 'tdes' ? TDES_LENGTHS : AES_LENGTHS;
  if (!lengths.includes(key.length)) {
    throw new KeyError(`${algorithm === 'tdes' ? '3DES' : 'AES'} ${what} must be ${lengths.join(', ')} bytes, got ${key.length}`);
  }
}

/** Sets the low bit of each byte so that every byte has an odd number of 1 bits (DES parity). */
export function withOddParity(key: Uint8Array): Buffer {
  const out = Buffer.from(key);
  for (let i = 0; i < out.length; i++) {
    let b = out[i] & 0xfe;
    let ones = 0;
    for (let v = b; v; v >>= 1) ones += v & 1;
    if (ones % 2 === 0) b |= 1;
    out[i] = b;
  }
  return out;
}

export function hasOddParity(key: Uint8Array): boolean {
  return withOddParity(key).equals(Buffer.from(key));
}

/** A random key: 3DES keys with odd parity and distinct 8-byte parts (so never single DES). */
export function generateKey(algorithm: KeyAlgorithm, length = 16): Buffer {
  checkKey(algorithm, Buffer.alloc(length));
  if (algorithm === 'aes') return randomBytes(length);
  for (;;) {
    const key = withOddParity(randomBytes(length));
    const k1 = key.subarray(0, 8);
    const k2 = key.subarray(8, 16);
    const k3 = key.subarray(16);
    if (!k1.equals(k2) && !(k3.length && k2.equals(k3))) return key;
  }
}

/** The key check value: 3 bytes by default for 3DES, 5 for AES (3 also allowed). */
export function kcv(algorithm: KeyAlgorithm, key: Uint8Array, length = algorithm === 'tdes' ? 3 : 5): Buffer {
  checkKey(algorithm, key);
  if (algorithm === 'tdes') {
    if (length < 2 || length > 8) throw new RangeError('3DES check value length must be 2..8 bytes');
    return tdesEcb(key, Buffer.alloc(8)).subarray(0, length);
  }
  if (length < 2 || length > 16) throw new RangeError('AES check value length must be 2..16 bytes');
  return aesCmac(key, Buffer.alloc(16)).subarray(0, length);
}

/** True when `expected` (any accepted length) is the check value of `key`; constant time. */
export function kcvMatches(algorithm: KeyAlgorithm, key: Uint8Array, expected: Uint8Array): boolean {
  if (expected.length < 2 || expected.length > (algorithm === 'tdes' ? 8 : 16)) return false;
  return timingSafeEqual(kcv(algorithm, key, expected.length), expected);
}

export interface KeyComponent {
  value: Buffer;
  kcv: Buffer;
}

/** Splits `key` into `count` clear components, each with its check value, for key injection. */
export function splitKey(algorithm: KeyAlgorithm, key: Uint8Array, count: 2 | 3 = 2): KeyComponent[] {
  checkKey(algorithm, key);
  if (count !== 2 && count !== 3) throw new RangeError('a key is split into 2 or 3 components');
  const parts: Buffer[] = [];
  let rest: Buffer = Buffer.from(key);
  for (let i = 0; i < count - 1; i++) {
    const c = algorithm === 'tdes' ? generateKey('tdes', key.length) : randomBytes(key.length);
    parts.push(c);
    rest = xorInto(rest, c);
  }
  parts.push(algorithm === 'tdes' ? withOddParity(rest) : rest);
  return parts.map((value) => ({ value, kcv: kcv(algorithm, value) }));
}

/**
 * The key formed by XOR of its components (parity-adjusted for 3DES). When `expectedKcv` is
 * given, the result must have it (KcvMismatchError otherwise): a mistyped component is
 * caught before the key is used.
 */
export function combineComponents(algorithm: KeyAlgorithm, components: Uint8Array[], expectedKcv?: Uint8Array): Buffer {
  if (components.length < 2 || components.length > 3) throw new RangeError('a key is formed from 2 or 3 components');
  const len = components[0].length;
  components.forEach((c, i) => {
    checkKey(algorithm, c, `component ${i + 1}`);
    if (c.length !== len) throw new KeyError('components differ in length');
  });
  let key: Buffer = Buffer.alloc(len);
  for (const c of components) key = xorInto(key, c);
  if (algorithm === 'tdes') key = withOddParity(key);
  if (expectedKcv && !kcvMatches(algorithm, key, expectedKcv)) throw new KcvMismatchError('the combined key');
  return key;
}

function xorInto(a: Buffer, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

export interface WrappedKey {
  /** The key enciphered under the master key. */
  wrapped: Buffer;
  /** The check value of the clear key (3 bytes for 3DES, 5 for AES). */
  kcv: Buffer;
}

const RFC3394_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

function aesWrapAlgorithm(kek: Uint8Array): string {
  aesAlgorithm(kek, 'ecb');
  return `id-aes${kek.length * 8}-wrap`;
}

/** `key` enciphered under the master key `kek` of the same algorithm, with its check value. */
export function wrapKey(algorithm: KeyAlgorithm, kek: Uint8Array, key: Uint8Array): WrappedKey {
  checkKey(algorithm, kek, 'master key');
  checkKey(algorithm, key);
  if (key.length > kek.length) throw new KeyError('a master key never wraps a longer key');
  if (algorithm === 'tdes') return { wrapped: tdesEcb(kek, key), kcv: kcv('tdes', key) };
  const c = createCipheriv(aesWrapAlgorithm(kek), kek, RFC3394_IV);
  return { wrapped: Buffer.concat([c.update(key), c.final()]), kcv: kcv('aes', key) };
}

/**
 * The clear key of `wrapped`, checked against `expectedKcv` (KcvMismatchError when it
 * differs; for AES, an altered wrap fails RFC 3394's integrity check first: UnwrapError).
 */
export function unwrapKey(algorithm: KeyAlgorithm, kek: Uint8Array, wrapped: Uint8Array, expectedKcv: Uint8Array): Buffer {
  checkKey(algorithm, kek, 'master key');
  let key: Buffer;
  if (algorithm === 'tdes') {
    if (!TDES_LENGTHS.includes(wrapped.length)) throw new UnwrapError(`a wrapped 3DES key is 16 or 24 bytes, got ${wrapped.length}`);
    key = tdesEcb(kek, wrapped, true);
  } else {
    if (![24, 32, 40].includes(wrapped.length)) throw new UnwrapError(`a wrapped AES key is 24, 32 or 40 bytes, got ${wrapped.length}`);
    try {
      const d = createDecipheriv(aesWrapAlgorithm(kek), kek, RFC3394_IV);
      key = Buffer.concat([d.update(wrapped), d.final()]);
    } catch {
      // OpenSSL's message says nothing useful and nothing secret; ours names the rule.
      throw new UnwrapError('integrity check failed (wrong master key or altered data)');
    }
  }
  if (key.length > kek.length) throw new UnwrapError('a master key never wraps a longer key');
  if (!kcvMatches(algorithm, key, expectedKcv)) throw new KcvMismatchError('the unwrapped key');
  return key;
}
