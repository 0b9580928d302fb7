/**
 * Single DES (FIPS 46-3) in TypeScript, for the retail MAC: a CBC-MAC of a whole message under
 * one DES key, then one block deciphered and enciphered again (./retail-mac.ts).
 *
 * Why not node:crypto: OpenSSL 3 offers single DES only in its legacy provider, so the MAC ran
 * as 3DES with both key halves K1, three DES operations a block where one is needed, through a
 * cipher context whose update() allocates its output and crosses into C++ twice a message.
 * Every message of a terminal is MACed by the terminal and verified by the switch: in CPU
 * profiles the MAC was 7-11% of the switch's and 15-16% of the simulator's. Here a block is 16
 * rounds of eight table lookups, in place, on two 32-bit halves.
 *
 * The tables are the standard's (IP, E, P, PC-1, PC-2, the S-boxes, the shifts), turned at load
 * into lookup tables: each S-box folded with P (SP), IP and its inverse by byte. The tests
 * check the standard's S-boxes are permutations per row, a published known answer, and
 * agreement with OpenSSL's DES on random keys and data (test/protocol/security/des.test.ts).
 */

// prettier-ignore
const S_BOXES: readonly (readonly number[])[] = [
  [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
    4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13],
  [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
    0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9],
  [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
    13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12],
  [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
    10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14],
  [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
    4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3],
  [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
    9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13],
  [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
    1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12],
  [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
    7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11],
];

// prettier-ignore
const IP = [
  58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
  57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];
// prettier-ignore
const P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25];
// prettier-ignore
const PC1 = [
  57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
  63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];
// prettier-ignore
const PC2 = [
  14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
  41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];
const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/** The standard's S-boxes, for the tests. */
export const DES_S_BOXES = S_BOXES;

/** Bit `n` (1 = most significant) of a 64-bit block held as two 32-bit halves. */
const bit64 = (hi: number, lo: number, n: number): number => (n <= 32 ? (hi >>> (32 - n)) & 1 : (lo >>> (64 - n)) & 1);

/**
 * SP[j][x]: the E-expanded 6-bit chunk x of S-box j (its first and last bits the row, the four
 * between the column) through the S-box and P, as the bits it sets in the round's 32-bit output.
 */
const SP: Int32Array[] = S_BOXES.map((box, j) => {
  const t = new Int32Array(64);
  for (let x = 0; x < 64; x++) {
    const s = box[(((x >> 4) & 2) | (x & 1)) * 16 + ((x >> 1) & 15)];
    // S-box j writes bits 4j+1..4j+4 (1 = most significant) before P
    const pre = s << (28 - 4 * j);
    let out = 0;
    for (let i = 0; i < 32; i++) if ((pre >>> (31 - (P[i] - 1))) & 1) out |= 1 << (31 - i);
    t[x] = out;
  }
  return t;
});

/**
 * A 64-bit permutation (`table[i]` the input bit of output bit i + 1) as lookups by input byte:
 * [byte position][byte value] -> (hi, lo) of the output bits that byte supplies.
 */
function byteTables(table: readonly number[]): { hi: Int32Array; lo: Int32Array } {
  const hi = new Int32Array(8 * 256);
  const lo = new Int32Array(8 * 256);
  for (let b = 0; b < 8; b++) {
    for (let v = 0; v < 256; v++) {
      for (let i = 0; i < 64; i++) {
        const from = table[i] - 1; // 0-based input bit
        if (from >> 3 !== b || ((v >>> (7 - (from & 7))) & 1) === 0) continue;
        if (i < 32) hi[b * 256 + v] |= 1 << (31 - i);
        else lo[b * 256 + v] |= 1 << (63 - i);
      }
    }
  }
  return { hi, lo };
}

const IP_T = byteTables(IP);
const FP = new Array<number>(64);
for (let i = 0; i < 64; i++) FP[IP[i] - 1] = i + 1;
const FP_T = byteTables(FP);
// each table a binding of its own: desBlock reads them as constants, with no property lookup
const IP_HI = IP_T.hi;
const IP_LO = IP_T.lo;
const FP_HI = FP_T.hi;
const FP_LO = FP_T.lo;
const [SP0, SP1, SP2, SP3, SP4, SP5, SP6, SP7] = SP;

/** A DES key's 16 round keys, as 8 six-bit chunks each (128 entries), in enciphering order. */
export type DesSchedule = Int32Array;

export function desSchedule(key: Uint8Array): DesSchedule {
  if (key.length !== 8) throw new RangeError(`DES key must be 8 bytes, got ${key.length}`);
  const hi = ((key[0] << 24) | (key[1] << 16) | (key[2] << 8) | key[3]) >>> 0;
  const lo = ((key[4] << 24) | (key[5] << 16) | (key[6] << 8) | key[7]) >>> 0;
  let c = 0;
  let d = 0;
  for (let i = 0; i < 28; i++) c = (c << 1) | bit64(hi, lo, PC1[i]);
  for (let i = 28; i < 56; i++) d = (d << 1) | bit64(hi, lo, PC1[i]);
  const out = new Int32Array(128);
  const rot28 = (v: number, n: number): number => ((v << n) | (v >>> (28 - n))) & 0xfffffff;
  for (let r = 0; r < 16; r++) {
    c = rot28(c, SHIFTS[r]);
    d = rot28(d, SHIFTS[r]);
    // CD as 56 bits, bit 1 the most significant of c
    for (let j = 0; j < 8; j++) {
      let chunk = 0;
      for (let k = 0; k < 6; k++) {
        const n = PC2[j * 6 + k];
        const b = n <= 28 ? (c >>> (28 - n)) & 1 : (d >>> (56 - n)) & 1;
        chunk = (chunk << 1) | b;
      }
      out[r * 8 + j] = chunk;
    }
  }
  return out;
}

/** The round keys in deciphering order (the rounds reversed). */
export function desInverse(s: DesSchedule): DesSchedule {
  const out = new Int32Array(128);
  for (let r = 0; r < 16; r++) out.set(s.subarray((15 - r) * 8, (16 - r) * 8), r * 8);
  return out;
}

/** One block, its halves in `io` ([0] = first four bytes, big-endian), replaced by the result. */
export function desBlock(s: DesSchedule, io: Int32Array): void {
  const ih = io[0];
  const il = io[1];
  let l =
    IP_HI[(ih >>> 24) & 255] | IP_HI[256 + ((ih >>> 16) & 255)] | IP_HI[512 + ((ih >>> 8) & 255)] | IP_HI[768 + (ih & 255)] |
    IP_HI[1024 + ((il >>> 24) & 255)] | IP_HI[1280 + ((il >>> 16) & 255)] | IP_HI[1536 + ((il >>> 8) & 255)] | IP_HI[1792 + (il & 255)];
  let r =
    IP_LO[(ih >>> 24) & 255] | IP_LO[256 + ((ih >>> 16) & 255)] | IP_LO[512 + ((ih >>> 8) & 255)] | IP_LO[768 + (ih & 255)] |
    IP_LO[1024 + ((il >>> 24) & 255)] | IP_LO[1280 + ((il >>> 16) & 255)] | IP_LO[1536 + ((il >>> 8) & 255)] | IP_LO[1792 + (il & 255)];
  for (let k = 0; k < 128; k += 8) {
    // E(r)'s chunk j is r's bits 4j..4j+5 (bit 0 being bit 32): r rotated right by 27 - 4j
    const f =
      SP0[(((r >>> 27) | (r << 5)) & 63) ^ s[k]] |
      SP1[(((r >>> 23) | (r << 9)) & 63) ^ s[k + 1]] |
      SP2[(((r >>> 19) | (r << 13)) & 63) ^ s[k + 2]] |
      SP3[(((r >>> 15) | (r << 17)) & 63) ^ s[k + 3]] |
      SP4[(((r >>> 11) | (r << 21)) & 63) ^ s[k + 4]] |
      SP5[(((r >>> 7) | (r << 25)) & 63) ^ s[k + 5]] |
      SP6[(((r >>> 3) | (r << 29)) & 63) ^ s[k + 6]] |
      SP7[(((r << 1) | (r >>> 31)) & 63) ^ s[k + 7]];
    const t = r;
    r = l ^ f;
    l = t;
  }
  // the last round's halves are not swapped: R16 L16 goes through IP^-1
  io[0] =
    FP_HI[(r >>> 24) & 255] | FP_HI[256 + ((r >>> 16) & 255)] | FP_HI[512 + ((r >>> 8) & 255)] | FP_HI[768 + (r & 255)] |
    FP_HI[1024 + ((l >>> 24) & 255)] | FP_HI[1280 + ((l >>> 16) & 255)] | FP_HI[1536 + ((l >>> 8) & 255)] | FP_HI[1792 + (l & 255)];
  io[1] =
    FP_LO[(r >>> 24) & 255] | FP_LO[256 + ((r >>> 16) & 255)] | FP_LO[512 + ((r >>> 8) & 255)] | FP_LO[768 + (r & 255)] |
    FP_LO[1024 + ((l >>> 24) & 255)] | FP_LO[1280 + ((l >>> 16) & 255)] | FP_LO[1536 + ((l >>> 8) & 255)] | FP_LO[1792 + (l & 255)];
}

const word = (b: Uint8Array, at: number): number => (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];

/** ECB over whole 8-byte blocks. */
export function desEcbBlocks(s: DesSchedule, data: Uint8Array): Buffer {
  if (data.length % 8 !== 0) throw new RangeError('DES data must be a multiple of 8 bytes');
  const out = Buffer.allocUnsafe(data.length);
  const io = new Int32Array(2);
  for (let at = 0; at < data.length; at += 8) {
    io[0] = word(data, at);
    io[1] = word(data, at + 4);
    desBlock(s, io);
    out.writeInt32BE(io[0], at);
    out.writeInt32BE(io[1], at + 4);
  }
  return out;
}

/**
 * CBC with a zero IV over `length` bytes of `data` from `at` (whole blocks): the chaining value
 * after the last block, as halves in `io`, which holds the value to start from (zeros for a
 * zero IV).
 */
export function desCbcChain(s: DesSchedule, data: Uint8Array, at: number, length: number, io: Int32Array): void {
  if (length % 8 !== 0) throw new RangeError('DES data must be a multiple of 8 bytes');
  for (let p = at; p < at + length; p += 8) {
    io[0] ^= word(data, p);
    io[1] ^= word(data, p + 4);
    desBlock(s, io);
  }
}
