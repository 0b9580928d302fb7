/**
 * ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC", ANSI X9.19) with DES and a double-length key
 * K = K1 || K2: single-DES CBC under K1 with a zero IV (initial transformation 1), then the
 * last block deciphered under K2 and enciphered under K1 (output transformation 3). The MAC is
 * the full 8-byte block; callers that carry fewer bytes truncate on the left part.
 *
 * Padding method 1 (the one most terminals and jPOS use): zero bytes are appended until the
 * length is a multiple of 8. Data whose length is already a multiple of 8 gets no padding, and
 * empty data is MACed as one block of zeros (as BouncyCastle's ISO9797Alg3Mac does). Method 1
 * is ambiguous — `data` and `data || 00` have the same MAC — which is harmless only when the
 * MACed bytes carry their own lengths, as a packed ISO 8583 message does (bitmap, length
 * prefixes).
 * Padding method 2 (one 0x80 byte, then zeros, always at least one byte) is offered for
 * peers that use it.
 */
import { timingSafeEqual } from 'node:crypto';
import { desCbcLastBlock, tdesEcb } from './block.js';
import { KeyError, MacParameterError } from './errors.js';

export type MacPadding = 1 | 2;

export interface RetailMacOptions {
  /** ISO/IEC 9797-1 padding method: 1 (zeros, default) or 2 (0x80 then zeros). */
  padding?: MacPadding;
}

/** Pads `data` to a multiple of `n` bytes by ISO/IEC 9797-1 padding method 1 or 2. */
export function pad9797(data: Uint8Array, n: number, method: MacPadding): Buffer {
  if (method === 2) {
    const len = (Math.floor(data.length / n) + 1) * n;
    const out = Buffer.alloc(len);
    out.set(data);
    out[data.length] = 0x80;
    return out;
  }
  if (method !== 1) throw new MacParameterError(`padding method ${String(method)} is not 1 or 2`);
  const len = data.length === 0 ? n : Math.ceil(data.length / n) * n;
  const out = Buffer.alloc(len);
  out.set(data);
  return out;
}

function splitKey(key: Uint8Array): [Buffer, Buffer] {
  if (key.length !== 16) throw new KeyError(`retail MAC key must be 16 bytes (double-length 3DES), got ${key.length}`);
  const k1 = Buffer.from(key.subarray(0, 8));
  const k2 = Buffer.from(key.subarray(8, 16));
  // Equal halves make output transformation 3 a no-op: the MAC would be a single-DES CBC-MAC.
  if (k1.equals(k2)) throw new KeyError('retail MAC key halves are equal (single-length key)');
  return [k1, k2];
}

/**
 * The 8-byte retail MAC of `data` under the 16-byte key. Output transformation 3 on the last
 * chaining block is E(K1, D(K2, E(K1, H' xor last))), H' the chaining value before the last
 * block: that is two-key 3DES (EDE) of `H' xor last` under K1 || K2. So single-DES CBC runs
 * over all blocks but the last, and one 3DES block ends it: two cipher contexts per MAC
 * instead of three, on the path every message takes.
 */
export function retailMac(key: Uint8Array, data: Uint8Array, options: RetailMacOptions = {}): Buffer {
  const [k1] = splitKey(key);
  const padded = pad9797(data, 8, options.padding ?? 1);
  const lastAt = padded.length - 8;
  const last = padded.subarray(lastAt);
  if (lastAt > 0) {
    const chain = desCbcLastBlock(k1, padded.subarray(0, lastAt));
    for (let i = 0; i < 8; i++) last[i] ^= chain[i];
  }
  return tdesEcb(key, last);
}

/**
 * True when `mac` is the retail MAC of `data`, or its leftmost `mac.length` bytes (4 to 8).
 * Compared in constant time; a MAC of another length is simply not a match.
 */
export function verifyRetailMac(key: Uint8Array, data: Uint8Array, mac: Uint8Array, options: RetailMacOptions = {}): boolean {
  const expected = retailMac(key, data, options);
  if (mac.length < 4 || mac.length > 8) return false;
  return timingSafeEqual(expected.subarray(0, mac.length), mac);
}
