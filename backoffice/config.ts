/**
 * The back office's environment: the shared variables (db/config.ts) and its own.
 */
import { z } from 'zod';
import { commonEnv } from '../db/config.js';

export const backofficeEnv = commonEnv.extend({
  BACKOFFICE_HOST: z.string().min(1).default('127.0.0.1'),
  BACKOFFICE_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Longest wait for Redis when invalidating the cache; a write fails (503) rather than wait longer. */
  BACKOFFICE_CACHE_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
  /** Validity of a terminal's security PIN when the request names none. */
  BACKOFFICE_PIN_TTL_SECONDS: z.coerce.number().int().min(60).max(30 * 86_400).default(86_400),
  /** Behind a TLS-terminating proxy: trust its X-Forwarded-* headers (the session cookie is then Secure). */
  BACKOFFICE_TRUST_PROXY: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Lifetime of a bearer token when the request names none. */
  BACKOFFICE_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(30 * 86_400).default(30 * 86_400),
  /** Key of the web pages' session cookie signature (32 characters or more); default: derived from HASH_SECRET. */
  BACKOFFICE_SESSION_SECRET: z.string().min(32).optional(),
  /** A web session ends this long after sign-in. */
  BACKOFFICE_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).max(7 * 86_400).default(8 * 3600),
  /** Failed sign-ins in a row that lock an account ... */
  BACKOFFICE_SIGNIN_MAX_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  /** ... for this long. */
  BACKOFFICE_SIGNIN_LOCK_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
});

export type BackofficeConfig = z.infer<typeof backofficeEnv>;
