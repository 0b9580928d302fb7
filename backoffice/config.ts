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
});

export type BackofficeConfig = z.infer<typeof backofficeEnv>;
