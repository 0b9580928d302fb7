/**
 * Command-line arguments for the admin CLI: positionals and `--flag value` pairs, flags in
 * kebab-case for the schema's camelCase fields (--card-id 5 gives cardId). Values are
 * turned into numbers or booleans where the zod schema wants them (read from its JSON
 * Schema), then the schema validates them, exactly as the HTTP API does.
 */
import { z } from 'zod';

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 2) {
        flags.set(a.slice(2, eq), a.slice(eq + 1));
        continue;
      }
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) flags.set(a.slice(2), true);
      else {
        flags.set(a.slice(2), next);
        i++;
      }
    } else positionals.push(a);
  }
  return { positionals, flags };
}

export const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

interface PropertySchema {
  type?: string | string[];
  description?: string;
  enum?: unknown[];
  default?: unknown;
  anyOf?: PropertySchema[];
}

interface ObjectSchema {
  properties?: Record<string, PropertySchema>;
  required?: string[];
}

export function objectSchema(schema: z.ZodType): ObjectSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as ObjectSchema;
}

function typesOf(p: PropertySchema): string[] {
  const own = p.type === undefined ? [] : Array.isArray(p.type) ? p.type : [p.type];
  return [...own, ...(p.anyOf ?? []).flatMap(typesOf)];
}

function coerce(value: string | true, p: PropertySchema | undefined): unknown {
  const types = p ? typesOf(p) : [];
  if (value === true) return types.includes('boolean') || types.length === 0 ? true : value;
  if (value === 'null' && types.includes('null')) return null;
  if ((types.includes('integer') || types.includes('number')) && /^-?[0-9]+(\.[0-9]+)?$/.test(value)) return Number(value);
  if (types.includes('boolean') && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

/**
 * The input object for `schema` from flags (and named positionals); `reserved` flags
 * (like --as) are the CLI's own and are skipped.
 */
export function inputFrom(schema: z.ZodType, args: ParsedArgs, positionalNames: readonly string[] = [], reserved: readonly string[] = []): Record<string, unknown> {
  const props = objectSchema(schema).properties ?? {};
  const input: Record<string, unknown> = {};
  positionalNames.forEach((name, i) => {
    if (args.positionals[i] !== undefined) input[name] = coerce(args.positionals[i], props[name]);
  });
  if (args.positionals.length > positionalNames.length) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[positionalNames.length])}`);
  for (const [flag, value] of args.flags) {
    if (reserved.includes(flag)) continue;
    const key = camel(flag);
    if (!(key in props)) throw new UsageError(`unknown option --${flag}; options: ${Object.keys(props).map((k) => `--${kebab(k)}`).join(' ') || '(none)'}`);
    input[key] = coerce(value, props[key]);
  }
  return input;
}

/** One line per option of `schema`: --flag <type> (required), description. */
export function describeOptions(schema: z.ZodType, positionalNames: readonly string[] = []): string[] {
  const s = objectSchema(schema);
  const required = new Set(s.required ?? []);
  return Object.entries(s.properties ?? {})
    .filter(([k]) => !positionalNames.includes(k))
    .map(([k, p]) => {
      const types = typesOf(p).filter((t) => t !== 'null');
      const kind = p.enum ? p.enum.join('|') : types.join('|') || 'value';
      const notes = [required.has(k) ? 'required' : 'optional', p.default !== undefined ? `default ${JSON.stringify(p.default)}` : '', p.description ?? '']
        .filter(Boolean)
        .join(', ');
      return `    --${kebab(k)} <${kind}>  ${notes}`;
    });
}
