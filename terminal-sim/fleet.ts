/**
 * The fleet file the simulator's verbs take with `--fleet FILE` (the back office's seed
 * writes one): where the switch is, which terminals to play and which cards and codes to use.
 *
 *   {
 *     "host": "127.0.0.1",            optional, default 127.0.0.1
 *     "port": 8583,                   optional, default 8583
 *     "framing": "binary2",           optional: binary2 | bcd2 | ascii4
 *     "spec": "ascii87",              optional: ascii87 | binary87
 *     "tpdu": "6000010000",           optional: 10 hex digits, when the listener expects a TPDU
 *     "terminals": [{ "id": "TPE00001", "servicePoint": "PS_SENOSOFT", "pin": "1234",
 *                     "masterKey": { "algorithm": "tdes", "key": "32 hex" },
 *                     "keys": { "mac": "32 hex", "pin": "32 hex" } }],
 *     "cards": [{ "pan": "6280001234567890", "expiry": "2912", "pin": "4321", "balance": 100000 }],
 *     "codes": [{ "code": "12345678", "amountMax": 1000 }]
 *   }
 *
 * A terminal's `pin` is its security PIN for its first initialisation (single use); `masterKey`
 * is the key the technician injected (docs/messages.md, "Terminal keys"); `keys` are the
 * working keys the firmware holds (MAC and PIN keys, of the master key's algorithm), which the
 * load rewrites here when the switch sends new ones: this file is the terminals' memory. A
 * card's `expiry` (YYMM) is what the terminal reads from it and sends (DE14, track 2), its `pin`
 * what the cardholder types (DE52, under the PIN key); `balance` (minor units) is informative;
 * each code is single use.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { FRAMINGS, SPECS } from './wire.js';

export const fleetTerminal = z.object({
  id: z.string().regex(/^[A-Za-z0-9]{8}$/, 'a terminal id is 8 letters or digits'),
  servicePoint: z.string().regex(/^[A-Z0-9_]{1,15}$/, 'a service point code is 1 to 15 of A-Z, 0-9, _'),
  pin: z.string().regex(/^[0-9]{4}$/, 'a security PIN is 4 digits').optional(),
  masterKey: z.object({ algorithm: z.enum(['tdes', 'aes']), key: z.string().regex(/^[0-9A-Fa-f]{32}$/, 'a master key is 32 hex digits') }).optional(),
  keys: z.object({ mac: z.string().regex(/^[0-9A-Fa-f]{32}$/, 'a MAC key is 32 hex digits'), pin: z.string().regex(/^[0-9A-Fa-f]{32}$/, 'a PIN key is 32 hex digits') }).optional(),
});

export const fleetCard = z.object({
  pan: z.string().regex(/^[0-9]{12,19}$/, 'a PAN is 12 to 19 digits'),
  expiry: z.string().regex(/^[0-9]{2}(0[1-9]|1[0-2])$/, "a card's expiry is YYMM"),
  pin: z.string().regex(/^[0-9]{4,12}$/, "a cardholder's PIN is 4 to 12 digits").optional(),
  balance: z.number().int().nonnegative().optional(),
});

export const fleetCode = z.object({
  code: z.string().regex(/^[0-9]{4,16}$/, 'a transaction code is 4 to 16 digits'),
  amountMax: z.number().int().positive(),
});

export const fleetSchema = z.object({
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  framing: z.enum(FRAMINGS as unknown as [string, ...string[]]).optional(),
  spec: z.enum(Object.keys(SPECS) as [string, ...string[]]).optional(),
  tpdu: z.string().regex(/^[0-9a-fA-F]{10}$/, 'a TPDU is 10 hex digits').optional(),
  terminals: z.array(fleetTerminal).min(1, 'at least one terminal'),
  cards: z.array(fleetCard).default([]),
  codes: z.array(fleetCode).optional(),
});

export type Fleet = z.infer<typeof fleetSchema>;
export type FleetTerminal = z.infer<typeof fleetTerminal>;
export type FleetCard = z.infer<typeof fleetCard>;
export type FleetCode = z.infer<typeof fleetCode>;

export class FleetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FleetError';
  }
}

/** Validates a parsed fleet; a FleetError lists every problem with its path. */
export function parseFleet(data: unknown, source = 'fleet'): Fleet {
  const r = fleetSchema.safeParse(data);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(top)'}: ${i.message}`);
    throw new FleetError(`${source} is not a valid fleet file:\n${lines.join('\n')}`);
  }
  const seen = new Set<string>();
  for (const t of r.data.terminals) {
    if (seen.has(t.id)) throw new FleetError(`${source}: terminal ${t.id} is listed twice`);
    seen.add(t.id);
  }
  return r.data;
}

export function loadFleet(path: string): Fleet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FleetError(`cannot read fleet file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new FleetError(`${path} is not JSON: ${(e as Error).message}`);
  }
  return parseFleet(data, path);
}

/**
 * Writes the working keys the terminals were sent back into the fleet file, as a firmware keeps
 * them, so that the next run MACs under keys the switch still accepts. The file is replaced
 * whole (written aside, then renamed), and only when some keys changed.
 */
export function keepKeys(path: string, keys: { id: string; mac: string; pin: string; changed: boolean }[]): void {
  const changed = new Map(keys.filter((k) => k.changed).map((k) => [k.id, k]));
  if (changed.size === 0) return;
  const data = JSON.parse(readFileSync(path, 'utf8')) as { terminals: { id: string; keys?: { mac: string; pin: string } }[] };
  for (const t of data.terminals) {
    const k = changed.get(t.id);
    if (k) t.keys = { mac: k.mac, pin: k.pin };
  }
  const aside = `${path}.${process.pid}.tmp`;
  writeFileSync(aside, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
  renameSync(aside, path);
}
