/**
 * Fuel purchases for the ledger benchmarks, over the bench fleet: terminals in turn, each with its
 * own STAN sequence, random cards with their own PIN's digest (the fleet's profile asks for it,
 * as the switch would pass it), amounts the balances always cover.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { SeedResult } from '../backoffice/seed.js';
import { DEV_HASH_SECRET } from '../db/config.js';
import type { LedgerItem } from '../db/ledger.js';
import { cardPinDigest } from '../db/secrets.js';

/**
 * A generator of numbers in [0, 1) from `seed` (mulberry32): the same purchases again for the same
 * seed, for measurements that compare two runs' counts (bench/pg-instructions.ts).
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The fleet's accounts, as the switch's cache knows them: each card's, each service point's virtual card's. */
export interface FleetAccounts {
  card: Map<number, number>;
  servicePoint: Map<number, number>;
}

export async function fleetAccounts(db: pg.Pool): Promise<FleetAccounts> {
  const r = await db.query<{ id: number; account_id: number; service_point_id: number | null }>('SELECT id, account_id, service_point_id FROM cards');
  const out: FleetAccounts = { card: new Map(), servicePoint: new Map() };
  for (const c of r.rows) {
    out.card.set(c.id, c.account_id);
    if (c.service_point_id !== null) out.servicePoint.set(c.service_point_id, c.account_id);
  }
  return out;
}

/**
 * `accounts`: each purchase carries the hints the switch would give it: its card's and its
 * service point's virtual card's accounts, its card's profile (db/ledger/types.ts `accountHint`,
 * `profileHint`).
 */
export function purchaseMaker(seeded: SeedResult, random: () => number = Math.random, accounts?: FleetAccounts): () => LedgerItem {
  const terminals = seeded.servicePoints.flatMap((sp) => sp.terminals.map((t) => ({ id: t.id, sp: sp.id })));
  const cards = seeded.cards.filter((c) => !c.virtualized).map((c) => ({ id: c.id, pinDigest: c.pin === undefined ? undefined : cardPinDigest(DEV_HASH_SECRET, c.id, c.pin) }));
  const stans = new Map<string, number>();
  let seq = 0;
  return () => {
    const t = terminals[seq++ % terminals.length];
    const stan = ((stans.get(t.id) ?? 0) % 999_999) + 1;
    stans.set(t.id, stan);
    const card = cards[Math.floor(random() * cards.length)];
    return {
      op: 'purchase',
      source: 'terminal',
      terminalId: t.id,
      stan: String(stan).padStart(6, '0'),
      transmissionAt: '1127101500',
      mti: '0200',
      cardId: card.id,
      ...(card.pinDigest === undefined ? {} : { pinDigest: card.pinDigest }),
      servicePointId: t.sp,
      // the fleet's cards that pay (not virtualized) all have the fuel profile
      ...(accounts === undefined ? {} : { accountHint: [accounts.card.get(card.id) as number, accounts.servicePoint.get(t.sp) as number], profileHint: seeded.profiles.fuel.id }),
      amount: 1_000 + Math.floor(random() * 20_000),
      currency: '952',
      service: 'fuel',
      requestHash: randomBytes(32).toString('hex'),
    };
  };
}
