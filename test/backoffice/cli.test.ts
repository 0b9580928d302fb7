/**
 * The compiled admin CLI, spawned with DB_SCHEMA set to a test schema: create-admin, seed,
 * ledger-check, an operation verb, bad input, help.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { PanVault } from '../../db/pan-vault.js';
import * as store from '../../db/store.js';
import { checkLedger } from '../../db/check.js';
import { testDb } from '../helpers/db.js';
import { HASH_SECRET, KEK, KEK_HEX, REDIS_URL, testRedis } from '../helpers/backoffice.js';
import { ROOT } from '../helpers/paths.js';
import type { TestContext } from '../helpers/tap.js';

const CLI = join(ROOT, 'dist', 'backoffice', 'cli.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown>;
}

async function cliFor(t: TestContext): Promise<{ run(...args: string[]): Promise<Run>; pool: Awaited<ReturnType<typeof testDb>>['pool'] }> {
  const { pool, schema, url } = await testDb(t);
  const { prefix } = await testRedis(t);
  const env = { ...process.env, DATABASE_URL: url, DB_SCHEMA: schema, REDIS_URL, REDIS_PREFIX: prefix, HASH_SECRET, KEY_ENCRYPTION_KEY: KEK_HEX, LOG_LEVEL: 'silent' };
  const run = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(stdout) as Record<string, unknown>;
        } catch {
          json = {};
        }
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, json });
      });
    });
  return { run, pool };
}

t.test('create-admin: the first ADMIN and its token, once', async (t) => {
  const { run, pool } = await cliFor(t);
  const r = await run('create-admin', 'alice');
  t.equal(r.code, 0, r.stderr);
  const out = r.json as { user: { username: string; role: string }; token: { token: string } };
  t.equal(out.user.username, 'alice');
  t.equal(out.user.role, 'ADMIN');
  const who = await store.authenticate(pool, out.token.token);
  t.equal(who?.username, 'alice', 'the printed token authenticates');
  t.equal(who?.role, 'ADMIN');
  const stored = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM tokens WHERE token_hash::text LIKE '%' || $1 || '%'", [out.token.token]);
  t.equal(stored.rows[0].n, 0, 'the token is not stored in clear');
  const audit = await pool.query<{ details: Record<string, unknown> }>("SELECT details FROM audit_log WHERE action = 'user.create'");
  t.match(audit.rows[0].details, { via: 'cli', bootstrap: true, by: /^os:/ });
  t.notMatch(JSON.stringify(audit.rows), out.token.token);

  const second = await run('create-admin', 'bob');
  t.equal(second.code, 1, 'a second first-admin is refused');
  t.match(second.stderr, /already exists/);
  t.equal((await pool.query("SELECT 1 FROM users WHERE username = 'bob'")).rowCount, 0);

  const bad = await run('create-admin', 'Not Valid');
  t.equal(bad.code, 2);
  t.match(bad.stderr, /"field": "username"/);

  const user = await run('create-user', 'olga', 'OPERATOR', '--as', 'alice');
  t.equal(user.code, 0, user.stderr);
  const tok = await run('token', 'olga', '--label', 'script', '--ttl-seconds', '3600');
  t.equal(tok.code, 0, tok.stderr);
  t.equal((await store.authenticate(pool, tok.json.token as string))?.role, 'OPERATOR');
  const revoke = await run('revoke-token', String(tok.json.id));
  t.equal(revoke.code, 0);
  t.equal(await store.authenticate(pool, tok.json.token as string), null, 'revoked');
  const audited = await pool.query<{ user_id: number }>("SELECT user_id FROM audit_log WHERE action = 'user.create' AND details->>'username' = 'olga'");
  t.equal(audited.rows[0].user_id, (await store.getUserByUsername(pool, 'alice')).id, '--as names the acting user');
});

t.test('seed: the demo world, funded through the ledger; ledger-check; operation verbs', async (t) => {
  const { run, pool } = await cliFor(t);
  const r = await run('seed');
  t.equal(r.code, 0, r.stderr);
  const s = r.json as {
    demo: boolean;
    warning: string;
    client: { code: string; id: number };
    manager: { name: string };
    servicePoints: { code: string; virtualCard: { id: number; name: string; pan: string }; terminals: { id: string; pin?: string }[] }[];
    cards: { id: number; pan: string; balance: number; virtualized: boolean }[];
    cardsTotal: number;
    profiles: { fuel: { id: number }; virtualization: { id: number }; virtualCard: { id: number } };
    admin: { username: string; token: string };
  };
  t.equal(s.demo, true);
  t.match(s.warning, /DEMO/);
  t.equal(s.client.code, 'ELTON');
  t.match(s.manager.name, /ELTON/);
  t.same(
    s.servicePoints.map((sp) => [sp.code, sp.virtualCard.name, sp.terminals.length]),
    [['PS_SENOSOFT', 'C_VIRT_PS_SENOSOFT', 2]],
  );
  t.ok(s.servicePoints[0].terminals.every((x) => /^[0-9]{4}$/.test(x.pin ?? '')), 'the demo terminals have PINs');
  t.equal(s.cards.length, 5);
  t.equal(s.cardsTotal, 5);
  t.equal(s.cards.filter((c) => c.virtualized).length, 1, 'one card virtualized');
  for (const c of s.cards) {
    const db = await store.getCard(pool, c.id);
    t.equal((await store.getCardByPan(pool, new PanVault(KEK, HASH_SECRET), c.pan)).id, c.id, 'full PANs in the demo output');
    t.equal(db.balance, 100_000);
    const p = await store.getProfile(pool, db.profile_id);
    t.equal(store.isVirtualizationProfile(p), c.virtualized);
  }
  const vcard = await store.getCard(pool, s.servicePoints[0].virtualCard.id);
  t.equal(vcard.is_virtual, true);
  t.equal((await store.getProfile(pool, vcard.profile_id)).kind, 'virtual');
  const entries = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM journal WHERE op = 'recharge' AND outcome = 'approved'");
  t.equal(entries.rows[0].n, 5, 'balances come from ledger recharges');
  t.equal((await store.authenticate(pool, s.admin.token))?.role, 'ADMIN', 'the demo admin token works');

  const check = await run('ledger-check');
  t.equal(check.code, 0);
  t.equal(check.json.ok, true);
  const checks = check.json.checks as { name: string; ok: boolean; violations: number; examples: number[] }[];
  t.ok(checks.length >= 10, 'each rule of the ledger is shown as a named check');
  t.ok(checks.some((c) => c.name === 'reversed_at_most_once'), 'among them: reversed_at_most_once');
  t.ok(checks.every((c) => c.ok && c.violations === 0 && c.examples.length === 0), 'each with its verdict, count and examples');

  const card = s.cards[0];
  const rc = await run('recharge', '--card-id', String(card.id), '--amount', '2500', '--note', 'cli', '--as', s.admin.username);
  t.equal(rc.code, 0, rc.stderr);
  t.equal((rc.json.card as { balance: number }).balance, 102_500);
  t.notMatch(rc.stdout, card.pan, 'operation output masks the PAN');

  const virt = await run('virtualize', '--card-id', String(card.id), '--profile-id', String(s.profiles.virtualization.id));
  t.equal(virt.code, 0, virt.stderr);
  t.equal(virt.json.profileId, s.profiles.virtualization.id);
  const who = await pool.query<{ user_id: number | null; details: Record<string, unknown> }>("SELECT user_id, details FROM audit_log WHERE action = 'card.virtualize'");
  t.equal(who.rows[0].user_id, null, 'without --as: no user id ...');
  t.match(who.rows[0].details, { via: 'cli', by: /^os:/ }, '... but the operating-system user');

  const bad = await run('recharge', '--card-id', String(card.id), '--amount', 'lots');
  t.equal(bad.code, 2);
  t.match(bad.stderr, /"field": "amount"/, 'the same zod validation as the API');
  const unknown = await run('recharge', '--card', '1', '--amount', '1');
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown option --card/);
  const declined = await run('transfer', '--card-id', String(s.cards[1].id), '--to-card-id', String(s.cards[2].id), '--amount', '999999999');
  t.equal(declined.code, 1);
  t.match(declined.stderr, /insufficient_funds/);

  const again = await run('seed');
  t.equal(again.code, 1, 'seeding twice is refused');
  t.match(again.stderr, /already exists/);
  const reset = await run('seed', '--reset', '--cards', '3', '--show', '1');
  t.equal(reset.code, 0, reset.stderr);
  t.equal((reset.json.cards as unknown[]).length, 1, '--show limits the listing');
  t.equal(reset.json.cardsTotal, 3);
  t.ok((await checkLedger(pool)).ok);

  // A balance edited past the ledger: exit 1, and the output names the checks that failed.
  await pool.query("UPDATE accounts SET balance = balance + 1 WHERE id = (SELECT min(id) FROM accounts WHERE kind = 'card')");
  const broken = await run('ledger-check');
  t.equal(broken.code, 1, 'ledger-check exits 1 when a check fails');
  t.equal(broken.json.ok, false);
  const failed = (broken.json.checks as { name: string; ok: boolean; violations: number }[]).filter((c) => !c.ok);
  t.same(failed.map((c) => [c.name, c.violations]), [['accounts_sum_to_zero', 1], ['balances_equal_entries', 1]], 'the failed checks by name, with their counts');
});

t.test('help and usage', async (t) => {
  const { run } = await cliFor(t);
  const help = await run('--help');
  t.equal(help.code, 0);
  for (const v of ['migrate', 'create-admin', 'create-user', 'token', 'revoke-token', 'ledger-check', 'prepare-wal', 'seed', 'virtual-card', 'virtualize', 'unvirtualize', 'recharge', 'transfer', 'code']) {
    t.match(help.stdout, new RegExp(`\\n  ${v} `), `lists ${v}`);
  }
  const verbHelp = await run('code', '--help');
  t.equal(verbHelp.code, 0);
  t.match(verbHelp.stdout, /--amount-max <integer>\s+required/);
  t.match(verbHelp.stdout, /--service-point-id <integer>\s+optional/);
  const nothing = await run();
  t.equal(nothing.code, 2);
  const unknown = await run('frobnicate');
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown verb/);
  const migrate = await run('migrate');
  t.equal(migrate.code, 0);
  t.same(migrate.json.applied, [], 'already migrated: nothing to apply');
});

t.test('prepare-wal: the WAL files ready ahead, as JSON; bad input is a usage error', async (t) => {
  const { run, pool } = await cliFor(t);
  const readable = await pool.query('SELECT count(*) FROM pg_ls_waldir()').then(
    () => true,
    () => false,
  );
  const none = await run('prepare-wal', '--segments', '0');
  if (!readable) {
    t.equal(none.code, 1, 'a role that cannot read pg_wal: exit 1');
    t.match(none.json, { ok: false, summary: /not prepared/ });
  } else {
    t.equal(none.code, 0, none.stderr);
    t.match(none.json, { ok: true, wanted: 0, wroteBytes: 0, summary: /^PostgreSQL's WAL: \d+ segment files ahead/ }, 'none wanted: nothing written, what lies ahead said');
  }
  const bad = await run('prepare-wal', '--segments', '-1');
  t.equal(bad.code, 2, 'a negative count is refused before anything connects');
});
