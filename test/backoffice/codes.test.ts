/**
 * Transaction codes: shown once, stored only as an HMAC, redeemable once at a terminal
 * (through the ledger as the switch will post it), bound to a service point if asked.
 */
import t from 'tap';
import { codeHash } from '../../db/secrets.js';
import type { LedgerItem } from '../../db/ledger.js';
import { backoffice, HASH_SECRET, type Backoffice } from '../helpers/backoffice.js';

let stan = 0;

function redeem(h: Backoffice, code: string, amount: number, at: { terminalId: string; servicePointId: number }): Promise<string> {
  const s = String(++stan).padStart(6, '0');
  const item: LedgerItem = {
    op: 'purchase',
    source: 'terminal',
    terminalId: at.terminalId,
    servicePointId: at.servicePointId,
    stan: s,
    transmissionAt: '1127120000',
    codeHash: codeHash(code, HASH_SECRET),
    amount,
    currency: '952',
    requestHash: s,
  };
  return h.w.ledger.post([item]).then(([r]) => r.outcome);
}

t.test('a code is shown once, stored hashed, and redeemed once', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(10_000);
  const made = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/codes`, { amountMax: 5000, ttlSeconds: 900 });
  t.equal(made.status, 201, made.raw);
  const code = made.body.code as string;
  t.match(code, /^[0-9]{10}$/, 'a 10-digit code');
  t.equal(made.body.amountMax, 5000);
  t.equal(made.body.servicePointId, null);
  const ttl = (Date.parse(made.body.expiresAt as string) - Date.now()) / 1000;
  t.ok(ttl > 880 && ttl <= 900, `expires in ttlSeconds (${ttl})`);

  const rows = await h.pool.query<{ row: string; hash: string }>("SELECT row_to_json(q)::text AS row, encode(code_hash, 'hex') AS hash FROM transaction_codes q");
  t.equal(rows.rowCount, 1);
  t.equal(rows.rows[0].hash, codeHash(code, HASH_SECRET), 'stored as HMAC(code, HASH_SECRET)');
  t.notMatch(rows.rows[0].row, code, 'the plain code is nowhere in the row');
  const audit = await h.pool.query<{ d: string }>('SELECT details::text AS d FROM audit_log');
  t.notMatch(audit.rows.map((r) => r.d).join('\n'), code, 'nor in the audit log');
  const journal = await h.pool.query<{ j: string }>('SELECT row_to_json(j)::text AS j FROM journal j');
  t.notMatch(journal.rows.map((r) => r.j).join('\n'), code, 'nor in the journal');
  const read = await h.call('ADMIN', 'GET', `/carte/cards/${card.id}`);
  t.notMatch(read.raw, code, 'reading the card does not show it');

  const at = { terminalId: h.w.terminal, servicePointId: h.w.sp.id };
  t.equal(await redeem(h, code, 6000, at), 'code_amount_exceeded', 'above the ceiling: declined (the code stays usable)');
  t.equal(await redeem(h, code, 4000, at), 'approved', 'first redemption');
  t.equal(await redeem(h, code, 100, at), 'code_used', 'second: code_used');
  const after = await h.call('VIEWER', 'GET', `/carte/cards/${card.id}`);
  t.equal(after.body.balance, 6000, 'debited once');
  t.equal(await redeem(h, '0000000000', 100, at), 'unknown_code');
});

t.test('a code bound to a service point; codes for virtualized cards; refusals', async (t) => {
  const h = await backoffice(t);
  const card = await h.w.card(10_000);
  const bound = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/codes`, { amountMax: 1000, ttlSeconds: 600, servicePointId: h.w.sp.id });
  t.equal(bound.status, 201);
  t.equal(bound.body.servicePointId, h.w.sp.id);
  const other = (await h.call('OPERATOR', 'POST', '/service-points', { code: 'PS_OTHER', name: 'o' })).body.id as number;
  t.equal((await h.call('OPERATOR', 'POST', '/terminals', { id: 'TOTHER01', servicePointId: other })).status, 201);
  await h.pool.query("UPDATE terminals SET initialized_at = now() WHERE id = 'TOTHER01'"); // as after its first sign-on
  const vcard = await h.call('ADMIN', 'POST', '/carte/virtual-cards', { servicePointId: other, clientId: h.w.elton.id, memberId: h.w.manager.id, profileId: h.w.virtualProfile.id });
  t.equal(vcard.status, 201, 'the other station can take transactions');
  t.equal(await redeem(h, bound.body.code as string, 100, { terminalId: 'TOTHER01', servicePointId: other }), 'code_wrong_service_point');
  t.equal(await redeem(h, bound.body.code as string, 100, { terminalId: h.w.terminal, servicePointId: h.w.sp.id }), 'approved');

  const virtualized = await h.w.card(5000, { profileId: h.w.virtualization.id });
  const vcode = await h.call('ADMIN', 'POST', `/carte/cards/${virtualized.id}/codes`, { amountMax: 1000, ttlSeconds: 600 });
  t.equal(vcode.status, 201, 'a virtualized card generates codes (a back-office operation)');
  t.equal(await redeem(h, vcode.body.code as string, 700, { terminalId: h.w.terminal, servicePointId: h.w.sp.id }), 'approved', 'redeemed at a TPE by code');

  const noSp = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/codes`, { amountMax: 1000, ttlSeconds: 600, servicePointId: 999999 });
  t.equal(noSp.status, 422);
  t.equal(noSp.body.field, 'servicePointId');
  const vc = await h.call('ADMIN', 'POST', `/carte/cards/${h.w.virtualCard.id}/codes`, { amountMax: 1000, ttlSeconds: 600 });
  t.equal(vc.status, 422, "a service point's virtual card does not generate codes");
  const longTtl = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/codes`, { amountMax: 1000, ttlSeconds: 31 * 86400 });
  t.equal(longTtl.status, 400);
  t.equal((longTtl.body.issues as { field: string }[])[0].field, 'ttlSeconds');
  t.equal((await h.pool.query('SELECT 1 FROM transaction_codes')).rowCount, 2, 'refusals stored no code');
});
