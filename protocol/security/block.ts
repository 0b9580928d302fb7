/**
 * Single-block DES, 3DES and AES in ECB through node:crypto, for the MAC, PIN-block and
 * key primitives. Single DES is 3DES with K1 = K2 (EDE collapses to E), which avoids
 * OpenSSL 3's legacy provider.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { KeyError } from './errors.js';

function tdesAlgorithm(key: Uint8Array): string {
  if (key.length === 16) return 'des-ede-ecb';
  if (key.length === 24) return 'des-ede3-ecb';
  throw new KeyError(`3DES key must be 16 or 24 bytes, got ${key.length}`);
}

export function aesAlgorithm(key: Uint8Array, mode: 'ecb' | 'cbc'): string {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new KeyError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
  return `aes-${key.length * 8}-${mode}`;
}

function run(algorithm: string, key: Uint8Array, data: Uint8Array, decrypt: boolean, iv: Uint8Array | null = null): Buffer {
  const c = decrypt ? createDecipheriv(algorithm, key, iv) : createCipheriv(algorithm, key, iv);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

export function tdesEcb(key: Uint8Array, data: Uint8Array, decrypt = false): Buffer {
  if (data.length % 8 !== 0) throw new RangeError('3DES data must be a multiple of 8 bytes');
  return run(tdesAlgorithm(key), key, data, decrypt);
}

/** Single DES under an 8-byte key. */
export function desEcb(key: Uint8Array, data: Uint8Array, decrypt = false): Buffer {
  if (key.length !== 8) throw new KeyError(`DES key must be 8 bytes, got ${key.length}`);
  return run('des-ede-ecb', Buffer.concat([key, key]), data, decrypt);
}

/** Single-DES CBC with a zero IV: the chaining of the retail MAC. */
export function desCbcLastBlock(key: Uint8Array, data: Uint8Array): Buffer {
  if (key.length !== 8) throw new KeyError(`DES key must be 8 bytes, got ${key.length}`);
  const out = run('des-ede-cbc', Buffer.concat([key, key]), data, false, Buffer.alloc(8));
  return out.subarray(out.length - 8);
}

export function aesEcb(key: Uint8Array, data: Uint8Array, decrypt = false): Buffer {
  if (data.length % 16 !== 0) throw new RangeError('AES data must be a multiple of 16 bytes');
  return run(aesAlgorithm(key, 'ecb'), key, data, decrypt);
}

/** AES-CBC with a zero IV, last block only: the chaining of CMAC. */
export function aesCbcLastBlock(key: Uint8Array, data: Uint8Array): Buffer {
  const out = run(aesAlgorithm(key, 'cbc'), key, data, false, Buffer.alloc(16));
  return out.subarray(out.length - 16);
}

export function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ (b[i] ?? 0);
  return out;
}
