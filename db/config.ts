/**
 * Environment variables shared by the services (switch, back office, CLIs), validated with
 * zod at start. Each service extends `commonEnv` with its own variables; `parseEnv` turns
 * every bad value into one line naming the variable.
 */
import { z } from 'zod';

/** The public development value of HASH_SECRET: what an unset HASH_SECRET means. */
export const DEV_HASH_SECRET = 'cynod-development-secret-change-me';

/** The default schema: the one a production switch uses. */
export const PRODUCTION_SCHEMA = 'cynod';

/** Variables whose values an error message never shows. */
const SECRET_NAME = /SECRET|KEY|TOKEN|PASSWORD/;

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
  HASH_SECRET: z.string().min(16, 'must be at least 16 characters').default(DEV_HASH_SECRET),
  /** 1: development mode, where the public development secrets are accepted (the demo, tests, benchmarks). */
  CYNOD_DEV: z.enum(['0', '1'], { message: 'must be 0 or 1' }).default('0'),
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
  const got = (name: string): string => (SECRET_NAME.test(name) ? ' (value not shown)' : ` (got ${JSON.stringify(cleaned[name] ?? null)})`);
  throw new ConfigError(r.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}${i.path.length ? got(String(i.path[0])) : ''}`));
}

/**
 * The switch and the back office refuse to start with HASH_SECRET unset or at its public
 * development value, unless development mode is explicit (CYNOD_DEV=1): with a value everyone
 * knows, the HMACs that hide transaction codes and PANs hide nothing.
 */
export function refuseDevelopmentSecrets(e: Pick<CommonEnv, 'HASH_SECRET' | 'CYNOD_DEV'>): void {
  if (e.CYNOD_DEV === '1') return;
  if (e.HASH_SECRET === DEV_HASH_SECRET) {
    throw new ConfigError(['HASH_SECRET: not set, or the public development value: set a secret of your own (the same for the switch and the back office), or CYNOD_DEV=1 for development']);
  }
}

/** Dropping the production schema takes an explicit yes. */
export function refuseProductionSchemaDrop(schema: string, yes: boolean): void {
  if (schema === PRODUCTION_SCHEMA && !yes) {
    throw new ConfigError([
      `DB_SCHEMA: refusing to drop the schema ${PRODUCTION_SCHEMA}, the one a production switch uses: set DB_SCHEMA to the demo's own schema (cynod_demo), or give --yes`,
    ]);
  }
}
