/**
 * Demo data: client ELTON (in a network) with a manager member, service points
 * (PS_SENOSOFT, then PS_0002, ...) with terminals and their virtual cards C_VIRT_<code>,
 * a fuel profile, a virtual-card profile, a virtualization profile, standard cards funded
 * through the ledger (recharge batches), one card virtualized, and an ADMIN user with a
 * token. Set-based inserts keep 10,000 cards / 100 service points / 500 terminals within
 * seconds; the invariants stay those of the store: every card has its own account, and
 * balances come only from ledger entries.
 *
 * PANs are stored as every card's are (db/pan-vault.ts): sealed under KEY_ENCRYPTION_KEY and
 * keyed by their HMAC under HASH_SECRET, computed here for the bulk insert. The result carries
 * the full PANs (demo data, printed on purpose); the database never holds them in clear.
 *
 * For a fresh schema: run it once (the CLI's `seed --reset` drops the schema first).
 */
import { randomInt } from 'node:crypto';
import { Ledger, type LedgerItem } from '../db/ledger.js';
import type { PanVault } from '../db/pan-vault.js';
import { inTransaction, type Pool } from '../db/pool.js';
import { cardPinDigest, newPan } from '../db/secrets.js';
import { sealKey, type TerminalKeyKind } from '../db/terminal-keys.js';
import { generateKey, kcv, type KeyAlgorithm } from '../protocol/security/index.js';
import * as store from '../db/store.js';
import { ACTIONS, defaultExpiry } from './operations.js';

export interface SeedOptions {
  /** Standard cards of ELTON (default 5). */
  cards?: number;
  /** Service points (default 1: PS_SENOSOFT; more are PS_0002, PS_0003, ...). */
  servicePoints?: number;
  terminalsPerServicePoint?: number;
  /** Balance of each standard card in minor units (default 100,000 XOF). */
  balance?: number;
  /** Issue a security PIN per terminal (scrypt, ~50 ms each); default when there are at most 20 terminals. */
  pins?: boolean;
  adminUsername?: string;
  /** Ledger items per recharge batch. */
  batchSize?: number;
  /**
   * Mark the terminals initialized, as if each had signed on with its PIN (for load tests and
   * benchmarks with hundreds of terminals, where issuing PINs would take minutes).
   */
  initializeTerminals?: boolean;
  /**
   * A master key per terminal, as the back office makes one when it creates a terminal, sealed
   * under `kek`; with `initializeTerminals`, working keys too, as the initialising sign-on would
   * have sent them. The result carries them in clear: the simulator plays the firmware that
   * holds them (demo and benchmark data only).
   */
  terminalKeys?: { kek: Uint8Array; algorithm: KeyAlgorithm };
  /**
   * A cardholder PIN per standard card (random, 4 digits), hashed under `secret` (HASH_SECRET),
   * and the fuel profile requiring it. The result carries the PINs for the simulator.
   */
  cardPins?: { secret: string };
}

export interface SeedResult {
  network: { id: number; code: string };
  client: { id: number; code: string; name: string };
  manager: { id: number; name: string };
  profiles: { fuel: { id: number; code: string }; virtualCard: { id: number; code: string }; virtualization: { id: number; code: string } };
  servicePoints: {
    id: number;
    code: string;
    virtualCard: { id: number; name: string; pan: string };
    terminals: { id: string; pin?: string; pinExpiresAt?: string; masterKey?: { algorithm: KeyAlgorithm; key: string }; keys?: { mac: string; pin: string } }[];
  }[];
  cards: { id: number; pan: string; expiry: string; pin?: string; name: string; balance: number; virtualized: boolean }[];
  virtualizedCardId: number | null;
  admin: { id: number; username: string; token: string };
  ms: number;
}

export const DEMO = {
  network: { code: 'RESEAU_DEMO', name: 'Réseau de démonstration' },
  client: { code: 'ELTON', name: 'ELTON' },
  manager: 'Gérant ELTON',
  firstServicePoint: { code: 'PS_SENOSOFT', name: 'Station Senosoft' },
  profiles: {
    // pinRequired follows SeedOptions.cardPins: cards without PINs could not pay otherwise
    fuel: { code: 'FUEL', name: 'Carburant', fuel: true, transfer: true, recharge: true },
    virtualCard: { code: 'VIRTUAL', name: 'Carte virtuelle', kind: 'virtual' as const, transfer: true, recharge: true },
    virtualization: { code: 'VIRTUALIZED', name: 'Virtualisation', transfer: true, recharge: true },
  },
  admin: 'demo-admin',
  balance: 100_000,
  pinTtlSeconds: 7 * 86_400,
  limits: { servicePoints: 999, terminalsPerServicePoint: 99, cards: 1_000_000 },
};

function servicePointCode(i: number): string {
  return i === 0 ? DEMO.firstServicePoint.code : `PS_${String(i + 1).padStart(4, '0')}`;
}

/** DE41: TPE + service point number (3 digits) + terminal number (2 digits). */
function terminalId(sp: number, t: number): string {
  return `TPE${String(sp + 1).padStart(3, '0')}${String(t + 1).padStart(2, '0')}`;
}

function uniquePans(n: number): string[] {
  const pans = new Set<string>();
  while (pans.size < n) pans.add(newPan());
  return [...pans];
}

function checkCount(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer from ${min} to ${max} (got ${v})`);
  return v;
}

/** Cards and their accounts in two statements; returns card ids in the order of `pans`. */
async function insertCards(
  db: store.Db,
  vault: PanVault,
  c: { clientId: number; memberId: number; profileId: number; expiry: string; kind: 'card' | 'service_point'; pans: string[]; names: string[]; servicePointIds?: number[] },
): Promise<number[]> {
  const cols = c.pans.map((pan) => vault.columns(pan));
  const keys = cols.map((p) => p.key.toString('hex'));
  const r = await db.query<{ id: number; key: string }>(
    `WITH acct AS (
       INSERT INTO accounts (kind, client_id) SELECT $1, $2 FROM generate_series(1, $3::int) RETURNING id
     ), numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM acct)
     INSERT INTO cards (pan_key, pan_sealed, pan_first6, pan_last4, name, client_id, member_id, profile_id, account_id, expiry, is_virtual, service_point_id)
     SELECT decode(u.k, 'hex'), decode(u.sealed, 'hex'), u.first6, u.last4, u.name, $2, $4, $5, numbered.id, $6, u.sp IS NOT NULL, u.sp
     FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[]) WITH ORDINALITY AS u(k, sealed, first6, last4, name, sp, n)
     JOIN numbered ON numbered.n = u.n
     RETURNING id, encode(pan_key, 'hex') AS key`,
    [
      c.kind,
      c.clientId,
      c.pans.length,
      c.memberId,
      c.profileId,
      c.expiry,
      keys,
      cols.map((p) => p.sealed.toString('hex')),
      cols.map((p) => p.first6),
      cols.map((p) => p.last4),
      c.names,
      c.servicePointIds ?? c.pans.map(() => null),
    ],
  );
  const idOf = new Map(r.rows.map((row) => [row.key, row.id]));
  return keys.map((key) => {
    const id = idOf.get(key);
    if (id === undefined) throw new Error('card insert lost a row');
    return id;
  });
}

interface TerminalKeys {
  masterKey: { algorithm: KeyAlgorithm; key: string };
  keys?: { mac: string; pin: string };
}

/** A master key per terminal (and working keys when `working`), sealed, in one statement. */
async function insertTerminalKeys(db: store.Db, k: { kek: Uint8Array; algorithm: KeyAlgorithm }, terminalIds: string[], working: boolean): Promise<Map<string, TerminalKeys>> {
  const out = new Map<string, TerminalKeys>();
  const rows: { t: string; kind: TerminalKeyKind; sealed: string; kcv: string }[] = [];
  const make = (t: string, kind: TerminalKeyKind): string => {
    const key = generateKey(k.algorithm, 16);
    rows.push({ t, kind, sealed: sealKey(k.kek, t, kind, k.algorithm, key).toString('hex'), kcv: kcv(k.algorithm, key).toString('hex').toUpperCase() });
    return key.toString('hex').toUpperCase();
  };
  for (const t of terminalIds) {
    const master = make(t, 'master');
    out.set(t, { masterKey: { algorithm: k.algorithm, key: master }, ...(working ? { keys: { mac: make(t, 'mac'), pin: make(t, 'pin') } } : {}) });
  }
  await db.query(
    `INSERT INTO terminal_keys (terminal_id, kind, algorithm, sealed, kcv)
     SELECT u.t, u.kind, $5, decode(u.sealed, 'hex'), u.kcv FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(t, kind, sealed, kcv)`,
    [rows.map((r) => r.t), rows.map((r) => r.kind), rows.map((r) => r.sealed), rows.map((r) => r.kcv), k.algorithm],
  );
  return out;
}

/** A random 4-digit PIN per card, stored as its digest (db/secrets.ts cardPinDigest); the PINs in the cards' order. */
async function setCardPins(db: store.Db, secret: string, cardIds: number[]): Promise<string[]> {
  const pins = cardIds.map(() => String(randomInt(10_000)).padStart(4, '0'));
  await db.query("UPDATE cards SET pin_hash = decode(u.h, 'hex'), pin_tries = 0 FROM unnest($1::bigint[], $2::text[]) AS u(id, h) WHERE cards.id = u.id", [
    cardIds,
    cardIds.map((id, i) => cardPinDigest(secret, id, pins[i])),
  ]);
  return pins;
}

/** `vault` seals the PANs (KEY_ENCRYPTION_KEY) and keys them (HASH_SECRET): those the switch and back office run with. */
export async function seedDemo(pool: Pool, vault: PanVault, opts: SeedOptions = {}): Promise<SeedResult> {
  const started = performance.now();
  const nCards = checkCount('cards', opts.cards ?? 5, 0, DEMO.limits.cards);
  const nSps = checkCount('servicePoints', opts.servicePoints ?? 1, 1, DEMO.limits.servicePoints);
  const nTerms = checkCount('terminalsPerServicePoint', opts.terminalsPerServicePoint ?? 2, 0, DEMO.limits.terminalsPerServicePoint);
  const balance = checkCount('balance', opts.balance ?? DEMO.balance, 0, 1e12);
  const pins = opts.pins ?? nSps * nTerms <= 20;
  const batchSize = opts.batchSize ?? 2000;
  const expiry = defaultExpiry();

  // 1. Parties, profiles, service points, terminals, virtual cards, cards: one transaction.
  const base = await inTransaction(pool, async (tx) => {
    const network = await store.createNetwork(tx, DEMO.network);
    const client = await store.createClient(tx, { ...DEMO.client, networkId: network.id });
    const manager = await store.createMember(tx, { clientId: client.id, name: DEMO.manager });
    const fuel = await store.createProfile(tx, { clientId: client.id, ...DEMO.profiles.fuel, pinRequired: opts.cardPins !== undefined });
    const virtualCard = await store.createProfile(tx, { clientId: client.id, ...DEMO.profiles.virtualCard });
    const virtualization = await store.createProfile(tx, { clientId: client.id, ...DEMO.profiles.virtualization });

    const spCodes = Array.from({ length: nSps }, (_, i) => servicePointCode(i));
    const spNames = spCodes.map((code, i) => (i === 0 ? DEMO.firstServicePoint.name : `Station ${code}`));
    const sps = (
      await tx.query<{ id: number; code: string }>(
        'INSERT INTO service_points (code, name, client_id) SELECT u.code, u.name, $3 FROM unnest($1::text[], $2::text[]) AS u(code, name) RETURNING id, code',
        [spCodes, spNames, client.id],
      )
    ).rows.sort((a, b) => spCodes.indexOf(a.code) - spCodes.indexOf(b.code));

    const termIds: string[][] = sps.map((_, s) => Array.from({ length: nTerms }, (_, t) => terminalId(s, t)));
    await tx.query(
      `INSERT INTO terminals (id, service_point_id, initialized_at)
       SELECT t, s, CASE WHEN $3 THEN now() END FROM unnest($1::text[], $2::bigint[]) AS u(t, s)`,
      [termIds.flat(), sps.flatMap((sp, s) => termIds[s].map(() => sp.id)), opts.initializeTerminals === true],
    );

    const allPans = uniquePans(nSps + nCards);
    const virtualPans = allPans.slice(0, nSps);
    const cardPans = allPans.slice(nSps);
    const virtualIds = await insertCards(tx, vault, {
      clientId: client.id,
      memberId: manager.id,
      profileId: virtualCard.id,
      expiry,
      kind: 'service_point',
      pans: virtualPans,
      names: sps.map((sp) => store.virtualCardName(sp.code)),
      servicePointIds: sps.map((sp) => sp.id),
    });

    const cardNames = cardPans.map((_, i) => `ELTON carte ${String(i + 1).padStart(5, '0')}`);
    const cardIds = await insertCards(tx, vault, { clientId: client.id, memberId: manager.id, profileId: fuel.id, expiry, kind: 'card', pans: cardPans, names: cardNames });

    const keys = opts.terminalKeys ? await insertTerminalKeys(tx, opts.terminalKeys, termIds.flat(), opts.initializeTerminals === true) : new Map<string, TerminalKeys>();
    const cardPins = opts.cardPins ? await setCardPins(tx, opts.cardPins.secret, cardIds) : [];

    return { network, client, manager, fuel, virtualCard, virtualization, sps, termIds, virtualPans, virtualIds, cardPans, cardNames, cardIds, keys, cardPins };
  });

  // 2. Balances: recharges through the ledger, in batches (each batch is one transaction).
  if (balance > 0) {
    const ledger = new Ledger(pool);
    for (let i = 0; i < base.cardIds.length; i += batchSize) {
      const items: LedgerItem[] = base.cardIds
        .slice(i, i + batchSize)
        .map((cardId) => ({ op: 'recharge', source: 'backoffice', cardId, amount: balance, note: 'demo seed' }));
      const results = await ledger.post(items);
      const refused = results.find((r) => r.outcome !== 'approved');
      if (refused) throw new Error(`demo recharge declined: ${refused.outcome}`);
    }
  }

  // 3. One card virtualized, through a profile change (never a raw row edit).
  const virtualizedCardId = base.cardIds.length >= 2 ? base.cardIds[base.cardIds.length - 1] : null;
  if (virtualizedCardId !== null) await store.setCardProfile(pool, virtualizedCardId, base.virtualization.id);

  // 4. Terminal PINs, the ADMIN user and its token, the audit row.
  const pinOf = new Map<string, { pin: string; expiresAt: Date }>();
  if (pins) for (const id of base.termIds.flat()) pinOf.set(id, await store.issueTerminalPin(pool, id, DEMO.pinTtlSeconds));
  const adminName = opts.adminUsername ?? DEMO.admin;
  const { admin, token } = await inTransaction(pool, async (tx) => {
    const admin = await store.createUser(tx, { username: adminName, role: 'ADMIN' });
    const token = await store.createToken(tx, { userId: admin.id, label: 'demo seed' });
    await store.audit(tx, {
      userId: null,
      action: ACTIONS.demoSeed,
      entity: 'client',
      entityId: base.client.id,
      details: { cards: nCards, servicePoints: nSps, terminals: nSps * nTerms, adminUserId: admin.id, via: 'cli' },
    });
    return { admin, token };
  });

  return {
    network: { id: base.network.id, code: base.network.code },
    client: { id: base.client.id, code: base.client.code, name: base.client.name },
    manager: { id: base.manager.id, name: base.manager.name },
    profiles: {
      fuel: { id: base.fuel.id, code: base.fuel.code },
      virtualCard: { id: base.virtualCard.id, code: base.virtualCard.code },
      virtualization: { id: base.virtualization.id, code: base.virtualization.code },
    },
    servicePoints: base.sps.map((sp, s) => ({
      id: sp.id,
      code: sp.code,
      virtualCard: { id: base.virtualIds[s], name: store.virtualCardName(sp.code), pan: base.virtualPans[s] },
      terminals: base.termIds[s].map((id) => {
        const p = pinOf.get(id);
        return { id, ...(p ? { pin: p.pin, pinExpiresAt: p.expiresAt.toISOString() } : {}), ...base.keys.get(id) };
      }),
    })),
    cards: base.cardIds.map((id, i) => ({ id, pan: base.cardPans[i], expiry, ...(base.cardPins[i] ? { pin: base.cardPins[i] } : {}), name: base.cardNames[i], balance, virtualized: id === virtualizedCardId })),
    virtualizedCardId,
    admin: { id: admin.id, username: admin.username, token: token.token },
    ms: Math.round(performance.now() - started),
  };
}

/** The simulator's fleet file (terminal-sim/fleet.ts) for what the seed made: terminals (with their PINs) and the usable cards. */
export function fleetOf(r: SeedResult, where: { host?: string; port?: number } = {}): {
  host?: string;
  port?: number;
  terminals: { id: string; servicePoint: string; pin?: string; masterKey?: { algorithm: KeyAlgorithm; key: string }; keys?: { mac: string; pin: string } }[];
  cards: { pan: string; expiry: string; pin?: string; balance: number }[];
} {
  return {
    ...where,
    terminals: r.servicePoints.flatMap((sp) =>
      sp.terminals.map((t) => ({ id: t.id, servicePoint: sp.code, ...(t.pin ? { pin: t.pin } : {}), ...(t.masterKey ? { masterKey: t.masterKey } : {}), ...(t.keys ? { keys: t.keys } : {}) })),
    ),
    cards: r.cards.filter((c) => !c.virtualized).map((c) => ({ pan: c.pan, expiry: c.expiry, ...(c.pin ? { pin: c.pin } : {}), balance: c.balance })),
  };
}
