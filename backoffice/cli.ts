#!/usr/bin/env node
/**
 * The back office's admin CLI: bootstrap (migrate, create-admin, users and tokens), the
 * ledger check, WAL files made ready, the demo seed, and the API's write operations for scripting. Inputs are
 * validated with the API's own zod schemas; results are printed as JSON on stdout, errors
 * as JSON on stderr (exit 1; 2 for bad usage or input).
 *
 *   node dist/backoffice/cli.js --help
 *   node dist/backoffice/cli.js recharge --card-id 5 --amount 10000 --as alice
 *
 * Environment: the back office's (DATABASE_URL, DB_SCHEMA, REDIS_URL, REDIS_PREFIX, HASH_SECRET, ...).
 */
import { userInfo } from 'node:os';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { checkLedger } from '../db/check.js';
import { describePrepared, prepareWal } from '../db/wal.js';
import { ConfigError, parseEnv, refuseProductionSchemaDrop } from '../db/config.js';
import { markDemoSchema, refuseForeignDataDrop } from '../db/demo-mark.js';
import { loadKek } from '../db/kek.js';
import { migrate } from '../db/migrate.js';
import { newPassword } from '../db/secrets.js';
import { createPool, type Pool } from '../db/pool.js';
import * as store from '../db/store.js';
import type { Actor } from './actor.js';
import { CacheInvalidator } from './cache.js';
import { describeOptions, inputFrom, parseArgs, UsageError, type ParsedArgs } from './cli-args.js';
import { backofficeEnv, type BackofficeConfig } from './config.js';
import { redactPans, toHttp } from './errors.js';
import { Operations } from './operations.js';
import { connectRedis, createRedis, deleteKeys } from './redis.js';
import * as S from './schemas.js';
import { fleetOf, seedDemo } from './seed.js';
import { writeFileSync } from 'node:fs';

interface CliContext {
  pool: Pool;
  ops: Operations;
  actor: Actor;
  config: BackofficeConfig;
  /** Sets the process exit status (ledger-check). */
  setExit(code: number): void;
}

interface Verb {
  name: string;
  summary: string;
  schema: z.ZodType;
  positionals: string[];
  /** Needs Redis (the operation invalidates cached records). */
  cache: boolean;
  run(ctx: CliContext, input: unknown): Promise<unknown>;
}

function verb<T extends z.ZodType>(def: {
  name: string;
  summary: string;
  schema: T;
  positionals?: string[];
  cache?: boolean;
  run(ctx: CliContext, input: z.output<T>): Promise<unknown>;
}): Verb {
  return { positionals: [], cache: false, ...def } as Verb;
}

const NoInput = z.strictObject({});
const Count = (max: number) => z.number().int().min(0).max(max);

const SeedInput = z.strictObject({
  cards: Count(1_000_000).optional().describe('standard cards (default 5)'),
  servicePoints: Count(999).optional().describe('service points (default 1, PS_SENOSOFT)'),
  terminalsPerServicePoint: Count(99).optional().describe('default 2'),
  balance: Count(1e12).optional().describe('balance of each card, minor units (default 100000)'),
  pins: z.boolean().optional().describe('issue terminal PINs (default: when 20 terminals or fewer)'),
  reset: z.boolean().optional().describe('drop DB_SCHEMA and the cache keys under REDIS_PREFIX first: a schema this seed or make demo made, or an empty one (others, and the schema cynod, only with --yes)'),
  yes: z.boolean().optional().describe('with --reset: drop the schema whatever it holds'),
  yesDropProduction: z.boolean().optional().describe('with --reset: the same as --yes'),
  show: Count(1_000_000).default(20).describe('cards listed in the output'),
  initializeTerminals: z.boolean().optional().describe('mark the terminals initialized (no PIN sign-on needed; for load tests)'),
  fleet: z.string().min(1).optional().describe('write the terminal simulator\'s fleet file (terminals, PINs, cards) to this path'),
});

const CARD_OPS = 'card operations (the API\'s /carte/*)';

const VERBS: Verb[] = [
  verb({
    name: 'migrate',
    summary: 'Apply the pending SQL migrations (and db/functions.sql if it changed) to DB_SCHEMA',
    schema: NoInput,
    run: async ({ pool, config }) => migrate(pool, config.DB_SCHEMA),
  }),
  verb({
    name: 'create-admin',
    summary: 'Create the first ADMIN user and print its token (once)',
    schema: z.strictObject({ username: S.Username, label: S.Note.optional() }),
    positionals: ['username'],
    run: ({ ops, actor }, i) => ops.createFirstAdmin(actor, i),
  }),
  verb({
    name: 'create-user',
    summary: 'Create a user with a role (ADMIN, OPERATOR, VIEWER)',
    schema: S.UserInput,
    positionals: ['username', 'role'],
    run: ({ ops, actor }, i) => ops.createUser(actor, i),
  }),
  verb({
    name: 'token',
    summary: 'Create a bearer token for a user and print it (once)',
    schema: z.strictObject({ username: S.Username, label: S.Note.optional(), ttlSeconds: S.TtlSeconds.optional() }),
    positionals: ['username'],
    run: async ({ ops, actor, pool }, i) => {
      const u = await store.getUserByUsername(pool, i.username);
      return ops.createToken(actor, { userId: u.id, label: i.label, ttlSeconds: i.ttlSeconds });
    },
  }),
  verb({
    name: 'set-password',
    summary: "Give a user a new random web password and print it (once); lifts a lock-out",
    schema: z.strictObject({ username: S.Username }),
    positionals: ['username'],
    run: async ({ ops, actor, pool }, i) => {
      const u = await store.getUserByUsername(pool, i.username);
      const password = newPassword();
      const user = await ops.setPassword(actor, { userId: u.id, password });
      return { user, password, note: 'shown this once; the user signs in at the back office URL with it' };
    },
  }),
  verb({
    name: 'revoke-token',
    summary: 'Revoke a bearer token by id',
    schema: S.TokenRef,
    positionals: ['tokenId'],
    run: ({ ops, actor }, i) => ops.revokeToken(actor, i),
  }),
  verb({
    name: 'ledger-check',
    summary: 'Prove double entry and the ledger\'s rules over the whole ledger, each a named check (exit 1 when one fails)',
    schema: NoInput,
    run: async ({ pool, setExit }) => {
      const report = await checkLedger(pool);
      if (!report.ok) setExit(1);
      return report;
    },
  }),
  verb({
    name: 'prepare-wal',
    summary:
      "Make PostgreSQL's WAL segment files ready ahead of its write position (--segments N; default three quarters of max_wal_size), so that no commit creates one: before a new server takes traffic (exit 1 when it cannot)",
    schema: z.strictObject({ segments: z.coerce.number().int().min(0).max(100_000).optional() }),
    run: async ({ pool, setExit }, i) => {
      const p = await prepareWal(pool, i.segments);
      if (!p.ok) setExit(1);
      return { ...p, summary: describePrepared(p) };
    },
  }),
  verb({
    name: 'seed',
    summary: 'Create the demo data (ELTON, PS_SENOSOFT, profiles, funded cards, an ADMIN and its token)',
    schema: SeedInput,
    run: async ({ pool, ops, config }, i) => {
      if (i.reset) await reset(pool, config, i.yes === true || i.yesDropProduction === true); // checked again there: reset drops
      const r = await seedDemo(pool, ops.panVault(), i);
      await markDemoSchema(pool, config.DB_SCHEMA);
      if (i.fleet) writeFileSync(i.fleet, JSON.stringify(fleetOf(r), null, 2) + '\n', { mode: 0o600 });
      return {
        demo: true,
        warning: 'DEMO DATA: the full PANs, PINs and token below are printed for the demo only; never do this with real cards',
        ...r,
        cards: r.cards.slice(0, i.show),
        cardsTotal: r.cards.length,
      };
    },
  }),
  verb({ name: 'network', summary: 'Create a network', schema: S.NetworkInput, run: ({ ops, actor }, i) => ops.createNetwork(actor, i) }),
  verb({ name: 'client', summary: 'Create a client', schema: S.ClientInput, run: ({ ops, actor }, i) => ops.createClient(actor, i) }),
  verb({ name: 'member', summary: 'Create a member of a client', schema: S.MemberInput, run: ({ ops, actor }, i) => ops.createMember(actor, i) }),
  verb({
    name: 'service-point',
    summary: 'Create a service point',
    schema: S.ServicePointInput,
    cache: true,
    run: ({ ops, actor }, i) => ops.createServicePoint(actor, i),
  }),
  verb({ name: 'terminal', summary: 'Create a terminal', schema: S.TerminalInput, cache: true, run: ({ ops, actor }, i) => ops.createTerminal(actor, i) }),
  verb({
    name: 'block-terminal',
    summary: 'Block a terminal',
    schema: S.TerminalRef,
    cache: true,
    run: ({ ops, actor }, i) => ops.setTerminalStatus(actor, i, 'blocked'),
  }),
  verb({
    name: 'unblock-terminal',
    summary: 'Unblock a terminal',
    schema: S.TerminalRef,
    cache: true,
    run: ({ ops, actor }, i) => ops.setTerminalStatus(actor, i, 'active'),
  }),
  verb({
    name: 'master-key',
    summary: "Generate a new terminal master key (components printed once)",
    schema: S.MasterKeyInput,
    run: ({ ops, actor }, i) => ops.renewMasterKey(actor, i),
  }),
  verb({ name: 'pin', summary: "Generate a terminal's security PIN (printed once)", schema: S.PinInput, run: ({ ops, actor }, i) => ops.issuePin(actor, i) }),
  verb({ name: 'profile', summary: 'Create a card profile', schema: S.ProfileInput, cache: true, run: ({ ops, actor }, i) => ops.createProfile(actor, i) }),
  verb({ name: 'card', summary: 'Create a standard card (full PAN printed once)', schema: S.CardInput, cache: true, run: ({ ops, actor }, i) => ops.createCard(actor, i) }),
  verb({
    name: 'virtual-card',
    summary: `Create the virtual card C_VIRT_<code> of a service point; ${CARD_OPS}`,
    schema: S.VirtualCardInput,
    cache: true,
    run: ({ ops, actor }, i) => ops.createVirtualCard(actor, i),
  }),
  verb({
    name: 'virtualize',
    summary: `Give a card a virtualization profile; ${CARD_OPS}`,
    schema: S.CardProfileInput,
    cache: true,
    run: ({ ops, actor }, i) => ops.virtualize(actor, i),
  }),
  verb({
    name: 'unvirtualize',
    summary: `Give a virtualized card back a standard profile; ${CARD_OPS}`,
    schema: S.CardProfileInput,
    cache: true,
    run: ({ ops, actor }, i) => ops.unvirtualize(actor, i),
  }),
  verb({
    name: 'set-profile',
    summary: `Change a card's profile; ${CARD_OPS}`,
    schema: S.CardProfileInput,
    cache: true,
    run: ({ ops, actor }, i) => ops.setProfile(actor, i),
  }),
  verb({ name: 'block', summary: `Block a card; ${CARD_OPS}`, schema: S.CardStatusInput, cache: true, run: ({ ops, actor }, i) => ops.setCardStatus(actor, i, 'blocked') }),
  verb({ name: 'unblock', summary: `Unblock a card; ${CARD_OPS}`, schema: S.CardStatusInput, cache: true, run: ({ ops, actor }, i) => ops.setCardStatus(actor, i, 'active') }),
  verb({ name: 'recharge', summary: `Recharge a card through the ledger; ${CARD_OPS}`, schema: S.RechargeInput, run: ({ ops, actor }, i) => ops.recharge(actor, i) }),
  verb({ name: 'transfer', summary: `Transfer balance between cards; ${CARD_OPS}`, schema: S.TransferInput, run: ({ ops, actor }, i) => ops.transfer(actor, i) }),
  verb({ name: 'code', summary: `Generate a transaction code (printed once); ${CARD_OPS}`, schema: S.CodeInput, run: ({ ops, actor }, i) => ops.createCode(actor, i) }),
];

/** The CLI's own options, on every verb. */
const GLOBAL = ['as', 'help'];

function usage(): string {
  const width = Math.max(...VERBS.map((v) => v.name.length + v.positionals.join(' ').length + 3));
  return [
    'usage: node dist/backoffice/cli.js <verb> [arguments] [--option value ...] [--as <username>]',
    '',
    'verbs:',
    ...VERBS.map((v) => `  ${`${v.name} ${v.positionals.map((p) => `<${p}>`).join(' ')}`.padEnd(width + 2)} ${v.summary}`),
    '',
    'options of every verb:',
    '  --as <username>   the user recorded in the audit log (default: the operating-system user, no user id)',
    '  --help            this help, or a verb\'s options: <verb> --help',
    '',
    'environment: DATABASE_URL, DB_SCHEMA, REDIS_URL, REDIS_PREFIX, HASH_SECRET (as the back office).',
  ].join('\n');
}

function verbUsage(v: Verb): string {
  const opts = describeOptions(v.schema, v.positionals);
  const head = ['usage: cli.js', v.name, ...v.positionals.map((p) => `<${p}>`), '[--option value ...] [--as <username>]'].join(' ');
  return [head, '', v.summary, ...(opts.length ? ['', 'options:', ...opts] : [])].join('\n');
}

async function reset(pool: Pool, config: BackofficeConfig, yes: boolean): Promise<void> {
  refuseProductionSchemaDrop(config.DB_SCHEMA, yes);
  await refuseForeignDataDrop(pool, config.DB_SCHEMA, yes);
  await pool.query(`DROP SCHEMA IF EXISTS ${config.DB_SCHEMA} CASCADE`);
  await migrate(pool, config.DB_SCHEMA);
  const redis = createRedis({ url: config.REDIS_URL, commandTimeoutMs: config.BACKOFFICE_CACHE_TIMEOUT_MS });
  try {
    if (!(await connectRedis(redis))) {
      console.error(`warning: Redis unreachable: cached records under ${config.REDIS_PREFIX} were not flushed`);
      return;
    }
    await deleteKeys(redis, config.REDIS_PREFIX);
  } finally {
    redis.disconnect();
  }
}

async function actorFrom(pool: Pool, args: ParsedArgs): Promise<Actor> {
  const as = args.flags.get('as');
  if (as === true) throw new UsageError('--as needs a username');
  if (as === undefined) return { userId: null, username: `os:${userInfo().username}`, role: null, via: 'cli' };
  const u = await store.getUserByUsername(pool, as);
  if (u.disabled) throw new UsageError(`user ${as} is disabled`);
  return { userId: u.id, username: u.username, role: u.role, via: 'cli' };
}

/** Runs the CLI; returns the exit status. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const args = parseArgs(argv);
  const [name, ...positionals] = args.positionals;
  if (!name || name === 'help') {
    console.log(usage());
    return name || args.flags.has('help') ? 0 : 2;
  }
  const v = VERBS.find((x) => x.name === name);
  if (!v) {
    console.error(`unknown verb ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  if (args.flags.has('help')) {
    console.log(verbUsage(v));
    return 0;
  }
  let config: BackofficeConfig;
  let input: unknown;
  try {
    config = parseEnv(backofficeEnv, env);
    input = v.schema.parse(inputFrom(v.schema, { positionals, flags: args.flags }, v.positionals, GLOBAL));
    // before anything connects (the migrations would run first)
    if (v.name === 'seed') {
      const seed = input as z.infer<typeof SeedInput>;
      if (seed.reset) refuseProductionSchemaDrop(config.DB_SCHEMA, seed.yes === true || seed.yesDropProduction === true);
    }
  } catch (e) {
    if (e instanceof ConfigError || e instanceof UsageError) console.error(`${e.message}\n\n${verbUsage(v)}`);
    else console.error(JSON.stringify(toHttp(e).body, null, 2));
    return 2;
  }
  const pool = createPool({ url: config.DATABASE_URL, schema: config.DB_SCHEMA, max: 4, name: 'cynod-cli' });
  const redis = createRedis({ url: config.REDIS_URL, commandTimeoutMs: config.BACKOFFICE_CACHE_TIMEOUT_MS });
  let exit = 0;
  try {
    if (v.name !== 'migrate') await migrate(pool, config.DB_SCHEMA);
    if (v.cache && !(await connectRedis(redis))) console.error(`warning: Redis unreachable at ${config.REDIS_URL}; this change will be refused`);
    const cache = new CacheInvalidator(redis, config.REDIS_PREFIX, config.HASH_SECRET, config.BACKOFFICE_CACHE_TIMEOUT_MS);
    const ops = new Operations({ pool, cache, hashSecret: config.HASH_SECRET, pinTtlSeconds: config.BACKOFFICE_PIN_TTL_SECONDS, tokenTtlSeconds: config.BACKOFFICE_TOKEN_TTL_SECONDS, kek: () => loadKek(env) });
    const actor = await actorFrom(pool, args);
    const result = await v.run({ pool, ops, actor, config, setExit: (c) => (exit = c) }, input);
    console.log(JSON.stringify(result, null, 2));
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      console.error(e.message);
      exit = 2;
    } else {
      const a = toHttp(e);
      console.error(JSON.stringify(a.status === 500 ? { ...a.body, message: redactPans(String((e as Error).message)) } : a.body, null, 2));
      exit = a.status === 400 ? 2 : 1;
    }
  } finally {
    redis.disconnect();
    await pool.end();
  }
  return exit;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await runCli(process.argv.slice(2));
}
