/**
 * The back office's business operations, used by the HTTP routes and by the CLI alike.
 * Each write runs in one transaction with its audit_log row (acting user, action, entity,
 * id, details without secrets) and invalidates what the switch caches before it returns
 * (see cache.ts for the two-step invalidation and what a Redis failure means).
 * Money moves only through the ledger (recharge, transfer), which journals the acting user.
 */
import type { z } from 'zod';
import type { Invalidation } from '../db/cache-keys.js';
import { Ledger, type LedgerItem } from '../db/ledger.js';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.js';
import * as store from '../db/store.js';
import { StoreError } from '../db/store.js';
import { PanVault } from '../db/pan-vault.js';
import { hashPassword, newPin } from '../db/secrets.js';
import { putTerminalKeys } from '../db/terminal-keys.js';
import { generateKey, splitKey, type KeyAlgorithm } from '../protocol/security/index.js';
import type { Actor } from './actor.js';
import type { CacheInvalidator } from './cache.js';
import { DeclinedError } from './errors.js';
import type * as S from './schemas.js';
import * as V from './views.js';

type In<T extends z.ZodType> = z.output<T>;
type Out<T extends z.ZodType> = z.input<T>;

/** audit_log.action of every write. */
export const ACTIONS = {
  networkCreate: 'network.create',
  clientCreate: 'client.create',
  memberCreate: 'member.create',
  servicePointCreate: 'service_point.create',
  terminalCreate: 'terminal.create',
  terminalBlock: 'terminal.block',
  terminalUnblock: 'terminal.unblock',
  terminalPin: 'terminal.pin',
  terminalMasterKey: 'terminal.master_key',
  profileCreate: 'profile.create',
  profileUpdate: 'profile.update',
  cardCreate: 'card.create',
  virtualCardCreate: 'card.create_virtual',
  cardVirtualize: 'card.virtualize',
  cardUnvirtualize: 'card.unvirtualize',
  cardProfile: 'card.profile',
  cardBlock: 'card.block',
  cardUnblock: 'card.unblock',
  cardRecharge: 'card.recharge',
  cardTransfer: 'card.transfer',
  cardCode: 'card.code',
  cardPin: 'card.pin',
  userCreate: 'user.create',
  userDisable: 'user.disable',
  userEnable: 'user.enable',
  tokenCreate: 'token.create',
  tokenRevoke: 'token.revoke',
  userPassword: 'user.password',
  demoSeed: 'demo.seed',
} as const;

export type Action = (typeof ACTIONS)[keyof typeof ACTIONS];

/** Cards last this long unless the request gives an expiry. */
export const DEFAULT_CARD_YEARS = 3;

/** YYMM, `years` from `now`. */
export function defaultExpiry(now = new Date(), years = DEFAULT_CARD_YEARS): string {
  const yy = String((now.getUTCFullYear() + years) % 100).padStart(2, '0');
  return yy + String(now.getUTCMonth() + 1).padStart(2, '0');
}

interface Written<T> {
  result: T;
  entity: string;
  entityId: string | number;
  details?: Record<string, unknown>;
  changes?: Invalidation[];
}

export interface OperationsDeps {
  pool: Pool;
  cache: CacheInvalidator;
  hashSecret: string;
  pinTtlSeconds: number;
  /** Lifetime of a bearer token that names none (default DEFAULT_TOKEN_TTL_SECONDS). */
  tokenTtlSeconds?: number;
  /** The key-encryption key of terminal keys and PANs (db/kek.ts); asked for only when a key or a card is made. */
  kek: () => Buffer;
}

/** Bearer tokens expire: 30 days unless the request or BACKOFFICE_TOKEN_TTL_SECONDS says otherwise. */
export const DEFAULT_TOKEN_TTL_SECONDS = 30 * 86_400;

/** A referenced thing (in a body) that does not exist is a 422 naming the field, not a 404. */
async function ref<T>(field: string, lookup: Promise<T>): Promise<T> {
  try {
    return await lookup;
  } catch (e) {
    if (e instanceof StoreError && e.kind === 'not_found') throw new StoreError('invalid', e.message, field);
    throw e;
  }
}

const TERMINAL_SERVICES = ['fuel', 'dotation', 'ticket'] as const;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

/** Makes and stores (sealed) a terminal master key; returns it as two components for key injection. */
async function newMasterKey(tx: PoolClient, kek: Buffer, terminalId: string, algorithm: KeyAlgorithm): Promise<Out<typeof S.MasterKeyView>> {
  const key = generateKey(algorithm, 16);
  const [kcv] = await putTerminalKeys(tx, kek, terminalId, [{ kind: 'master', algorithm, key }]);
  const components = splitKey(algorithm, key, 2).map((c) => ({ value: hex(c.value), kcv: hex(c.kcv) }));
  return { terminalId, algorithm, kcv, components };
}

export class Operations {
  readonly ledger: Ledger;

  constructor(private readonly deps: OperationsDeps) {
    this.ledger = new Ledger(deps.pool);
  }

  get pool(): Pool {
    return this.deps.pool;
  }

  /** Seals new cards' PANs (KEY_ENCRYPTION_KEY) and keys them for lookup (HASH_SECRET). */
  panVault(): PanVault {
    return new PanVault(this.deps.kek(), this.deps.hashSecret);
  }

  private get tokenTtl(): number {
    return this.deps.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  }

  /** DB work + audit row + cache invalidation, committed together (see cache.ts). */
  private async write<T>(actor: Actor, action: Action, work: (tx: PoolClient) => Promise<Written<T>>): Promise<T> {
    const { cache } = this.deps;
    const w = await inTransaction(this.deps.pool, async (tx) => {
      const w = await work(tx);
      await store.audit(tx, { userId: actor.userId, action, entity: w.entity, entityId: w.entityId, details: auditDetails(actor, w.details) });
      await cache.beforeCommit(w.changes ?? []);
      return w;
    });
    await cache.afterCommit(w.changes ?? []);
    return w.result;
  }

  // ---------------------------------------------------------------- networks, clients, members

  createNetwork(actor: Actor, i: In<typeof S.NetworkInput>): Promise<Out<typeof S.NetworkView>> {
    return this.write(actor, ACTIONS.networkCreate, async (tx) => {
      const n = await store.createNetwork(tx, i);
      return { result: V.networkView(n), entity: 'network', entityId: n.id, details: { code: n.code } };
    });
  }

  createClient(actor: Actor, i: In<typeof S.ClientInput>): Promise<Out<typeof S.ClientView>> {
    return this.write(actor, ACTIONS.clientCreate, async (tx) => {
      if (i.networkId) await ref('networkId', store.getNetwork(tx, i.networkId));
      const c = await store.createClient(tx, { code: i.code, name: i.name, networkId: i.networkId ?? null });
      return { result: V.clientView(c), entity: 'client', entityId: c.id, details: { code: c.code, networkId: c.network_id } };
    });
  }

  createMember(actor: Actor, i: In<typeof S.MemberInput>): Promise<Out<typeof S.MemberView>> {
    return this.write(actor, ACTIONS.memberCreate, async (tx) => {
      await ref('clientId', store.getClient(tx, i.clientId));
      const m = await store.createMember(tx, i);
      return { result: V.memberView(m), entity: 'member', entityId: m.id, details: { clientId: m.client_id, kind: m.kind } };
    });
  }

  // ---------------------------------------------------------------- service points, terminals, PINs

  createServicePoint(actor: Actor, i: In<typeof S.ServicePointInput>): Promise<Out<typeof S.ServicePointView>> {
    return this.write(actor, ACTIONS.servicePointCreate, async (tx) => {
      if (i.clientId) await ref('clientId', store.getClient(tx, i.clientId));
      const s = await store.createServicePoint(tx, i);
      return { result: V.servicePointView(s), entity: 'service_point', entityId: s.id, details: { code: s.code, clientId: s.client_id }, changes: [this.deps.cache.servicePoint(s.code)] };
    });
  }

  /** A terminal and its master key, whose components are shown this once. */
  createTerminal(actor: Actor, i: In<typeof S.TerminalInput>): Promise<Out<typeof S.TerminalCreatedView>> {
    const kek = this.deps.kek();
    return this.write(actor, ACTIONS.terminalCreate, async (tx) => {
      await ref('servicePointId', store.getServicePoint(tx, i.servicePointId));
      const t = await store.createTerminal(tx, { id: i.id, servicePointId: i.servicePointId });
      const masterKey = await newMasterKey(tx, kek, t.id, i.keyAlgorithm ?? 'tdes');
      return {
        result: { ...V.terminalView(t), masterKey },
        entity: 'terminal',
        entityId: t.id,
        details: { servicePointId: t.service_point_id, keyAlgorithm: masterKey.algorithm, kcv: masterKey.kcv },
        changes: [this.deps.cache.terminal(t.id)],
      };
    });
  }

  /**
   * A new master key for the terminal (lost, compromised, or the terminal replaced): shown once
   * as components. Its working keys stay until the next initialising sign-on, which needs a
   * security PIN, since the terminal cannot unwrap keys sent under the new master key before it
   * is injected.
   */
  renewMasterKey(actor: Actor, i: In<typeof S.MasterKeyInput>): Promise<Out<typeof S.MasterKeyView>> {
    const kek = this.deps.kek();
    return this.write(actor, ACTIONS.terminalMasterKey, async (tx) => {
      await store.getTerminal(tx, i.terminalId);
      const masterKey = await newMasterKey(tx, kek, i.terminalId, i.algorithm ?? 'tdes');
      return { result: masterKey, entity: 'terminal', entityId: i.terminalId, details: { keyAlgorithm: masterKey.algorithm, kcv: masterKey.kcv } };
    });
  }

  setTerminalStatus(actor: Actor, i: In<typeof S.TerminalRef>, status: store.Terminal['status']): Promise<Out<typeof S.TerminalView>> {
    return this.write(actor, status === 'blocked' ? ACTIONS.terminalBlock : ACTIONS.terminalUnblock, async (tx) => {
      const before = await store.getTerminal(tx, i.terminalId);
      const t = await store.setTerminalStatus(tx, i.terminalId, status);
      return {
        result: V.terminalView(t),
        entity: 'terminal',
        entityId: t.id,
        details: { from: before.status, to: t.status },
        changes: [this.deps.cache.terminal(t.id)],
      };
    });
  }

  /** A new security PIN, shown once; it replaces the terminal's unused one. */
  issuePin(actor: Actor, i: In<typeof S.PinInput>): Promise<Out<typeof S.PinView>> {
    return this.write(actor, ACTIONS.terminalPin, async (tx) => {
      const p = await store.issueTerminalPin(tx, i.terminalId, i.ttlSeconds ?? this.deps.pinTtlSeconds, actor.userId ?? undefined);
      const expiresAt = V.iso(p.expiresAt);
      return { result: { terminalId: i.terminalId, pin: p.pin, expiresAt }, entity: 'terminal', entityId: i.terminalId, details: { expiresAt } };
    });
  }

  // ---------------------------------------------------------------- profiles and cards

  /** A profile; unless the request says, a fuel profile requires the cardholder PIN and any other does not. */
  createProfile(actor: Actor, i: In<typeof S.ProfileInput>): Promise<Out<typeof S.ProfileView>> {
    return this.write(actor, ACTIONS.profileCreate, async (tx) => {
      await ref('clientId', store.getClient(tx, i.clientId));
      const p = await store.createProfile(tx, { ...i, pinRequired: i.pinRequired ?? i.fuel });
      return {
        result: V.profileView(p),
        entity: 'profile',
        entityId: p.id,
        details: { clientId: p.client_id, code: p.code, kind: p.kind, pinRequired: p.pin_required },
        changes: [this.deps.cache.profile(p.id)],
      };
    });
  }

  /**
   * Changes a profile's services, limits or validity; every card with it follows at once (the
   * switch's cached profile is invalidated). A virtual-card profile keeps its terminal services off.
   */
  updateProfile(actor: Actor, i: { profileId: number } & In<typeof S.ProfileChange>): Promise<Out<typeof S.ProfileView>> {
    return this.write(actor, ACTIONS.profileUpdate, async (tx) => {
      const { profileId, ...patch } = i;
      let changed: Record<string, { from: unknown; to: unknown }> = {};
      const p = await store.updateProfile(tx, profileId, patch, (before, after) => {
        if (after.kind === 'virtual' && TERMINAL_SERVICES.some((s) => after[s])) {
          throw new StoreError('invalid', "a virtual-card profile (a service point's receiving account) has no terminal services", TERMINAL_SERVICES.find((s) => after[s]));
        }
        const from = before as unknown as Record<string, unknown>;
        const to = after as unknown as Record<string, unknown>;
        changed = Object.fromEntries(Object.keys(to).filter((k) => from[k] !== to[k]).map((k) => [k, { from: from[k], to: to[k] }]));
      });
      return { result: V.profileView(p), entity: 'profile', entityId: p.id, details: { code: p.code, changed }, changes: [this.deps.cache.profile(p.id)] };
    });
  }

  /** A standard card: the answer shows its full PAN, this once. */
  createCard(actor: Actor, i: In<typeof S.CardInput>): Promise<Out<typeof S.NewCardView>> {
    const vault = this.panVault();
    return this.write(actor, ACTIONS.cardCreate, async (tx) => {
      await ref('clientId', store.getClient(tx, i.clientId));
      const c = await store.createCard(tx, vault, { ...i, expiry: i.expiry ?? defaultExpiry() });
      return { result: V.newCardView(c), entity: 'card', entityId: c.id, details: cardDetails(c), changes: [this.deps.cache.cardByKey(c.panKey)] };
    });
  }

  /** The virtual card of a service point, named C_VIRT_<code>; one per service point. */
  createVirtualCard(actor: Actor, i: In<typeof S.VirtualCardInput>): Promise<Out<typeof S.NewCardView>> {
    const vault = this.panVault();
    return this.write(actor, ACTIONS.virtualCardCreate, async (tx) => {
      const sp = await ref('servicePointId', store.getServicePoint(tx, i.servicePointId));
      await ref('clientId', store.getClient(tx, i.clientId));
      const c = await store.createVirtualCard(tx, vault, { ...i, expiry: i.expiry ?? defaultExpiry() });
      return {
        result: V.newCardView(c),
        entity: 'card',
        entityId: c.id,
        details: { ...cardDetails(c), servicePointId: sp.id, servicePointCode: sp.code },
        changes: [this.deps.cache.cardByKey(c.panKey), this.deps.cache.servicePoint(sp.code)],
      };
    });
  }

  /** Gives a card a virtualization profile: no more terminal transactions, back-office operations only. */
  virtualize(actor: Actor, i: In<typeof S.CardProfileInput>): Promise<Out<typeof S.CardView>> {
    return this.changeProfile(actor, i, ACTIONS.cardVirtualize, async (tx, card) => {
      if (card.is_virtual) throw new StoreError('invalid', "a service point's virtual card cannot be virtualized", 'cardId');
      const p = await ref('profileId', store.getProfile(tx, i.profileId));
      if (!store.isVirtualizationProfile(p)) {
        throw new StoreError(
          'invalid',
          `profile ${p.code} is not a virtualization profile: it needs kind standard, fuel, dotation and ticket off, transfer and recharge on`,
          'profileId',
        );
      }
    });
  }

  /** Undoes a virtualization: a standard profile with terminal services. */
  unvirtualize(actor: Actor, i: In<typeof S.CardProfileInput>): Promise<Out<typeof S.CardView>> {
    return this.changeProfile(actor, i, ACTIONS.cardUnvirtualize, async (tx, card) => {
      const current = await store.getProfile(tx, card.profile_id);
      if (!store.isVirtualizationProfile(current)) throw new StoreError('invalid', 'the card is not virtualized', 'cardId');
      const p = await ref('profileId', store.getProfile(tx, i.profileId));
      if (p.kind !== 'standard' || !TERMINAL_SERVICES.some((s) => p[s])) {
        throw new StoreError('invalid', `profile ${p.code} is not a standard profile with a terminal service (fuel, dotation or ticket)`, 'profileId');
      }
    });
  }

  /** Any profile of the card's client (a virtual card keeps a virtual-card profile). */
  setProfile(actor: Actor, i: In<typeof S.CardProfileInput>): Promise<Out<typeof S.CardView>> {
    return this.changeProfile(actor, i, ACTIONS.cardProfile, async (tx) => {
      await ref('profileId', store.getProfile(tx, i.profileId));
    });
  }

  private changeProfile(
    actor: Actor,
    i: In<typeof S.CardProfileInput>,
    action: Action,
    check: (tx: PoolClient, card: store.Card) => Promise<void>,
  ): Promise<Out<typeof S.CardView>> {
    return this.write(actor, action, async (tx) => {
      const card = await store.getCard(tx, i.cardId);
      await check(tx, card);
      const c = await store.setCardProfile(tx, i.cardId, i.profileId);
      return {
        result: V.cardView(c),
        entity: 'card',
        entityId: c.id,
        details: { panMasked: c.panMasked, fromProfileId: card.profile_id, toProfileId: c.profile_id },
        changes: [this.deps.cache.cardByKey(c.panKey)],
      };
    });
  }

  setCardStatus(actor: Actor, i: In<typeof S.CardStatusInput>, status: 'active' | 'blocked'): Promise<Out<typeof S.CardView>> {
    return this.write(actor, status === 'blocked' ? ACTIONS.cardBlock : ACTIONS.cardUnblock, async (tx) => {
      const before = await store.getCard(tx, i.cardId);
      const c = await store.setCardStatus(tx, i.cardId, status);
      return {
        result: V.cardView(c),
        entity: 'card',
        entityId: c.id,
        details: { panMasked: c.panMasked, from: before.status, to: c.status, ...(i.reason ? { reason: i.reason } : {}) },
        changes: [this.deps.cache.cardByKey(c.panKey)],
      };
    });
  }

  // ---------------------------------------------------------------- money: through the ledger

  async recharge(actor: Actor, i: In<typeof S.RechargeInput>): Promise<Out<typeof S.LedgerResultView>> {
    await store.getCard(this.pool, i.cardId);
    const r = await this.post(actor, ACTIONS.cardRecharge, { op: 'recharge', source: 'backoffice', cardId: i.cardId, amount: i.amount, note: i.note }, {
      amount: i.amount,
    });
    return { outcome: 'approved', journalId: r.journalId, approvalCode: r.approvalCode, card: V.cardView(await store.getCard(this.pool, i.cardId)) };
  }

  /** Between cards of one client, or of clients of one network (the ledger decides). */
  async transfer(actor: Actor, i: In<typeof S.TransferInput>): Promise<Out<typeof S.TransferResultView>> {
    await store.getCard(this.pool, i.cardId);
    await ref('toCardId', store.getCard(this.pool, i.toCardId));
    const r = await this.post(
      actor,
      ACTIONS.cardTransfer,
      { op: 'transfer', source: 'backoffice', cardId: i.cardId, toCardId: i.toCardId, amount: i.amount, note: i.note },
      { amount: i.amount, toCardId: i.toCardId },
    );
    const [card, toCard] = await Promise.all([store.getCard(this.pool, i.cardId), store.getCard(this.pool, i.toCardId)]);
    return { outcome: 'approved', journalId: r.journalId, approvalCode: r.approvalCode, card: V.cardView(card), toCard: V.cardView(toCard) };
  }

  /**
   * Posts one back-office item and audits it, approved or declined (a decline throws
   * DeclinedError after the audit row). The ledger commits on its own, so the audit row
   * follows it; the journal row itself carries the acting user too.
   */
  private async post(actor: Actor, action: Action, item: LedgerItem, details: Record<string, unknown>) {
    const [r] = await this.ledger.post([{ ...item, userId: actor.userId ?? undefined }]);
    await store.audit(this.pool, {
      userId: actor.userId,
      action,
      entity: 'card',
      entityId: item.cardId,
      details: auditDetails(actor, { ...details, outcome: r.outcome, journalId: r.journalId }),
    });
    if (r.outcome !== 'approved') throw new DeclinedError(r.outcome, r.journalId);
    return r;
  }

  /** A transaction code: shown once in the answer, stored as an HMAC under HASH_SECRET. */
  createCode(actor: Actor, i: In<typeof S.CodeInput>): Promise<Out<typeof S.CodeView>> {
    return this.write(actor, ACTIONS.cardCode, async (tx) => {
      const card = await store.getCard(tx, i.cardId);
      if (i.servicePointId) await ref('servicePointId', store.getServicePoint(tx, i.servicePointId));
      const q = await store.createTransactionCode(tx, {
        cardId: i.cardId,
        amountMax: i.amountMax,
        ttlSeconds: i.ttlSeconds,
        servicePointId: i.servicePointId ?? null,
        userId: actor.userId,
        secret: this.deps.hashSecret,
      });
      const expiresAt = V.iso(q.expiresAt);
      return {
        result: { id: q.id, cardId: i.cardId, code: q.code, amountMax: i.amountMax, expiresAt, servicePointId: i.servicePointId ?? null },
        entity: 'card',
        entityId: i.cardId,
        details: { panMasked: card.panMasked, codeId: q.id, amountMax: i.amountMax, expiresAt, servicePointId: i.servicePointId ?? null },
      };
    });
  }

  /**
   * Sets or resets a card's cardholder PIN: stored as HMAC(HASH_SECRET, card id, PIN), its wrong
   * tries back to 0 (which lifts a PIN block). A PIN the caller gave is not repeated in the
   * answer; one made here is shown this once. Neither is audited. Nothing to invalidate: the
   * switch's cached card record carries no PIN data.
   */
  setCardPin(actor: Actor, i: In<typeof S.CardPinInput>): Promise<Out<typeof S.CardPinView>> {
    const pin = i.pin ?? newPin();
    return this.write(actor, ACTIONS.cardPin, async (tx) => {
      const before = await store.getCard(tx, i.cardId);
      const c = await store.setCardPin(tx, { cardId: i.cardId, pin, secret: this.deps.hashSecret });
      return {
        result: i.pin === undefined ? { id: c.id, pin } : { id: c.id, pinSet: true as const },
        entity: 'card',
        entityId: c.id,
        details: { panMasked: c.panMasked, generated: i.pin === undefined, wasSet: before.pin_set, wasBlocked: before.pin_blocked },
      };
    });
  }

  // ---------------------------------------------------------------- users and tokens

  createUser(actor: Actor, i: In<typeof S.UserInput>): Promise<Out<typeof S.UserView>> {
    return this.write(actor, ACTIONS.userCreate, async (tx) => {
      const u = await store.createUser(tx, i);
      return { result: V.userView(u), entity: 'user', entityId: u.id, details: { username: u.username, role: u.role } };
    });
  }

  setUserDisabled(actor: Actor, i: In<typeof S.UserRef>, disabled: boolean): Promise<Out<typeof S.UserView>> {
    return this.write(actor, disabled ? ACTIONS.userDisable : ACTIONS.userEnable, async (tx) => {
      const u = await store.setUserDisabled(tx, i.userId, disabled);
      return { result: V.userView(u), entity: 'user', entityId: u.id, details: { username: u.username } };
    });
  }

  /** Sets a user's web password (stored as its scrypt hash) and lifts a lock-out; the password is never audited. */
  async setPassword(actor: Actor, i: { userId: number; password: string }): Promise<Out<typeof S.UserView>> {
    const hash = await hashPassword(i.password);
    return this.write(actor, ACTIONS.userPassword, async (tx) => {
      const u = await store.setPasswordHash(tx, i.userId, hash);
      return { result: V.userView(u), entity: 'user', entityId: u.id, details: { username: u.username } };
    });
  }

  /** A bearer token, shown once; stored hashed. */
  createToken(actor: Actor, i: In<typeof S.TokenInput>): Promise<Out<typeof S.TokenView>> {
    return this.write(actor, ACTIONS.tokenCreate, async (tx) => {
      const u = await store.getUser(tx, i.userId);
      const t = await store.createToken(tx, { userId: u.id, label: i.label, ttlSeconds: i.ttlSeconds ?? this.tokenTtl });
      const expiresAt = V.isoOrNull(t.expiresAt);
      return {
        result: { id: t.id, userId: u.id, token: t.token, expiresAt },
        entity: 'token',
        entityId: t.id,
        details: { userId: u.id, username: u.username, label: i.label ?? null, expiresAt },
      };
    });
  }

  revokeToken(actor: Actor, i: In<typeof S.TokenRef>): Promise<Out<typeof S.RevokedView>> {
    return this.write(actor, ACTIONS.tokenRevoke, async (tx) => {
      await store.revokeToken(tx, i.tokenId);
      return { result: { id: i.tokenId, revoked: true as const }, entity: 'token', entityId: i.tokenId };
    });
  }

  /** The first ADMIN and its token (CLI bootstrap); refused once an enabled ADMIN exists. */
  createFirstAdmin(actor: Actor, i: { username: string; label?: string }): Promise<{ user: Out<typeof S.UserView>; token: Out<typeof S.TokenView> }> {
    return this.write(actor, ACTIONS.userCreate, async (tx) => {
      await tx.query('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
      if ((await store.countUsers(tx, 'ADMIN')) > 0) {
        throw new StoreError('conflict', 'an ADMIN user already exists: use create-user <username> ADMIN, then token <username>', 'username');
      }
      const u = await store.createUser(tx, { username: i.username, role: 'ADMIN' });
      const t = await store.createToken(tx, { userId: u.id, label: i.label ?? 'first admin', ttlSeconds: this.tokenTtl });
      return {
        result: { user: V.userView(u), token: { id: t.id, userId: u.id, token: t.token, expiresAt: V.isoOrNull(t.expiresAt) } },
        entity: 'user',
        entityId: u.id,
        details: { username: u.username, role: u.role, tokenId: t.id, bootstrap: true },
      };
    });
  }
}

function cardDetails(c: store.Card): Record<string, unknown> {
  return { panMasked: c.panMasked, name: c.name, clientId: c.client_id, memberId: c.member_id, profileId: c.profile_id };
}

/** What every audit row says about how the change came: API or CLI (and who ran the CLI). */
function auditDetails(actor: Actor, details: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...details, via: actor.via, ...(actor.userId === null ? { by: actor.username } : {}), ...(actor.tokenId ? { tokenId: actor.tokenId } : {}) };
}
