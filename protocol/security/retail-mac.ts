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
import { desBlock, desCbcChain, desInverse, desSchedule, type DesSchedule } from './des.js';
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

interface MacSchedules {
  /** K1, enciphering. */
  k1: DesSchedule;
  /** K2, deciphering. */
  k2: DesSchedule;
}

/** Round keys by key (its bytes as latin1 text): a switch verifies with a few keys per terminal. */
const schedules = new Map<string, MacSchedules>();
const MAX_SCHEDULES = 8192;

function macSchedules(key: Uint8Array): MacSchedules {
  if (key.length !== 16) throw new KeyError(`retail MAC key must be 16 bytes (double-length 3DES), got ${key.length}`);
  const id = Buffer.from(key.buffer, key.byteOffset, 16).toString('latin1');
  let s = schedules.get(id);
  if (s === undefined) {
    const k1 = key.subarray(0, 8);
    const k2 = key.subarray(8, 16);
    // Equal halves make output transformation 3 a no-op: the MAC would be a single-DES CBC-MAC.
    if (Buffer.from(k1).equals(k2)) throw new KeyError('retail MAC key halves are equal (single-length key)');
    if (schedules.size >= MAX_SCHEDULES) schedules.clear();
    s = { k1: desSchedule(k1), k2: desInverse(desSchedule(k2)) };
    schedules.set(id, s);
  }
  return s;
}

/**
 * The 8-byte retail MAC of `data` under the 16-byte key: DES-CBC under K1 over the padded data
 * (whole blocks read in place, the padded tail from pad9797), then the last
 * chaining value deciphered under K2 and enciphered under K1.
 */
export function retailMac(key: Uint8Array, data: Uint8Array, options: RetailMacOptions = {}): Buffer {
  const s = macSchedules(key);
  const method = options.padding ?? 1;
  if (method !== 1 && method !== 2) throw new MacParameterError(`padding method ${String(method)} is not 1 or 2`);
  const whole = data.length - (data.length % 8);
  const io = new Int32Array(2);
  desCbcChain(s.k1, data, 0, whole, io);
  // the padded tail (pad9797's rule): a partial block, or a block of its own for padding 2 and
  // for empty data; padding 1 adds nothing to whole blocks
  if (whole < data.length || method === 2 || data.length === 0) desCbcChain(s.k1, pad9797(data.subarray(whole), 8, method), 0, 8, io);
  desBlock(s.k2, io);
  desBlock(s.k1, io);
  const out = Buffer.allocUnsafe(8);
  out.writeInt32BE(io[0], 0);
  out.writeInt32BE(io[1], 4);
  return out;
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
