// SQL injection attempts in every text field of every write route, and in path parameters:
// each is refused (400/404/409/422) or stored as the literal text it is; no table is dropped,
// no row appears or changes beyond what the request itself asked for.
import t from 'tap';
import { backoffice } from '../helpers/backoffice.js';
import { WRITE_CASES } from '../helpers/write-routes.js';

const PAYLOADS = [
  "'; DROP TABLE cards; --",
  "x' OR '1'='1",
  'x"; UPDATE accounts SET balance = 1e9; --',
  "1; DELETE FROM journal",
  "Robert'); DROP TABLE users;--",
  '$$; TRUNCATE ledger_entries; $$',
];

async function snapshot(pool: import('pg').Pool): Promise<Record<string, number>> {
  const tables = ['networks', 'clients', 'members', 'service_points', 'terminals', 'card_profiles', 'accounts', 'cards', 'users', 'tokens', 'transaction_codes', 'journal', 'ledger_entries'];
  const out: Record<string, number> = {};
  for (const tb of tables) out[tb] = (await pool.query(`SELECT count(*)::int AS n FROM ${tb}`)).rows[0].n;
  out.balanceSum = (await pool.query('SELECT coalesce(sum(abs(balance)),0)::bigint AS n FROM accounts')).rows[0].n;
  return out;
}

/** True when `text` is stored verbatim in some row of the schema. */
async function storedSomewhere(pool: import('pg').Pool, text: string): Promise<boolean> {
  const tables = ['networks', 'clients', 'members', 'service_points', 'card_profiles', 'cards', 'users', 'tokens', 'journal', 'audit_log'];
  for (const tb of tables) {
    const r = await pool.query(`SELECT 1 FROM ${tb} x WHERE strpos(row_to_json(x)::text, $1) > 0 LIMIT 1`, [JSON.stringify(text).slice(1, -1)]);
    if (r.rowCount) return true;
  }
  return false;
}

t.test('SQL injection attempts change nothing', async (t) => {
  const h = await backoffice(t);
  let tried = 0;
  let refused = 0;
  let storedLiterally = 0;
  for (const c of WRITE_CASES) {
    const p = await c.prepare(h);
    const body = (p.body ?? {}) as Record<string, unknown>;
    const textFields = Object.entries(body).filter(([, v]) => typeof v === 'string').map(([k]) => k);
    for (const field of textFields) {
      for (const payload of PAYLOADS) {
        const fresh = await c.prepare(h);
        const before = await snapshot(h.pool);
        const r = await h.call('ADMIN', c.method, fresh.url, { ...(fresh.body as object), [field]: payload });
        tried++;
        if (r.status >= 400) {
          refused++;
          t.ok([400, 404, 409, 422].includes(r.status), `${c.route} ${field}=${JSON.stringify(payload)}: ${r.status}`);
          const after = await snapshot(h.pool);
          t.same(after, before, `${c.route} ${field}: nothing changed`);
        } else {
          storedLiterally++;
          t.ok(await storedSomewhere(h.pool, payload), `${c.route} ${field}: stored as the literal text`);
          const after = await snapshot(h.pool);
          t.equal(after.balanceSum, before.balanceSum + (c.route.endsWith('/recharge') ? 2 * Number((fresh.body as { amount?: number }).amount ?? 0) : 0), `${c.route} ${field}: no money moved by the text`);
        }
      }
    }
  }
  // Path parameters.
  for (const url of ["/cards/1'%20OR%20'1'='1", '/terminals/x%27%3BDROP%20TABLE%20terminals', "/carte/cards/1;DELETE%20FROM%20cards"]) {
    const r = await h.call('ADMIN', 'GET', url);
    tried++;
    refused++;
    t.ok([400, 404].includes(r.status), `GET ${decodeURIComponent(url)}: ${r.status}`);
  }
  const tables = await h.pool.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1", [h.schema]);
  t.ok(tables.rows[0].n >= 17, 'every table is still there');
  t.ok(tried > 50, `${tried} attempts: ${refused} refused, ${storedLiterally} stored as literal text`);
});
