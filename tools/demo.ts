/**
 * `make demo`: the switch and the back office with demo data, a short simulated load, then
 * serving until Ctrl-C.
 *
 *  0. with no DATABASE_URL and nothing answering on 127.0.0.1:5432, run an embedded
 *     PostgreSQL (PGlite, tools/embedded-postgres.ts; data in DEMO_DIR/pgdata, kept between runs); with no
 *     REDIS_URL and nothing on 127.0.0.1:6379, use the in-process cache (REDIS_URL=memory://);
 *  1. migrate DB_SCHEMA and seed the demo data (ELTON, PS_SENOSOFT, cards, a virtualized
 *     card, an ADMIN) unless it is already there (a second run keeps the data);
 *  2. start the switch (SWITCH_LISTENERS, default 127.0.0.1:8583) and the back office
 *     (BACKOFFICE_PORT, default 8080); services log to .demo/demo.log;
 *  3. print where each listens, the demo cards and terminals, a ready-to-paste purchase, the
 *     same for the virtualized card (declined 57), the back-office URL and an ADMIN token;
 *  4. run DEMO_LOAD_SECONDS (10) of simulated load at DEMO_LOAD_RATE (100/s) with the live
 *     progress line, print the summary;
 *  5. serve until SIGINT/SIGTERM, then shut down cleanly (exit 0).
 */
import { randomInt } from 'node:crypto';
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { z } from 'zod';
import { ConfigError, parseEnv, refuseProductionSchemaDrop } from '../db/config.js';
import { DEMO_PREFIX, DEMO_SCHEMA, markDemoSchema, refuseForeignDataDrop } from '../db/demo-mark.js';
import * as store from '../db/store.js';
import { hashPassword, newPassword } from '../db/secrets.js';
import { buildApp } from '../backoffice/app.js';
import { backofficeEnv } from '../backoffice/config.js';
import { connectRedis, createRedis, deleteKeys } from '../backoffice/redis.js';
import { DEMO, seedDemo } from '../backoffice/seed.js';
import { PanVault } from '../db/pan-vault.js';
import { liveKey } from '../db/terminal-keys.js';
import type { KeyAlgorithm } from '../protocol/security/index.js';
import { loadFleet } from '../terminal-sim/fleet.js';
import { load } from '../terminal-sim/load/cli.js';
import { loadSwitchConfig } from '../switch/config.js';
import { createBackend, startSwitch } from '../switch/app.js';
import { createPool } from '../db/pool.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { tuneGc } from '../switch/gc.js';
import { REDACTED_PATHS } from '../switch/logger.js';
import net from 'node:net';

/** True when something accepts TCP connections at host:port within 500 ms. */
function answering(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

const demoEnv = z.object({
  DEMO_DIR: z.string().default('.demo'),
  DEMO_LOAD_SECONDS: z.coerce.number().int().min(0).max(3600).default(10),
  DEMO_LOAD_RATE: z.coerce.number().int().min(1).max(100_000).default(100),
  DEMO_CARDS: z.coerce.number().int().min(2).max(100_000).default(20),
  DEMO_TERMINALS: z.coerce.number().int().min(1).max(99).default(4),
});

interface DemoData {
  terminals: { id: string; pin?: string; masterKey?: { algorithm: KeyAlgorithm; key: string }; keys?: { mac: string; pin: string } }[];
  cards: { id: number; pan: string; expiry: string; pin?: string; balance: number }[];
  virtualized: { id: number; pan: string; expiry: string } | null;
  token: string;
  /** The demo ADMIN's web password, new at each run. */
  password: string;
  created: boolean;
}

/** A service point of ELTON without a virtual card: the source page's path creates it from the web pages. */
const DEMO_NEW_SERVICE_POINT = { code: 'PS_NOUVEAU', name: 'Nouvelle station' };

/** What the seed's path needs beyond the load's data: a beneficiary, and a service point still without its virtual card. */
async function webDemoData(pool: store.Db, clientId: number): Promise<void> {
  await store.createMember(pool, { clientId, name: 'Bénéficiaire cartes virtuelles', kind: 'beneficiary' });
  await store.createServicePoint(pool, { ...DEMO_NEW_SERVICE_POINT, clientId });
}

/** A fresh web password for the demo ADMIN at each run, printed like its token. */
async function demoPassword(pool: store.Db): Promise<string> {
  const admin = await pool.query<{ id: number }>('SELECT id FROM users WHERE username = $1', [DEMO.admin]);
  if (!admin.rows[0]) return '(no demo ADMIN: run make demo-reset)';
  const password = newPassword();
  await store.setPasswordHash(pool, admin.rows[0].id, await hashPassword(password));
  return password;
}

/**
 * Seeds on the first run; on later runs reads what is there (opening the sealed PANs and keys
 * with the demo's own key-encryption key: demo data, printed on purpose) and makes a fresh ADMIN
 * token. The terminals' keys and the cardholders' PINs go to the simulator's fleet file, which
 * plays the terminals' firmware: the seed gives each terminal a master key and each card a PIN
 * (the fuel profile requires it); a later run reads the keys back, takes the PINs from the
 * earlier fleet file, and gives a card whose PIN it does not know a new one.
 */
async function demoData(pool: store.Db, vault: PanVault, secrets: { kek: Buffer; hashSecret: string; fleetFile: string }, cards: number, terminals: number): Promise<DemoData> {
  const existing = await pool.query<{ id: number }>('SELECT id FROM clients WHERE code = $1', [DEMO.client.code]);
  if (existing.rows.length === 0) {
    const r = await seedDemo(pool as never, vault, {
      cards,
      servicePoints: 1,
      terminalsPerServicePoint: terminals,
      pins: true,
      terminalKeys: { kek: secrets.kek, algorithm: 'tdes' },
      cardPins: { secret: secrets.hashSecret },
    });
    const sp = r.servicePoints[0];
    await webDemoData(pool, r.client.id);
    const virtualized = r.cards.find((c) => c.virtualized) ?? null;
    return {
      terminals: sp.terminals.map((t) => ({ id: t.id, pin: t.pin, masterKey: t.masterKey, keys: t.keys })),
      cards: r.cards.filter((c) => !c.virtualized).map((c) => ({ id: c.id, pan: c.pan, expiry: c.expiry, pin: c.pin, balance: c.balance })),
      virtualized: virtualized && { id: virtualized.id, pan: virtualized.pan, expiry: virtualized.expiry },
      token: r.admin.token,
      password: await demoPassword(pool),
      created: true,
    };
  }
  const sealed = await pool.query<{ id: number; pan_key: Buffer; pan_sealed: Buffer; expiry: string; balance: number; virtualized: boolean }>(
    `SELECT c.id, c.pan_key, c.pan_sealed, c.expiry, a.balance - a.held AS balance, p.code = $2 AS virtualized
     FROM cards c JOIN accounts a ON a.id = c.account_id JOIN card_profiles p ON p.id = c.profile_id
     WHERE c.client_id = $1 AND NOT c.is_virtual AND c.status = 'active' ORDER BY c.id`,
    [existing.rows[0].id, DEMO.profiles.virtualization.code],
  );
  const rows = { rows: sealed.rows.map(({ pan_key, pan_sealed, ...c }) => ({ ...c, pan: vault.open(pan_sealed, pan_key) })) };
  const terms = await pool.query<{ id: string; initialized: boolean }>(
    `SELECT t.id, t.initialized_at IS NOT NULL AS initialized FROM terminals t JOIN service_points s ON s.id = t.service_point_id
     WHERE s.code = $1 ORDER BY t.id`,
    [DEMO.firstServicePoint.code],
  );
  const admin = await pool.query<{ id: number }>('SELECT id FROM users WHERE username = $1', [DEMO.admin]);
  const token = admin.rows[0] ? (await store.createToken(pool, { userId: admin.rows[0].id, label: 'demo', ttlSeconds: 86_400 })).token : '(no demo ADMIN: run make demo-reset)';
  const pins = new Map<string, string>();
  for (const t of terms.rows.filter((x) => !x.initialized)) pins.set(t.id, (await store.issueTerminalPin(pool, t.id, 3600)).pin);
  const virtualized = rows.rows.find((c) => c.virtualized) ?? null;
  const hex = (b: Buffer): string => b.toString('hex').toUpperCase();
  const terminalsOut: DemoData['terminals'] = [];
  for (const t of terms.rows) {
    const [master, mac, pin] = await Promise.all((['master', 'mac', 'pin'] as const).map((kind) => liveKey(pool as never, secrets.kek, t.id, kind)));
    terminalsOut.push({
      id: t.id,
      pin: pins.get(t.id),
      ...(master ? { masterKey: { algorithm: master.algorithm, key: hex(master.key) } } : {}),
      ...(mac && pin ? { keys: { mac: hex(mac.key), pin: hex(pin.key) } } : {}),
    });
  }
  let known = new Map<string, string>();
  try {
    known = new Map(loadFleet(secrets.fleetFile).cards.flatMap((c) => (c.pin ? [[c.pan, c.pin] as const] : [])));
  } catch {
    // no earlier fleet file: every card gets a new PIN
  }
  const cardsOut: DemoData['cards'] = [];
  for (const c of rows.rows.filter((x) => !x.virtualized)) {
    let pin = known.get(c.pan);
    if (pin === undefined) {
      pin = String(randomInt(10_000)).padStart(4, '0');
      await store.setCardPin(pool, { cardId: c.id, pin, secret: secrets.hashSecret });
    }
    cardsOut.push({ id: c.id, pan: c.pan, expiry: c.expiry, pin, balance: c.balance });
  }
  return {
    terminals: terminalsOut,
    cards: cardsOut,
    virtualized: virtualized && { id: virtualized.id, pan: virtualized.pan, expiry: virtualized.expiry },
    token,
    password: await demoPassword(pool),
    created: false,
  };
}

const xof = (n: number): string => `${n.toLocaleString('fr-FR').replace(/\u202f/g, ' ')} XOF`;

async function main(): Promise<void> {
  tuneGc();
  // the demo is development: its switch and back office accept the development secrets
  process.env.CYNOD_DEV ??= '1';
  const dir = process.env.DEMO_DIR ?? '.demo';
  // its own schema and cache keys, never a production switch's (DB_SCHEMA's default, cynod)
  process.env.DB_SCHEMA ??= DEMO_SCHEMA;
  process.env.REDIS_PREFIX ??= DEMO_PREFIX;
  if (process.argv.includes('--reset')) {
    await reset(dir);
    return;
  }
  // Embedded services when none are named and none answer.
  let embedded: EmbeddedPostgres | undefined;
  if (!process.env.DATABASE_URL && !(await answering('127.0.0.1', 5432))) {
    embedded = await startEmbeddedPostgres(join(dir, 'pgdata'));
    process.env.DATABASE_URL = embedded.url;
    process.env.DB_POOL_MAX = '1';
  }
  if (!process.env.REDIS_URL && !(await answering('127.0.0.1', 6379))) process.env.REDIS_URL = 'memory://';
  // The demo is a development setup: without KEY_ENCRYPTION_KEY, the development one (db/kek.ts).
  process.env.CYNOD_DEV ??= '1';
  // Terminals prove themselves by their MAC; the simulated ones hold their keys in the fleet file.
  process.env.SWITCH_AUTH ??= 'mac';
  let sw, bo, demo;
  try {
    sw = loadSwitchConfig();
    bo = parseEnv(backofficeEnv);
    demo = parseEnv(demoEnv);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`make demo: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  mkdirSync(demo.DEMO_DIR, { recursive: true });
  const logFile = join(demo.DEMO_DIR, 'demo.log');
  const logger = pino({ level: sw.env.LOG_LEVEL, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, pino.destination({ dest: openSync(logFile, 'a'), sync: false }));
  const say = (line = ''): void => void process.stdout.write(line + '\n');

  say('cynod switch demo — starting (logs: ' + logFile + ')');
  // One pool and one cache for the switch and the back office: the embedded database takes a
  // single connection, and the in-process cache must be the same object for invalidations to land.
  // Its idle connections are kept, as the switch's own pool keeps them (db/pool.ts).
  const pool = createPool({ url: sw.env.DATABASE_URL, schema: sw.env.DB_SCHEMA, max: sw.env.DB_POOL_MAX, name: 'cynod-demo', idleTimeoutMillis: 0 });
  const backend = createBackend(sw.env.REDIS_URL, sw.env.REDIS_COMMAND_TIMEOUT_MS);
  const running = await startSwitch(sw, { logger: logger.child({ service: 'switch' }), pool, backend });
  const fleetFile = join(demo.DEMO_DIR, 'fleet.json');
  const data = await demoData(running.pool, new PanVault(sw.kek, sw.env.HASH_SECRET), { kek: sw.kek, hashSecret: sw.env.HASH_SECRET, fleetFile }, demo.DEMO_CARDS, demo.DEMO_TERMINALS);
  if (data.created) await markDemoSchema(pool, sw.env.DB_SCHEMA);

  let redis: ReturnType<typeof createRedis> | undefined;
  if (backend.kind === 'redis') {
    redis = createRedis({ url: bo.REDIS_URL, commandTimeoutMs: bo.BACKOFFICE_CACHE_TIMEOUT_MS });
    redis.on('error', () => {});
    await connectRedis(redis);
  }
  const app = buildApp({ pool, redis: redis ?? backend, config: bo, kek: sw.kek, logger: logger.child({ service: 'backoffice' }) });
  await app.listen({ host: bo.BACKOFFICE_HOST, port: bo.BACKOFFICE_PORT });
  const boPort = (app.server.address() as AddressInfo).port;

  const l = running.listeners[0];
  const card = data.cards[0];
  const term = data.terminals[0];
  const dbUrl = new URL(sw.env.DATABASE_URL);
  say('');
  say('────────────────────────────────────────────────────────────────────────────');
  say(
    ` database    ${embedded ? `embedded PostgreSQL (PGlite) in ${embedded.dataDir}, served on ${dbUrl.host}` : `PostgreSQL ${dbUrl.host}${dbUrl.pathname}`}, schema ${sw.env.DB_SCHEMA}${data.created ? ' (demo data created now)' : ' (demo data from an earlier run)'}`,
  );
  say(backend.kind === 'memory' ? ' cache       in-process (no Redis answering; one switch process only)' : ` cache       Redis ${sw.env.REDIS_URL}, keys ${sw.env.REDIS_PREFIX}*`);
  for (const x of running.listeners) say(` switch      ${x.tls ? 'tls' : 'tcp'}://${x.host}:${x.port}  (${x.name.replace(/#\d+$/, '')})`);
  say(` metrics     http://${sw.env.METRICS_HOST}:${running.metricsPort}/metrics  /healthz  /readyz`);
  say(` back office http://${bo.BACKOFFICE_HOST}:${boPort}  (OpenAPI: /openapi.json)`);
  say(` ADMIN token ${data.token}`);
  say(` web pages   http://${bo.BACKOFFICE_HOST}:${boPort}/  sign in as ${DEMO.admin}, password ${data.password}`);
  say(`             Exploitation > Carte carburant > Création d'une carte virtuelle: ${DEMO_NEW_SERVICE_POINT.code} has none yet`);
  say(` terminals   ${data.terminals.map((t) => t.id + (t.pin ? ` (PIN ${t.pin})` : '')).join(', ')} at ${DEMO.firstServicePoint.code}`);
  if (data.terminals.some((t) => t.pin) && demo.DEMO_LOAD_SECONDS > 0) say('             (the simulated load signs them on with these single-use PINs)');
  say(` cards       ${data.cards.length} demo cards, e.g. ${card.pan} (${xof(card.balance)}) — DEMO DATA, full PANs shown on purpose`);
  if (data.virtualized) say(` virtualized ${data.virtualized.pan} (may not pay at a TPE; back-office transfers only)`);
  say('');
  // The fleet file is the terminals' memory (keys) and the cardholders' PINs: the load and
  // the pasted commands read it, and write back the working keys the switch sends them.
  const fleet = {
    host: l.host,
    port: l.port,
    terminals: data.terminals.map((t) => ({ id: t.id, servicePoint: DEMO.firstServicePoint.code, ...(t.pin ? { pin: t.pin } : {}), ...(t.masterKey ? { masterKey: t.masterKey } : {}), ...(t.keys ? { keys: t.keys } : {}) })),
    cards: data.cards.map((c) => ({ pan: c.pan, expiry: c.expiry, ...(c.pin ? { pin: c.pin } : {}), balance: c.balance })),
  };
  writeFileSync(fleetFile, JSON.stringify(fleet, null, 2), { mode: 0o600 });
  say(` fleet file  ${fleetFile}: the terminals' keys and the cards' PINs; the simulator MACs with the one and types the other (SWITCH_AUTH=${sw.env.SWITCH_AUTH})`);
  say('');
  say(' a purchase (approved, 00):');
  const sendCmd = (c: { pan: string; expiry: string }): string =>
    `npm run sim -- send --fleet ${fleetFile} --terminal ${term.id} --pan ${c.pan} --expiry ${c.expiry} --amount 15000${term.pin && demo.DEMO_LOAD_SECONDS === 0 ? ` --pin ${term.pin}` : ''}`;
  say(`   ${sendCmd(card)}`);
  if (data.virtualized) {
    say(' the virtualized card at the same TPE (declined, 57):');
    say(`   ${sendCmd(data.virtualized)}`);
  }
  say(' the card in the back office:');
  say(`   curl -s -H "Authorization: Bearer ${data.token}" http://${bo.BACKOFFICE_HOST}:${boPort}/carte/cards/${card.id}`);
  say('────────────────────────────────────────────────────────────────────────────');

  if (demo.DEMO_LOAD_SECONDS > 0) {
    say('');
    say(`simulated load: ${demo.DEMO_LOAD_SECONDS} s at ${demo.DEMO_LOAD_RATE}/s, ${data.terminals.length} terminals (purchases, pump sessions, balance inquiries)`);
    const rate = Math.min(demo.DEMO_LOAD_RATE, data.terminals.length * sw.env.SWITCH_TERMINAL_RATE * 0.8 || demo.DEMO_LOAD_RATE);
    await load(
      ['--fleet', fleetFile, '--rate', String(rate), '--duration', `${demo.DEMO_LOAD_SECONDS}s`, '--mix', 'purchase=80,preauth=10,inquiry=10', '--json', join(demo.DEMO_DIR, 'load.json'), '--html', join(demo.DEMO_DIR, 'load.html')],
      (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
      (s) => process.stderr.write(s),
    );
    say('');
  }
  say('');
  say('serving — Ctrl-C to stop');

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    say('stopping: answering what is in flight…');
    const timer = setTimeout(() => process.exit(1), 5000);
    timer.unref();
    void (async () => {
      await app.close();
      redis?.disconnect();
      await running.close();
      backend.close();
      await pool.end();
      await embedded?.stop();
      logger.flush();
      say('stopped');
      process.exit(0);
    })();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** `make demo-reset`: the embedded data directory, or the demo schema and cache keys on the real servers. */
async function reset(dir: string): Promise<void> {
  rmSync(join(dir, 'pgdata'), { recursive: true, force: true });
  const url = process.env.DATABASE_URL ?? ((await answering('127.0.0.1', 5432)) ? undefined : 'none');
  if (url !== 'none') {
    const env = parseEnv(backofficeEnv);
    const yes = process.argv.includes('--yes') || process.argv.includes('--yes-drop-production');
    refuseProductionSchemaDrop(env.DB_SCHEMA, yes);
    const admin = createPool({ url: env.DATABASE_URL, max: 1 });
    try {
      await refuseForeignDataDrop(admin, env.DB_SCHEMA, yes);
      await admin.query(`DROP SCHEMA IF EXISTS ${env.DB_SCHEMA} CASCADE`);
    } finally {
      await admin.end();
    }
    if (!env.REDIS_URL.startsWith('memory:') && (process.env.REDIS_URL || (await answering('127.0.0.1', 6379)))) {
      const redis = createRedis({ url: env.REDIS_URL, commandTimeoutMs: 2000 });
      redis.on('error', () => {});
      if (await connectRedis(redis)) await deleteKeys(redis, env.REDIS_PREFIX);
      redis.disconnect();
    }
    process.stdout.write(`demo data dropped (schema ${env.DB_SCHEMA}, cache keys ${env.REDIS_PREFIX}*)\n`);
  } else {
    process.stdout.write(`embedded demo data dropped (${join(dir, 'pgdata')})\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`make demo: ${(e as Error).message}\n`);
  process.exit(1);
});

