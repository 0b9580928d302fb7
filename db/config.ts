/**
 * Environment variables shared by the services (switch, back office, CLIs), validated with
 * zod at start. Each service extends `commonEnv` with its own variables; `parseEnv` turns
 * every bad value into one line naming the variable.
 */
import { z } from 'zod';

export const commonEnv = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/test'),
  DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier')
    .default('cynod'),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  /** redis://host:port, or memory:// for a cache inside the process (one switch process only). */
  REDIS_URL: z
    .string()
    .regex(/^(rediss?:\/\/|memory:\/\/$)/, 'must be a redis:// URL (or memory:// for an in-process cache)')
    .default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key and channel (lets several deployments or tests share a Redis). */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]{1,64}$/, 'letters, digits and _ : . - only')
    .default('cynod:'),
  /** Key of the HMACs that hide transaction codes and PANs (must be the same for switch and back office). */
  HASH_SECRET: z.string().min(16, 'must be at least 16 characters').default('cynod-development-secret-change-me'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type CommonEnv = z.infer<typeof commonEnv>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses `env` (default process.env) with `schema`; throws ConfigError listing every bad variable. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings count as unset, so `VAR= make start` falls back to the default.
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') cleaned[k] = v;
  const r = schema.safeParse(cleaned);
  if (r.success) return r.data;
  throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}${i.path.length ? ` (got ${JSON.stringify(cleaned[String(i.path[0])] ?? null)})` : ''}`));
}
