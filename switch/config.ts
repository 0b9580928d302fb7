/**
 * The switch's configuration: environment variables, validated with zod at start. A bad
 * value stops start-up with a line naming the variable (see README for the table).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { commonEnv, parseEnv, refuseDevelopmentSecrets, ConfigError } from '../db/config.js';
import { loadKek } from '../db/kek.js';
import { ascii87, binary87, type MessageSpec, type LengthHeader } from '../protocol/index.js';
import type { ListenerConfig, ServerLimits } from './server.js';

export const SPECS: Readonly<Record<string, MessageSpec>> = { ascii87, binary87 };
const HEADERS: readonly LengthHeader[] = ['binary2', 'bcd2', 'ascii4'];

/** `[tls:]host:port/header[+tpdu]/spec`, e.g. `0.0.0.0:8583/binary2/ascii87` or `tls:0.0.0.0:8443/ascii4+tpdu/binary87`. */
const LISTENER_RE = /^(tls:)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})\/(binary2|bcd2|ascii4)(\+tpdu)?\/([a-z0-9]+)$/;

const int = (min: number, max: number, dflt: number) => z.coerce.number().int().min(min).max(max).default(dflt);

export const switchEnv = commonEnv.extend({
  SWITCH_LISTENERS: z
    .string()
    .default('127.0.0.1:8583/binary2/ascii87')
    .refine((v) => v.split(',').every((l) => LISTENER_RE.test(l.trim())), 'each listener is [tls:]host:port/binary2|bcd2|ascii4[+tpdu]/ascii87|binary87')
    .refine((v) => v.split(',').every((l) => SPECS[LISTENER_RE.exec(l.trim())?.[6] ?? ''] !== undefined), `spec must be one of ${Object.keys(SPECS).join(', ')}`),
  SWITCH_TLS_CERT: z.string().optional(),
  SWITCH_TLS_KEY: z.string().optional(),
  /** CA of client certificates: when set, TLS listeners require a client certificate (mutual TLS). */
  SWITCH_TLS_CLIENT_CA: z.string().optional(),
  SWITCH_MAX_FRAME: int(64, 65535, 4096),
  SWITCH_MAX_CONNECTIONS: int(1, 1_000_000, 20_000),
  SWITCH_MAX_IN_FLIGHT_PER_CONNECTION: int(1, 10_000, 64),
  SWITCH_MAX_IN_FLIGHT: int(1, 1_000_000, 20_000),
  SWITCH_IDLE_TIMEOUT_MS: int(1_000, 86_400_000, 300_000),
  SWITCH_FRAME_TIMEOUT_MS: int(100, 600_000, 10_000),
  SWITCH_SHUTDOWN_GRACE_MS: int(0, 600_000, 10_000),
  /** Before its terminal has signed on, a connection silent for this long is closed. */
  SWITCH_SIGN_ON_TIMEOUT_MS: int(100, 86_400_000, 10_000),
  /** Connections at once from one peer address (0 = no limit). */
  SWITCH_MAX_CONNECTIONS_PER_PEER: int(0, 1_000_000, 100),
  /** Frames per second one connection may send, before decoding (token bucket); 0 = no limit. */
  SWITCH_CONNECTION_RATE: int(0, 1_000_000, 100),
  SWITCH_CONNECTION_BURST: int(1, 1_000_000, 200),
  /** Frames per second one peer address may send over all its connections; 0 = no limit. */
  SWITCH_PEER_RATE: int(0, 10_000_000, 5_000),
  SWITCH_PEER_BURST: int(1, 10_000_000, 10_000),
  /** Messages per second one terminal may send (token bucket); 0 = no limit. */
  SWITCH_TERMINAL_RATE: int(0, 100_000, 50),
  SWITCH_TERMINAL_BURST: int(1, 100_000, 100),
  /** Terminal messages refused before parsing that the in-memory security log keeps (the latest). */
  SWITCH_SECURITY_LOG_SIZE: int(1, 1_000_000, 1_000),
  /**
   * mac: on every listener but a mutual-TLS one (whose client certificate names the terminal),
   * every message after sign-on carries a MAC under the terminal's MAC key (63 otherwise);
   * none: not checked, for development only (CYNOD_DEV=1).
   */
  SWITCH_AUTH: z.enum(['mac', 'none']).default('mac'),
  /** How long a working key replaced by a key change still verifies, seconds. */
  SWITCH_KEY_GRACE_SECONDS: int(0, 86_400, 600),
  METRICS_HOST: z.string().default('127.0.0.1'),
  METRICS_PORT: int(0, 65535, 9464),
  LEDGER_MAX_BATCH: int(1, 5_000, 400),
  LEDGER_CONCURRENCY: int(1, 16, 1),
  LEDGER_OVERFLOW_AT: int(0, 100_000, 0),
  /** A reversal of an original older than this is refused (12); 0: no window. */
  SWITCH_REVERSAL_WINDOW_HOURS: int(0, 8_760, 24),
  /**
   * How long an item may wait for others when its lane is free, in ms (0: it leaves at once),
   * and how many waiting items end the wait: a batch of four (docs/architecture.md, "Gathering").
   */
  LEDGER_GATHER_MS: int(0, 50, 4),
  LEDGER_GATHER_ITEMS: int(1, 5_000, 4),
  /** A ledger batch slower than this is logged (warn) with its size and time; 0 = never. */
  LEDGER_SLOW_MS: int(0, 600_000, 200),
  /** Unknown transaction codes from one terminal within CODE_GUESS_WINDOW_SECONDS that block its code redemptions (0 = never). */
  CODE_GUESS_LIMIT: int(0, 1_000_000, 5),
  CODE_GUESS_WINDOW_SECONDS: int(1, 86_400 * 30, 3_600),
  /** How long a terminal's code redemptions stay refused (75). */
  CODE_GUESS_BLOCK_SECONDS: int(1, 86_400 * 30, 900),
  HOLD_SWEEP_SECONDS: int(0, 86_400, 60),
  CACHE_TTL_SECONDS: int(1, 86_400, 300),
  /** A safety net: invalidations are the rule. As long as Redis keeps a record (CACHE_TTL_SECONDS). */
  NEAR_CACHE_TTL_MS: int(0, 3_600_000, 300_000),
  NEAR_CACHE_MAX: int(0, 10_000_000, 200_000),
  REDIS_COMMAND_TIMEOUT_MS: int(10, 60_000, 200),
});

export type SwitchEnv = z.infer<typeof switchEnv>;

export interface SwitchConfig {
  env: SwitchEnv;
  listeners: ListenerConfig[];
  limits: ServerLimits;
  /** The key-encryption key of terminal keys (db/kek.ts). */
  kek: Buffer;
}

export function loadSwitchConfig(env: NodeJS.ProcessEnv = process.env): SwitchConfig {
  const e = parseEnv(switchEnv, env);
  refuseDevelopmentSecrets(e);
  const problems: string[] = [];
  let kek: Buffer = Buffer.alloc(0);
  try {
    kek = loadKek(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const readPem = (name: string, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      problems.push(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  };
  const cert = readPem('SWITCH_TLS_CERT', e.SWITCH_TLS_CERT);
  const key = readPem('SWITCH_TLS_KEY', e.SWITCH_TLS_KEY);
  const ca = readPem('SWITCH_TLS_CLIENT_CA', e.SWITCH_TLS_CLIENT_CA);
  const listeners: ListenerConfig[] = e.SWITCH_LISTENERS.split(',').map((raw, i) => {
    const m = LISTENER_RE.exec(raw.trim()) as RegExpExecArray;
    const [, tlsFlag, host, port, header, tpdu, spec] = m;
    const isTls = tlsFlag !== undefined;
    if (isTls && (!cert || !key)) problems.push(`SWITCH_LISTENERS: listener ${raw.trim()} is TLS but SWITCH_TLS_CERT and SWITCH_TLS_KEY are not both set`);
    if (Number(port) > 65535) problems.push(`SWITCH_LISTENERS: port ${port} is not a TCP port`);
    return {
      name: `${isTls ? 'tls:' : ''}${host}:${port}/${header}${tpdu ?? ''}/${spec}#${i}`,
      host: host.replace(/^\[|\]$/g, ''),
      port: Number(port),
      framing: { header: header as LengthHeader, tpdu: tpdu !== undefined, maxFrame: e.SWITCH_MAX_FRAME },
      spec: SPECS[spec],
      tls: isTls && cert && key ? { cert, key, ca, requestCert: ca !== undefined } : undefined,
      // a mutual-TLS listener's client certificate names the terminal: the MAC is the others' proof
      macRequired: e.SWITCH_AUTH === 'mac' && !(isTls && ca !== undefined),
    };
  });
  if (e.SWITCH_AUTH === 'none' && e.CYNOD_DEV !== '1') {
    problems.push('SWITCH_AUTH=none: any connection that signs on could then speak for a terminal; a plain listener requires MACs (or use mutual TLS); none is for development only (CYNOD_DEV=1)');
  }
  if (!HEADERS.length) problems.push('no framing');
  if (problems.length) throw new ConfigError(problems);
  return {
    env: e,
    kek,
    listeners,
    limits: {
      maxConnections: e.SWITCH_MAX_CONNECTIONS,
      maxInFlightPerConnection: e.SWITCH_MAX_IN_FLIGHT_PER_CONNECTION,
      maxInFlightTotal: e.SWITCH_MAX_IN_FLIGHT,
      idleTimeoutMs: e.SWITCH_IDLE_TIMEOUT_MS,
      frameTimeoutMs: e.SWITCH_FRAME_TIMEOUT_MS,
      signOnTimeoutMs: e.SWITCH_SIGN_ON_TIMEOUT_MS,
      maxConnectionsPerPeer: e.SWITCH_MAX_CONNECTIONS_PER_PEER,
      connectionRate: e.SWITCH_CONNECTION_RATE,
      connectionBurst: e.SWITCH_CONNECTION_BURST,
      peerRate: e.SWITCH_PEER_RATE,
      peerBurst: e.SWITCH_PEER_BURST,
    },
  };
}
