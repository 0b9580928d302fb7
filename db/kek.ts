/**
 * The key-encryption key (KEK) under which terminal keys are stored: 32 bytes, given as 64 hex
 * digits in KEY_ENCRYPTION_KEY. A service refuses to start without one, or with the
 * development value, unless CYNOD_DEV=1 says this is a development setup (the demo sets
 * it); then a missing KEK is the fixed development one, so keys survive a restart. The value is
 * never echoed in an error: parseEnv's messages quote what they got, so it is read here.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from './config.js';

export const KEK_VARIABLE = 'KEY_ENCRYPTION_KEY';
export const DEV_MODE_VARIABLE = 'CYNOD_DEV';

/** Public, hence for development only: refused unless the development mode is explicit. */
export const DEVELOPMENT_KEK: Buffer = createHash('sha256').update('cynod development key-encryption key').digest();

export function devMode(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[DEV_MODE_VARIABLE] === '1';
}

/** The KEK of `env`, or ConfigError naming the variable (never its value). */
export function loadKek(env: NodeJS.ProcessEnv = process.env): Buffer {
  const raw = env[KEK_VARIABLE];
  const dev = devMode(env);
  if (raw === undefined || raw === '') {
    if (dev) return DEVELOPMENT_KEK;
    throw new ConfigError([`${KEK_VARIABLE}: missing (64 hex digits; or ${DEV_MODE_VARIABLE}=1 for development)`]);
  }
  if (!/^[0-9a-fA-F]{64}$/.test(raw)) throw new ConfigError([`${KEK_VARIABLE}: must be 64 hex digits (32 bytes)`]);
  const kek = Buffer.from(raw, 'hex');
  if (!dev && kek.equals(DEVELOPMENT_KEK)) throw new ConfigError([`${KEK_VARIABLE}: the development value is refused unless ${DEV_MODE_VARIABLE}=1`]);
  if (kek.every((b) => b === kek[0])) throw new ConfigError([`${KEK_VARIABLE}: a repeated byte is not a key`]);
  return kek;
}
