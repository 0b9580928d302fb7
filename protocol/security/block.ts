/**
 * 3DES in ECB over ./des.ts, and AES in ECB and AES-CBC's last block through node:crypto, for
 * the PIN-block, key and AES-CMAC primitives.
 *
 * 3DES runs in TypeScript, as the retail MAC's single DES does (docs/architecture.md, "The
 * retail MAC in TypeScript"): a PIN block is one 8-byte block, and through a kept OpenSSL
 * context it cost more in the call (its key looked up, the input converted, an output buffer
 * made) than in the cipher. Round keys are kept per key.
 *
 * AES cipher contexts are kept per algorithm, direction and key and never finished: with
 * padding off, update() on whole blocks returns every block at once, so one context serves any
 * number of calls. Making a context costs OpenSSL 3 a provider lookup, 2.5-4.5 µs, as much as
 * the blocks of a whole message: under AES keys every message is MACed (AES-CMAC) and many
 * carry a PIN block (format 4). ECB keeps no
 * state between calls. CBC's state is its last ciphertext block, which `cbcLastBlock` cancels
 * in the first block of the next call (C1 = E(P1 xor state xor state)), so every call starts
 * from a zero IV as if the context were new. A call that fails drops its context.
 */
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { desBlock, desInverse, desSchedule, type DesSchedule } from './des.js';
import { KeyError } from './errors.js';

interface Context {
  c: Cipher | Decipher;
  /** CBC: the last ciphertext block the context produced (its chaining value). */
  chain: Buffer | undefined;
}

/** At most this many contexts are kept (a switch holds two or three per terminal key); past it they are all dropped. */
const MAX_CONTEXTS = 8192;
const contexts = new Map<string, Context>();

function contextId(algorithm: string, key: Uint8Array, decrypt: boolean): string {
  return `${algorithm}/${decrypt ? 'd' : 'e'}/${Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1')}`;
}

function context(id: string, algorithm: string, key: Uint8Array, decrypt: boolean, cbcBlock = 0): Context {
  let ctx = contexts.get(id);
  if (ctx === undefined) {
    if (contexts.size >= MAX_CONTEXTS) contexts.clear();
    const iv = cbcBlock > 0 ? Buffer.alloc(cbcBlock) : null;
    const c = decrypt ? createDecipheriv(algorithm, key, iv) : createCipheriv(algorithm, key, iv);
    c.setAutoPadding(false);
    ctx = { c, chain: cbcBlock > 0 ? Buffer.alloc(cbcBlock) : undefined };
    contexts.set(id, ctx);
  }
  return ctx;
}

/** Drops every kept context and 3DES key schedule (tests compare kept and fresh ones). */
export function dropCipherContexts(): void {
  contexts.clear();
  tdesKeys.clear();
}

export function aesAlgorithm(key: Uint8Array, mode: 'ecb' | 'cbc'): string {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new KeyError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
  return `aes-${key.length * 8}-${mode}`;
}

/** ECB over whole blocks under a kept context. */
function run(algorithm: string, key: Uint8Array, data: Uint8Array, decrypt: boolean): Buffer {
  const id = contextId(algorithm, key, decrypt);
  const ctx = context(id, algorithm, key, decrypt);
  try {
    const out = ctx.c.update(data);
    if (out.length !== data.length) throw new RangeError(`${algorithm}: ${out.length} bytes out for ${data.length} in`);
    return out;
  } catch (e) {
    contexts.delete(id);
    throw e;
  }
}

/** CBC with a zero IV over `data` (whole blocks of `n` bytes, at least one): its last block. */
function cbcLastBlock(algorithm: string, key: Uint8Array, data: Uint8Array, n: number): Buffer {
  if (data.length === 0 || data.length % n !== 0) throw new RangeError(`CBC data must be whole ${n}-byte blocks`);
  const id = contextId(algorithm, key, false);
  const ctx = context(id, algorithm, key, false, n);
  try {
    const chain = ctx.chain as Buffer;
    const first = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) first[i] = data[i] ^ chain[i];
    let out = ctx.c.update(first);
    if (out.length !== n) throw new RangeError(`${algorithm}: ${out.length} bytes out for ${n} in`);
    if (data.length > n) {
      out = ctx.c.update(data.subarray(n));
      if (out.length !== data.length - n) throw new RangeError(`${algorithm}: ${out.length} bytes out for ${data.length - n} in`);
    }
    const last = Buffer.from(out.subarray(out.length - n));
    ctx.chain = last;
    return Buffer.from(last); // the caller's to change; the context keeps its own
  } catch (e) {
    contexts.delete(id);
    throw e;
  }
}

/** A 3DES key's round keys: each pass of EDE enciphering, and of its inverse, deciphering. */
interface TdesSchedules {
  encrypt: [DesSchedule, DesSchedule, DesSchedule];
  decrypt: [DesSchedule, DesSchedule, DesSchedule];
}

/** By key (its bytes as latin1 text), at most MAX_CONTEXTS of them, as the contexts above. */
const tdesKeys = new Map<string, TdesSchedules>();

function tdesSchedules(key: Uint8Array): TdesSchedules {
  if (key.length !== 16 && key.length !== 24) throw new KeyError(`3DES key must be 16 or 24 bytes, got ${key.length}`);
  const id = Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
  let s = tdesKeys.get(id);
  if (s === undefined) {
    // a double-length key is K1 K2 K1
    const k1 = desSchedule(key.subarray(0, 8));
    const k2 = desSchedule(key.subarray(8, 16));
    const k3 = key.length === 24 ? desSchedule(key.subarray(16, 24)) : k1;
    // E(K3, D(K2, E(K1, p))); deciphering: D(K1, E(K2, D(K3, c)))
    s = { encrypt: [k1, desInverse(k2), k3], decrypt: [desInverse(k3), k2, desInverse(k1)] };
    if (tdesKeys.size >= MAX_CONTEXTS) tdesKeys.clear();
    tdesKeys.set(id, s);
  }
  return s;
}

export function tdesEcb(key: Uint8Array, data: Uint8Array, decrypt = false): Buffer {
  if (data.length % 8 !== 0) throw new RangeError('3DES data must be a multiple of 8 bytes');
  const s = tdesSchedules(key);
  const [a, b, c] = decrypt ? s.decrypt : s.encrypt;
  // its own memory, not a slice of Buffer's shared pool: the output may be a clear PIN block or key
  const out = Buffer.alloc(data.length);
  const io = new Int32Array(2);
  for (let at = 0; at < data.length; at += 8) {
    io[0] = (data[at] << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3];
    io[1] = (data[at + 4] << 24) | (data[at + 5] << 16) | (data[at + 6] << 8) | data[at + 7];
    desBlock(a, io);
    desBlock(b, io);
    desBlock(c, io);
    out.writeInt32BE(io[0], at);
    out.writeInt32BE(io[1], at + 4);
  }
  return out;
}

export function aesEcb(key: Uint8Array, data: Uint8Array, decrypt = false): Buffer {
  if (data.length % 16 !== 0) throw new RangeError('AES data must be a multiple of 16 bytes');
  return run(aesAlgorithm(key, 'ecb'), key, data, decrypt);
}

/** AES-CBC with a zero IV, last block only: the chaining of CMAC. */
export function aesCbcLastBlock(key: Uint8Array, data: Uint8Array): Buffer {
  return cbcLastBlock(aesAlgorithm(key, 'cbc'), key, data, 16);
}

export function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ (b[i] ?? 0);
  return out;
}
