/**
 * Secrets at rest: bearer tokens and transaction codes are stored as keyed or plain
 * SHA-256 digests, terminal PINs with scrypt and a salt. Values are shown once, when made.
 */
import { createHash, createHmac, randomBytes, randomInt, scryptSync, timingSafeEqual } from 'node:crypto';

/** Tokens are 32 random bytes: a plain SHA-256 is enough to store them. */
export function newToken(): string {
  return 'cyn_' + randomBytes(32).toString('base64url');
}

export function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * Transaction codes are short digit strings: they are stored as HMAC-SHA256 under a server
 * secret (HASH_SECRET), so a copy of the table does not give them away by brute force.
 */
export function codeHash(code: string, secret: string): string {
  return createHmac('sha256', secret).update(`code:${code}`).digest('hex');
}

export function newCode(digits = 10): string {
  let s = '';
  for (let i = 0; i < digits; i++) s += String(randomInt(10));
  return s;
}

export function newPin(): string {
  return String(randomInt(10000)).padStart(4, '0');
}

const SCRYPT = { N: 16384, r: 8, p: 1 };

export function hashPin(pin: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(pin, salt, 32, SCRYPT);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function verifyPin(pin: string, stored: string): boolean {
  const [kind, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const got = scryptSync(pin, Buffer.from(salt, 'base64'), expected.length, SCRYPT);
  return timingSafeEqual(got, expected);
}

/** Luhn check digit of a digit string. */
export function luhnDigit(digits: string): string {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

export function luhnValid(pan: string): boolean {
  return /^[0-9]{12,19}$/.test(pan) && luhnDigit(pan.slice(0, -1)) === pan.slice(-1);
}

/** Issuer identification number of the network's cards (configurable later). */
export const CARD_BIN = '628000';

export function newPan(bin = CARD_BIN, length = 16): string {
  let body = bin;
  while (body.length < length - 1) body += String(randomInt(10));
  return body + luhnDigit(body);
}
