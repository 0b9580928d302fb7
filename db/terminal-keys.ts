/**
 * Terminal keys at rest: each terminal's master key and working keys (MAC, PIN), sealed with
 * AES-256-GCM under the key-encryption key (db/kek.ts). A row's associated data binds it to its
 * terminal, kind and algorithm, so a sealed key copied to another terminal's row, or a MAC key
 * moved into the PIN key's place, fails to open instead of being used. Keys are never logged;
 * errors name the terminal and kind, never a key.
 *
 * A new key of a kind retires the live one (`retired_at`); the switch still accepts a retired
 * working key for its grace period, so messages in flight across a key change still verify.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { kcv as checkValue, type KeyAlgorithm } from '../protocol/security/index.js';
import { inTransaction } from './pool.js';

export type TerminalKeyKind = 'master' | 'mac' | 'pin';

type Db = pg.Pool | pg.PoolClient;

const NONCE = 12;
const TAG = 16;

export class SealedKeyError extends Error {
  constructor(terminalId: string, kind: TerminalKeyKind) {
    super(`the ${kind} key of terminal ${terminalId} does not open under this key-encryption key (wrong KEY_ENCRYPTION_KEY, or altered row)`);
    this.name = 'SealedKeyError';
  }
}

function associatedData(terminalId: string, kind: TerminalKeyKind, algorithm: KeyAlgorithm): Buffer {
  return Buffer.from(`cynod-terminal-key:1:${terminalId}:${kind}:${algorithm}`, 'utf8');
}

function checkKek(kek: Uint8Array): void {
  if (kek.length !== 32) throw new RangeError('the key-encryption key is 32 bytes');
}

/** nonce (12) ‖ ciphertext ‖ tag (16), AES-256-GCM under `kek`. */
export function sealKey(kek: Uint8Array, terminalId: string, kind: TerminalKeyKind, algorithm: KeyAlgorithm, key: Uint8Array): Buffer {
  checkKek(kek);
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', kek, nonce);
  c.setAAD(associatedData(terminalId, kind, algorithm));
  const body = Buffer.concat([c.update(key), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]);
}

export function openKey(kek: Uint8Array, terminalId: string, kind: TerminalKeyKind, algorithm: KeyAlgorithm, sealed: Uint8Array): Buffer {
  checkKek(kek);
  if (sealed.length < NONCE + TAG + 1) throw new SealedKeyError(terminalId, kind);
  try {
    const d = createDecipheriv('aes-256-gcm', kek, sealed.subarray(0, NONCE));
    d.setAAD(associatedData(terminalId, kind, algorithm));
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    return Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]);
  } catch {
    throw new SealedKeyError(terminalId, kind);
  }
}

export interface StoredKey {
  id: number;
  kind: TerminalKeyKind;
  algorithm: KeyAlgorithm;
  key: Buffer;
  /** Upper-case hex check value of the key. */
  kcv: string;
  createdAt: Date;
  retiredAt: Date | null;
}

interface Row {
  id: string;
  kind: TerminalKeyKind;
  algorithm: KeyAlgorithm;
  sealed: Buffer;
  kcv: string;
  created_at: Date;
  retired_at: Date | null;
}

function fromRow(kek: Uint8Array, terminalId: string, r: Row): StoredKey {
  const key = openKey(kek, terminalId, r.kind, r.algorithm, r.sealed);
  return { id: Number(r.id), kind: r.kind, algorithm: r.algorithm, key, kcv: r.kcv, createdAt: r.created_at, retiredAt: r.retired_at };
}

export interface NewKey {
  kind: TerminalKeyKind;
  algorithm: KeyAlgorithm;
  key: Uint8Array;
}

/**
 * Stores `keys` as the terminal's live keys of their kinds, retiring the ones they replace, in
 * one transaction (the caller's when `db` is a client). Returns their check values.
 */
export async function putTerminalKeys(db: Db, kek: Uint8Array, terminalId: string, keys: NewKey[]): Promise<string[]> {
  const work = async (tx: pg.PoolClient | pg.Pool): Promise<string[]> => {
    const out: string[] = [];
    for (const k of keys) {
      const kcv = checkValue(k.algorithm, k.key).toString('hex').toUpperCase();
      await tx.query('UPDATE terminal_keys SET retired_at = now() WHERE terminal_id = $1 AND kind = $2 AND retired_at IS NULL', [terminalId, k.kind]);
      await tx.query('INSERT INTO terminal_keys (terminal_id, kind, algorithm, sealed, kcv) VALUES ($1, $2, $3, $4, $5)', [
        terminalId,
        k.kind,
        k.algorithm,
        sealKey(kek, terminalId, k.kind, k.algorithm, k.key),
        kcv,
      ]);
      out.push(kcv);
    }
    return out;
  };
  return 'totalCount' in db ? inTransaction(db, work) : work(db as pg.PoolClient);
}

/** The terminal's live key of `kind`, or undefined. */
export async function liveKey(db: Db, kek: Uint8Array, terminalId: string, kind: TerminalKeyKind): Promise<StoredKey | undefined> {
  const r = await db.query<Row>(
    'SELECT id, kind, algorithm, sealed, kcv, created_at, retired_at FROM terminal_keys WHERE terminal_id = $1 AND kind = $2 AND retired_at IS NULL',
    [terminalId, kind],
  );
  return r.rows[0] ? fromRow(kek, terminalId, r.rows[0]) : undefined;
}

/** Until when (ms since the epoch) a key acceptedKeys gave verifies: a live one always, a retired one for the grace period. */
export function usableUntil(k: Pick<StoredKey, 'retiredAt'>, graceSeconds: number): number {
  return k.retiredAt ? k.retiredAt.getTime() + graceSeconds * 1000 : Infinity;
}

/**
 * The keys of `kind` a message may be verified with: the live one first, then those retired
 * less than `graceSeconds` ago (newest first).
 */
export async function acceptedKeys(db: Db, kek: Uint8Array, terminalId: string, kind: TerminalKeyKind, graceSeconds: number): Promise<StoredKey[]> {
  const r = await db.query<Row>(
    `SELECT id, kind, algorithm, sealed, kcv, created_at, retired_at FROM terminal_keys
      WHERE terminal_id = $1 AND kind = $2 AND (retired_at IS NULL OR retired_at > now() - make_interval(secs => $3))
      ORDER BY retired_at DESC NULLS FIRST, id DESC`,
    [terminalId, kind, graceSeconds],
  );
  return r.rows.map((row) => fromRow(kek, terminalId, row));
}
