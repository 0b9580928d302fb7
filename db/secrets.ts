/**
 * Secrets at rest: bearer tokens and transaction codes are stored as keyed or plain
 * SHA-256 digests, terminal PINs with scrypt and a salt. Values are shown once, when made.
 */
import { createHash, createHmac, randomBytes, randomInt, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

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

/**
 * A cardholder PIN as stored and compared: HMAC-SHA256 under the server secret over the card's
 * id and the PIN, so that a copy of the table gives neither the PINs (four digits would fall to
 * brute force under a plain hash) nor two cards sharing one. Hex.
 */
export function cardPinDigest(secret: string, cardId: number, pin: string): string {
  return createHmac('sha256', secret).update(`card-pin:${cardId}:${pin}`).digest('hex');
}

/** Wrong PINs in a row that block a card's PIN (75) until it is set again. */
export const PIN_TRIES = 3;

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

/**
 * Passwords of the web pages: scrypt with a 16-byte salt, stronger than the PINs' settings
 * (N = 2^15, about 100 ms), computed off the event loop so that a sign-in does not stall the
 * other requests.
 */
const PASSWORD_SCRYPT = { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function scryptAsync(password: string, salt: Buffer, length: number, opts: typeof PASSWORD_SCRYPT): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, length, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, PASSWORD_SCRYPT);
  return `scrypt-${PASSWORD_SCRYPT.N}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Whether `password` matches; a missing or malformed stored value never matches (and costs as much). */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const [kind, salt, hash] = (stored ?? '').split('$');
  const ok = kind === `scrypt-${PASSWORD_SCRYPT.N}` && !!salt && !!hash;
  const expected = ok ? Buffer.from(hash, 'base64') : Buffer.alloc(32);
  const got = await scryptAsync(password, ok ? Buffer.from(salt, 'base64') : Buffer.alloc(16), expected.length, PASSWORD_SCRYPT);
  return ok && got.length === expected.length && timingSafeEqual(got, expected);
}

/** A password for a demo or first user: 18 random bytes, base64url (24 characters). */
export function newPassword(): string {
  return randomBytes(18).toString('base64url');
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
