/** Card profiles: service flags, limits and validity, per client. */
import type pg from 'pg';
import { type Db, type Page, many, one } from './common.js';

export interface ProfileFlags {
  fuel: boolean;
  dotation: boolean;
  ticket: boolean;
  transfer: boolean;
  recharge: boolean;
}

export interface ProfileLimits {
  limit_per_txn: number | null;
  limit_day_amount: number | null;
  limit_day_count: number | null;
  limit_month_amount: number | null;
  limit_month_count: number | null;
}

export interface CardProfile extends ProfileFlags, ProfileLimits {
  id: number;
  client_id: number;
  code: string;
  name: string;
  kind: 'standard' | 'virtual';
  /** Whether its cards' terminal payments need the cardholder PIN (DE52). */
  pin_required: boolean;
  valid_from: string | null;
  valid_to: string | null;
}

export type NewProfile = {
  clientId: number;
  code: string;
  name: string;
  kind?: CardProfile['kind'];
  limitPerTxn?: number | null;
  limitDayAmount?: number | null;
  limitDayCount?: number | null;
  limitMonthAmount?: number | null;
  limitMonthCount?: number | null;
  validFrom?: string | null;
  validTo?: string | null;
  /** Default false here (the API's default follows the fuel service: operations.ts). */
  pinRequired?: boolean;
} & Partial<ProfileFlags>;

const PROFILE_COLUMNS =
  'id, client_id, code, name, kind, fuel, dotation, ticket, transfer, recharge, limit_per_txn, limit_day_amount, limit_day_count, limit_month_amount, limit_month_count, valid_from::text, valid_to::text, pin_required';

export function createProfile(db: Db, p: NewProfile): Promise<CardProfile> {
  return one<CardProfile>(
    db,
    'card profile',
    `INSERT INTO card_profiles (client_id, code, name, kind, fuel, dotation, ticket, transfer, recharge,
       limit_per_txn, limit_day_amount, limit_day_count, limit_month_amount, limit_month_count, valid_from, valid_to, pin_required)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING ${PROFILE_COLUMNS}`,
    [
      p.clientId,
      p.code,
      p.name,
      p.kind ?? 'standard',
      p.fuel ?? false,
      p.dotation ?? false,
      p.ticket ?? false,
      p.transfer ?? false,
      p.recharge ?? false,
      p.limitPerTxn ?? null,
      p.limitDayAmount ?? null,
      p.limitDayCount ?? null,
      p.limitMonthAmount ?? null,
      p.limitMonthCount ?? null,
      p.validFrom ?? null,
      p.validTo ?? null,
      p.pinRequired ?? false,
    ],
  );
}

/** The columns a profile update may set, by input name. */
const PROFILE_UPDATABLE = {
  name: 'name',
  fuel: 'fuel',
  dotation: 'dotation',
  ticket: 'ticket',
  transfer: 'transfer',
  recharge: 'recharge',
  limitPerTxn: 'limit_per_txn',
  limitDayAmount: 'limit_day_amount',
  limitDayCount: 'limit_day_count',
  limitMonthAmount: 'limit_month_amount',
  limitMonthCount: 'limit_month_count',
  validFrom: 'valid_from',
  validTo: 'valid_to',
  pinRequired: 'pin_required',
} as const;

export type ProfilePatch = Partial<Record<keyof typeof PROFILE_UPDATABLE, unknown>>;

/**
 * Changes a profile's name, services, limits, validity or PIN requirement (absent fields stay). The row is
 * locked and read first, so the caller's checks see the profile as it will be changed.
 */
export async function updateProfile(tx: pg.PoolClient, id: number, patch: ProfilePatch, check: (before: CardProfile, after: CardProfile) => void): Promise<CardProfile> {
  const before = await one<CardProfile>(tx, 'card profile', `SELECT ${PROFILE_COLUMNS} FROM card_profiles WHERE id = $1 FOR UPDATE`, [id]);
  const sets: string[] = [];
  const values: unknown[] = [id];
  const after = { ...before } as unknown as Record<string, unknown>;
  for (const [key, column] of Object.entries(PROFILE_UPDATABLE)) {
    const v = patch[key as keyof ProfilePatch];
    if (v === undefined) continue;
    values.push(v);
    sets.push(`${column} = $${values.length}`);
    after[column] = v;
  }
  check(before, after as unknown as CardProfile);
  if (sets.length === 0) return before;
  return one<CardProfile>(tx, 'card profile', `UPDATE card_profiles SET ${sets.join(', ')} WHERE id = $1 RETURNING ${PROFILE_COLUMNS}`, [...values]);
}

export function getProfile(db: Db, id: number): Promise<CardProfile> {
  return one<CardProfile>(db, 'card profile', `SELECT ${PROFILE_COLUMNS} FROM card_profiles WHERE id = $1`, [id]);
}

/** A virtualization profile: terminal services off, transfer and recharge on. */
export function isVirtualizationProfile(p: ProfileFlags & { kind: string }): boolean {
  return p.kind === 'standard' && !p.fuel && !p.dotation && !p.ticket && p.transfer && p.recharge;
}

export function listProfiles(db: Db, clientId: number, page: Page): Promise<CardProfile[]> {
  return many<CardProfile>(db, `SELECT ${PROFILE_COLUMNS} FROM card_profiles WHERE client_id = $1 ORDER BY id LIMIT $2 OFFSET $3`, [
    clientId,
    page.limit,
    page.offset,
  ]);
}
