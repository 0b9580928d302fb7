/**
 * Command-line plumbing shared by the verbs: flag parsing (node:util parseArgs), the
 * connection flags every verb takes, and the exit codes.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadFleet, type Fleet } from './fleet.js';
import { DEFAULT_WIRE, framingByName, specByName, tpduFromHex, type Wire } from './wire.js';

/** Exit codes of every verb. */
export const EXIT = {
  /** send: the answer was 00; scenario: every step as expected; load: finished, SLO met. */
  ok: 0,
  /** send: answered with another code; scenario: a step differed; load: the SLO was missed. */
  failed: 1,
  /** No answer, or the switch could not be reached. */
  unreachable: 2,
  /** Bad flags or input file. */
  usage: 64,
} as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Options = ParseArgsConfig['options'];

export const CONNECTION_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  framing: { type: 'string' },
  tpdu: { type: 'string' },
  spec: { type: 'string' },
  fleet: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CONNECTION_HELP = `Connection (flags win over the fleet file):
  --host HOST              switch address (default 127.0.0.1)
  --port PORT              switch port (default 8583)
  --framing HEADER         binary2 (default) | bcd2 | ascii4
  --tpdu HEX               send a 5-byte TPDU after the length header, e.g. 6000010000
  --spec SPEC              ascii87 (default) | binary87
  --fleet FILE             fleet file (terminals, cards, codes; see README)
  --timeout MS             answer timeout`;

export function parse<T extends Options>(argv: string[], options: T, positionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: positionals });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export interface Target {
  host: string;
  port: number;
  wire: Wire;
  fleet?: Fleet;
}

type ConnectionValues = { host?: string; port?: string; framing?: string; tpdu?: string; spec?: string; fleet?: string };

/** Host, port and wire from the flags, then the fleet file, then the defaults. */
export function target(v: ConnectionValues, base: Partial<Omit<Target, 'wire'>> & { framing?: string; spec?: string; tpdu?: string } = {}): Target {
  const fleet = v.fleet === undefined ? undefined : loadFleet(v.fleet);
  const pick = <K extends 'host' | 'framing' | 'spec' | 'tpdu'>(k: K): string | undefined => v[k] ?? base[k] ?? fleet?.[k];
  try {
    const portText = v.port ?? (base.port ?? fleet?.port)?.toString() ?? '8583';
    const port = int(portText, 'port', 1, 65535);
    const tpdu = pick('tpdu');
    return {
      host: pick('host') ?? '127.0.0.1',
      port,
      wire: {
        ...DEFAULT_WIRE,
        header: framingByName(pick('framing') ?? DEFAULT_WIRE.header),
        spec: specByName(pick('spec') ?? 'ascii87'),
        tpdu: tpdu === undefined ? undefined : tpduFromHex(tpdu),
      },
      fleet,
    };
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError((e as Error).message);
  }
}

export function int(text: string, what: string, min: number, max: number): number {
  if (!/^-?[0-9]+$/.test(text.trim())) throw new UsageError(`--${what} ${JSON.stringify(text)} is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`--${what} ${n} is not in ${min}..${max}`);
  return n;
}

/** A duration: 500ms, 2s, 1m, 250us, or a bare number of `unit`. */
export function duration(text: string, what: string, unit: 'ms' | 's' = 'ms'): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(us|µs|ms|s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--${what} ${JSON.stringify(text)} is not a duration (e.g. 500ms, 10s, 1m)`);
  const n = Number(m[1]);
  const u = m[2] ?? unit;
  const ms = u === 'us' || u === 'µs' ? n / 1000 : u === 'ms' ? n : u === 's' ? n * 1000 : n * 60_000;
  return ms;
}
