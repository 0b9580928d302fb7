/**
 * The zod schemas of the back office: operation inputs (shared by the HTTP routes and the
 * CLI), request parts, and response views. The OpenAPI document is generated from them.
 * Patterns repeat the database's CHECK constraints, so bad input is a 400 naming the field
 * before the database ever sees it.
 */
import { z } from 'zod';
import { ROLES } from './roles.js';

// ------------------------------------------------------------------ building blocks

/** DE4 is n12: the largest amount a terminal can carry, minor units. */
export const MAX_AMOUNT = 999_999_999_999;
export const MAX_TTL_SECONDS = 30 * 86_400;
export const PAGE_MAX = 500;
export const PAGE_DEFAULT = 50;

/** An id in a JSON body. */
export const RefId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** An id in a path or query string. */
export const ParamId = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const EntityCode = z.string().regex(/^[A-Z0-9_]{2,32}$/, 'upper-case letters, digits and _ (2 to 32)');
/** A service point's code is its card acceptor id (DE42, 15 characters). */
export const ServicePointCode = z.string().regex(/^[A-Z0-9_]{1,15}$/, 'upper-case letters, digits and _ (1 to 15)');
/** A terminal id is DE41: 8 letters or digits. */
export const TerminalId = z.string().regex(/^[A-Za-z0-9]{8}$/, '8 letters or digits (DE41)');
export const Name = z.string().trim().min(1).max(120);
export const Note = z.string().trim().max(200);
export const Amount = z.number().int().positive().max(MAX_AMOUNT).describe('minor units (XOF has no decimals)');
export const Expiry = z.string().regex(/^[0-9]{2}(0[1-9]|1[0-2])$/, 'YYMM');
export const Currency = z.string().regex(/^[0-9]{3}$/, 'ISO 4217 numeric (952 = XOF)');
export const IsoDate = z.iso.date();
export const Username = z.string().regex(/^[a-z0-9_.-]{2,64}$/, 'lower-case letters, digits and _ . - (2 to 64)');
export const RoleName = z.enum(ROLES);
export const TtlSeconds = z.number().int().min(60).max(MAX_TTL_SECONDS).describe('seconds');
const Limit = z.number().int().positive().max(MAX_AMOUNT).nullable().optional();
const CountLimit = z.number().int().positive().max(1_000_000).nullable().optional();

export const Timestamp = z.string().describe('ISO 8601 date-time');

// ------------------------------------------------------------------ operation inputs

export const NetworkInput = z.strictObject({ code: EntityCode, name: Name });

export const ClientInput = z.strictObject({ code: EntityCode, name: Name, networkId: RefId.nullable().optional() });

/** A card holder of a client: one of its members, or a beneficiary. */
export const HolderKind = z.enum(['member', 'beneficiary']);

export const MemberInput = z.strictObject({
  clientId: RefId,
  name: Name,
  kind: HolderKind.default('member'),
  email: z.email().max(200).nullable().optional(),
  phone: z.string().regex(/^\+?[0-9 ]{6,20}$/, 'digits, spaces and a leading +').nullable().optional(),
});

export const ServicePointInput = z.strictObject({
  code: ServicePointCode,
  name: Name,
  clientId: RefId.nullable().optional().describe('the establishment client the service point belongs to'),
});

export const KeyAlgorithm = z.enum(['tdes', 'aes']).describe('tdes: double-length 3DES (default); aes: AES-128');

export const TerminalInput = z.strictObject({ id: TerminalId, servicePointId: RefId, keyAlgorithm: KeyAlgorithm.optional() });

export const MasterKeyInput = z.strictObject({ terminalId: TerminalId, algorithm: KeyAlgorithm.optional() });

export const TerminalRef = z.strictObject({ terminalId: TerminalId });

export const PinInput = z.strictObject({ terminalId: TerminalId, ttlSeconds: TtlSeconds.optional() });

const TERMINAL_SERVICES = ['fuel', 'dotation', 'ticket'] as const;

export const ProfileInput = z
  .strictObject({
    clientId: RefId,
    code: EntityCode,
    name: Name,
    kind: z.enum(['standard', 'virtual']).default('standard'),
    fuel: z.boolean().default(false),
    dotation: z.boolean().default(false),
    ticket: z.boolean().default(false),
    transfer: z.boolean().default(false),
    recharge: z.boolean().default(false),
    limitPerTxn: Limit,
    limitDayAmount: Limit,
    limitDayCount: CountLimit,
    limitMonthAmount: Limit,
    limitMonthCount: CountLimit,
    validFrom: IsoDate.nullable().optional(),
    validTo: IsoDate.nullable().optional(),
    pinRequired: z.boolean().optional().describe("whether its cards' terminal payments need the cardholder PIN (DE52); default: true when fuel is on, else false"),
  })
  .refine((p) => !p.validFrom || !p.validTo || p.validFrom <= p.validTo, { path: ['validTo'], message: 'must not be before validFrom' })
  .refine((p) => p.kind !== 'virtual' || TERMINAL_SERVICES.every((s) => !p[s]), {
    path: ['kind'],
    message: 'a virtual-card profile (a service point\'s receiving account) has no terminal services',
  });

/**
 * A change to a profile: its name, services, limits, validity and PIN requirement (its client, code and kind stay).
 * Absent fields keep their value; a limit set to null is lifted.
 */
export const ProfileChange = z
  .strictObject({
    name: Name.optional(),
    fuel: z.boolean().optional(),
    dotation: z.boolean().optional(),
    ticket: z.boolean().optional(),
    transfer: z.boolean().optional(),
    recharge: z.boolean().optional(),
    limitPerTxn: Limit,
    limitDayAmount: Limit,
    limitDayCount: CountLimit,
    limitMonthAmount: Limit,
    limitMonthCount: CountLimit,
    validFrom: IsoDate.nullable().optional(),
    validTo: IsoDate.nullable().optional(),
    pinRequired: z.boolean().optional(),
  })
  .refine((p) => !p.validFrom || !p.validTo || p.validFrom <= p.validTo, { path: ['validTo'], message: 'must not be before validFrom' });

const CardFields = {
  clientId: RefId,
  memberId: RefId,
  profileId: RefId,
  expiry: Expiry.optional().describe('YYMM; default: three years from now'),
};

export const CardInput = z.strictObject({ ...CardFields, name: Name, currency: Currency.optional() });

export const VirtualCardInput = z.strictObject({ servicePointId: RefId, ...CardFields });

export const CardRef = z.strictObject({ cardId: RefId });

export const CardProfileInput = z.strictObject({ cardId: RefId, profileId: RefId });

export const CardStatusInput = z.strictObject({ cardId: RefId, reason: Note.optional() });

export const RechargeInput = z.strictObject({ cardId: RefId, amount: Amount, note: Note.optional() });

export const TransferInput = z.strictObject({ cardId: RefId, toCardId: RefId, amount: Amount, note: Note.optional() });

/** A cardholder PIN: 4 to 6 digits. */
export const CardPin = z.string().regex(/^[0-9]{4,6}$/, '4 to 6 digits');

export const CardPinInput = z.strictObject({
  cardId: RefId,
  pin: CardPin.optional().describe('the PIN to set; absent: a random 4-digit PIN is made and shown once'),
});

export const CodeInput = z.strictObject({
  cardId: RefId,
  amountMax: Amount,
  ttlSeconds: TtlSeconds,
  servicePointId: RefId.nullable().optional(),
});

export const UserInput = z.strictObject({ username: Username, role: RoleName });

export const UserRef = z.strictObject({ userId: RefId });

export const TokenInput = z.strictObject({ userId: RefId, label: Note.optional(), ttlSeconds: TtlSeconds.nullable().optional() });

export const TokenRef = z.strictObject({ tokenId: RefId });

// ------------------------------------------------------------------ request parts

export const IdParams = z.strictObject({ id: ParamId });
export const TerminalParams = z.strictObject({ id: TerminalId });

export const PageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(PAGE_MAX).default(PAGE_DEFAULT),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
});

export const ClientListQuery = PageQuery.extend({ networkId: ParamId.optional() });

export const CardListQuery = PageQuery.extend({
  clientId: ParamId.optional(),
  memberId: ParamId.optional(),
  profileId: ParamId.optional(),
  virtual: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
});

export const JournalQuery = z.strictObject({ journalLimit: z.coerce.number().int().min(0).max(PAGE_MAX).default(PAGE_DEFAULT) });

export const AuditQuery = PageQuery.extend({ entity: z.string().max(40).optional(), entityId: z.string().max(64).optional(), userId: ParamId.optional() });

/** A body that may be absent: the route then reads it as {}. */
export const EmptyBody = z.strictObject({});

// ------------------------------------------------------------------ views (responses)

export const NetworkView = z.object({ id: z.number(), code: z.string(), name: z.string() });

export const ClientView = z.object({
  id: z.number(),
  code: z.string(),
  name: z.string(),
  networkId: z.number().nullable(),
  fundingAccountId: z.number(),
});

export const MemberView = z.object({ id: z.number(), clientId: z.number(), name: z.string(), kind: HolderKind, email: z.string().nullable(), phone: z.string().nullable() });

export const ServicePointView = z.object({
  id: z.number(),
  code: z.string(),
  name: z.string(),
  status: z.enum(['active', 'closed']),
  clientId: z.number().nullable().describe('its establishment client'),
  virtualCardId: z.number().nullable(),
});

export const TerminalView = z.object({
  id: z.string(),
  servicePointId: z.number(),
  status: z.enum(['active', 'blocked']),
  initializedAt: Timestamp.nullable(),
});

const Hex = z.string().regex(/^[0-9A-F]+$/);

export const MasterKeyView = z.object({
  terminalId: z.string(),
  algorithm: z.enum(['tdes', 'aes']),
  kcv: Hex.describe("the master key's check value: the terminal shows it once both components are entered"),
  components: z
    .array(z.object({ value: Hex, kcv: Hex }))
    .describe('two clear components (XOR = the key), each with its check value: shown this once, for key injection by two people; the key is stored encrypted'),
});

export const TerminalCreatedView = TerminalView.extend({ masterKey: MasterKeyView });

export const PinView = z.object({
  terminalId: z.string(),
  pin: z.string().describe('the 4-digit security PIN: shown this once, stored hashed'),
  expiresAt: Timestamp,
});

export const ProfileView = z.object({
  id: z.number(),
  clientId: z.number(),
  code: z.string(),
  name: z.string(),
  kind: z.enum(['standard', 'virtual']),
  fuel: z.boolean(),
  dotation: z.boolean(),
  ticket: z.boolean(),
  transfer: z.boolean(),
  recharge: z.boolean(),
  limitPerTxn: z.number().nullable(),
  limitDayAmount: z.number().nullable(),
  limitDayCount: z.number().nullable(),
  limitMonthAmount: z.number().nullable(),
  limitMonthCount: z.number().nullable(),
  validFrom: z.string().nullable(),
  validTo: z.string().nullable(),
  pinRequired: z.boolean().describe("its cards' terminal payments need the cardholder PIN (DE52)"),
  virtualization: z.boolean().describe('terminal services off, transfer and recharge on: a card with it is virtualized'),
});

export const CardView = z.object({
  id: z.number(),
  panMasked: z.string().describe('first 6 and last 4 digits'),
  name: z.string(),
  clientId: z.number(),
  memberId: z.number(),
  profileId: z.number(),
  status: z.enum(['active', 'blocked', 'opposed', 'cancelled']),
  expiry: z.string(),
  isVirtual: z.boolean().describe("a service point's virtual card (its receiving account)"),
  servicePointId: z.number().nullable(),
  balance: z.number(),
  held: z.number(),
  available: z.number(),
  currency: z.string(),
  pinSet: z.boolean().describe('the card has a cardholder PIN (stored as an HMAC, never shown)'),
  pinBlocked: z.boolean().describe('wrong PINs in a row reached the limit (3): blocked until a new PIN is set'),
});

/** The answer that creates a card: the only one that shows the full PAN. */
export const NewCardView = CardView.extend({ pan: z.string().describe('the full PAN: shown this once') });

export const JournalLineView = z.object({
  id: z.number(),
  op: z.string(),
  source: z.string(),
  outcome: z.string(),
  terminalId: z.string().nullable(),
  stan: z.string().nullable(),
  amount: z.number(),
  movement: z.number().describe("signed movement on this card's account"),
  originalId: z.number().nullable(),
  reversedBy: z.number().nullable(),
  createdAt: Timestamp,
});

export const CardDetailView = CardView.extend({
  profile: ProfileView,
  virtualized: z.boolean(),
  journal: z.array(JournalLineView),
});

export const LedgerResultView = z.object({
  outcome: z.literal('approved'),
  journalId: z.number(),
  approvalCode: z.string().nullable(),
  card: CardView,
});

export const TransferResultView = LedgerResultView.extend({ toCard: CardView });

export const CodeView = z.object({
  id: z.number(),
  cardId: z.number(),
  code: z.string().describe('the transaction code: shown this once, stored as an HMAC'),
  amountMax: z.number(),
  expiresAt: Timestamp,
  servicePointId: z.number().nullable(),
});

/**
 * The answer that sets a card's PIN: the PIN itself only when the back office made it (shown
 * this once); a PIN the caller gave is not repeated.
 */
export const CardPinView = z.union([
  z.strictObject({ id: z.number(), pin: z.string().describe('the generated 4-digit PIN: shown this once, stored as an HMAC') }),
  z.strictObject({ id: z.number(), pinSet: z.literal(true) }),
]);

export const UserView = z.object({ id: z.number(), username: z.string(), role: RoleName, disabled: z.boolean() });

export const TokenView = z.object({
  id: z.number(),
  userId: z.number(),
  token: z.string().describe('the bearer token: shown this once, stored hashed'),
  expiresAt: Timestamp.nullable(),
});

export const RevokedView = z.object({ id: z.number(), revoked: z.literal(true) });

export const AuditView = z.object({
  id: z.number(),
  userId: z.number().nullable(),
  username: z.string().nullable(),
  action: z.string(),
  entity: z.string(),
  entityId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  createdAt: Timestamp,
});

export const MeView = UserView.extend({ tokenId: z.number() });

export const HealthView = z.object({ status: z.literal('ok') });

export const ReadyView = z.object({ status: z.literal('ready'), db: z.literal('ok'), redis: z.literal('ok') });

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), limit: z.number(), offset: z.number() });
}

export const ErrorView = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ field: z.string(), in: z.enum(['body', 'params', 'query']).optional(), message: z.string(), code: z.string().optional(), limit: z.number().optional() })).optional(),
  field: z.string().optional(),
  outcome: z.string().optional(),
  committed: z.boolean().optional(),
});
