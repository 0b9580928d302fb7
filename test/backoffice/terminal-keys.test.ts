// Terminal master keys in the back office: made when a terminal is created and on request,
// shown once as two components with check values, stored sealed, audited without the key.
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { backoffice, HASH_SECRET, KEK, KEK_HEX, REDIS_URL, testRedis } from '../helpers/backoffice.js';
import { testDb } from '../helpers/db.js';
import { ROOT } from '../helpers/paths.js';
import type { TestContext } from '../helpers/tap.js';
import { liveKey } from '../../db/terminal-keys.js';
import * as store from '../../db/store.js';
import { combineComponents, kcv } from '../../protocol/security/index.js';

interface MasterKey {
  terminalId: string;
  algorithm: 'tdes' | 'aes';
  kcv: string;
  components: { value: string; kcv: string }[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

function checkShown(t: TestContext, mk: MasterKey, stored: Buffer | undefined, algorithm: 'tdes' | 'aes'): void {
  t.equal(mk.algorithm, algorithm);
  t.equal(mk.components.length, 2, 'two components');
  const parts = mk.components.map((c) => Buffer.from(c.value, 'hex'));
  parts.forEach((p, i) => {
    t.equal(p.length, 16, `component ${i + 1}: 16 bytes`);
    t.equal(mk.components[i].kcv, hex(kcv(algorithm, p)), `component ${i + 1}: its check value`);
  });
  const key = combineComponents(algorithm, parts, Buffer.from(mk.kcv, 'hex'));
  t.equal(mk.kcv, hex(kcv(algorithm, key)), "the key's check value");
  t.same(stored, key, 'the components form the stored key');
}

t.test('created with a terminal (3DES by default, AES on request), renewed on request; audited without the key', async (t) => {
  const h = await backoffice(t);
  const a = await h.call('OPERATOR', 'POST', '/terminals', { id: 'TKEY0001', servicePointId: h.w.sp.id });
  t.equal(a.status, 201, a.raw);
  const mkA = a.body.masterKey as MasterKey;
  checkShown(t, mkA, (await liveKey(h.pool, KEK, 'TKEY0001', 'master'))?.key, 'tdes');

  const b = await h.call('OPERATOR', 'POST', '/terminals', { id: 'TKEY0002', servicePointId: h.w.sp.id, keyAlgorithm: 'aes' });
  t.equal(b.status, 201, b.raw);
  checkShown(t, b.body.masterKey as MasterKey, (await liveKey(h.pool, KEK, 'TKEY0002', 'master'))?.key, 'aes');
  t.equal((await h.call('OPERATOR', 'POST', '/terminals', { id: 'TKEY0003', servicePointId: h.w.sp.id, keyAlgorithm: 'des' })).status, 400, 'unknown algorithm');

  const read = await h.call('VIEWER', 'GET', '/terminals/TKEY0001');
  t.notOk('masterKey' in read.body, 'never shown again');
  t.equal((await h.call('VIEWER', 'POST', '/terminals/TKEY0001/master-key', {})).status, 403, 'a viewer cannot make keys');

  const renewed = await h.call('OPERATOR', 'POST', '/terminals/TKEY0001/master-key', { algorithm: 'aes' });
  t.equal(renewed.status, 201, renewed.raw);
  const mkR = renewed.body as unknown as MasterKey;
  checkShown(t, mkR, (await liveKey(h.pool, KEK, 'TKEY0001', 'master'))?.key, 'aes');
  t.not(mkR.kcv, mkA.kcv, 'a new key');
  const rows = await h.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM terminal_keys WHERE terminal_id = 'TKEY0001' AND kind = 'master' AND retired_at IS NOT NULL");
  t.equal(rows.rows[0].n, 1, 'the previous master key retired');
  t.equal((await h.call('OPERATOR', 'POST', '/terminals/TNONE001/master-key', {})).status, 404);

  const audit = await h.pool.query<{ action: string; details: Record<string, unknown> }>("SELECT action, details FROM audit_log WHERE entity = 'terminal' AND entity_id LIKE 'TKEY%' ORDER BY id");
  t.same(audit.rows.map((r) => r.action), ['terminal.create', 'terminal.create', 'terminal.master_key']);
  t.match(audit.rows[2].details, { keyAlgorithm: 'aes', kcv: mkR.kcv });
  const text = JSON.stringify(audit.rows);
  for (const c of [...mkA.components, ...mkR.components]) t.notMatch(text, c.value, 'no component in the audit log');
  const sealed = await h.pool.query<{ sealed: Buffer }>('SELECT sealed FROM terminal_keys');
  for (const c of mkA.components) t.notOk(sealed.rows.some((r) => r.sealed.includes(Buffer.from(c.value, 'hex'))), 'no clear component stored');
});

t.test('the CLI prints the components once; without a KEK it refuses, naming the variable only', async (t) => {
  const { pool, schema, url } = await testDb(t);
  const { prefix } = await testRedis(t);
  const sp = await store.createServicePoint(pool, { code: 'PS_CLIKEY', name: 'CLI' });
  const base = { PATH: process.env.PATH ?? '', DATABASE_URL: url, DB_SCHEMA: schema, REDIS_URL, REDIS_PREFIX: prefix, HASH_SECRET, LOG_LEVEL: 'silent' };
  const run = (env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [join(ROOT, 'dist/backoffice/cli.js'), ...args], { env: { ...base, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const made = await run({ KEY_ENCRYPTION_KEY: KEK_HEX }, 'terminal', '--id', 'TCLI0001', '--service-point-id', String(sp.id));
  t.equal(made.code, 0, made.stderr);
  const mk = (JSON.parse(made.stdout) as { masterKey: MasterKey }).masterKey;
  checkShown(t, mk, (await liveKey(pool, KEK, 'TCLI0001', 'master'))?.key, 'tdes');
  const again = await run({ KEY_ENCRYPTION_KEY: KEK_HEX }, 'master-key', '--terminal-id', 'TCLI0001');
  t.equal(again.code, 0, again.stderr);
  checkShown(t, JSON.parse(again.stdout) as MasterKey, (await liveKey(pool, KEK, 'TCLI0001', 'master'))?.key, 'tdes');

  const none = await run({}, 'master-key', '--terminal-id', 'TCLI0001');
  t.equal(none.code, 2);
  t.match(none.stderr, /KEY_ENCRYPTION_KEY: missing/);
  const bad = 'ab'.repeat(31);
  const wrong = await run({ KEY_ENCRYPTION_KEY: bad }, 'master-key', '--terminal-id', 'TCLI0001');
  t.equal(wrong.code, 2);
  t.notMatch(wrong.stderr, bad, 'the value is not echoed');
});
