/**
 * Audit: every write leaves a row with the acting user, the action, the entity and its id;
 * no row and no log line carries a secret (PIN, transaction code, token, full PAN).
 */
import { Writable } from 'node:stream';
import t from 'tap';
import { pino } from 'pino';
import { ACTIONS } from '../../backoffice/operations.js';
import { backoffice } from '../helpers/backoffice.js';

interface Row {
  user_id: number | null;
  action: string;
  entity: string;
  entity_id: string;
  details: Record<string, unknown>;
}

t.test('writes are audited with the user; no secret in the audit log or the logs', async (t) => {
  let logs = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs += chunk.toString();
      done();
    },
  });
  const h = await backoffice(t, { logger: pino({ level: 'trace' }, sink) });
  const { w } = h;
  const secrets: { what: string; value: string }[] = [];

  const card = await h.call('OPERATOR', 'POST', '/cards', { clientId: w.elton.id, memberId: w.manager.id, profileId: w.fuel.id, name: 'Audited' });
  t.equal(card.status, 201);
  secrets.push({ what: 'card PAN', value: card.body.pan as string });
  const cardId = card.body.id as number;

  const pin = await h.call('OPERATOR', 'POST', `/terminals/${w.terminal}/pins`, {});
  t.equal(pin.status, 201);
  t.match(pin.body.pin, /^[0-9]{4}$/, 'a 4-digit PIN, shown once');
  secrets.push({ what: 'PIN', value: `"${pin.body.pin as string}"` });

  const rc = await h.call('ADMIN', 'POST', `/carte/cards/${cardId}/recharge`, { amount: 5000 });
  t.equal(rc.status, 200);
  const code = await h.call('ADMIN', 'POST', `/carte/cards/${cardId}/codes`, { amountMax: 100, ttlSeconds: 600 });
  secrets.push({ what: 'transaction code', value: code.body.code as string });
  const tok = await h.call('ADMIN', 'POST', `/users/${h.users.VIEWER.id}/tokens`, { label: 'audit test' });
  secrets.push({ what: 'token', value: tok.body.token as string });
  secrets.push({ what: 'caller token', value: h.users.ADMIN.token });
  const sp = await h.call('OPERATOR', 'POST', '/service-points', { code: 'PS_AUDIT', name: 'a' });
  const vc = await h.call('ADMIN', 'POST', '/carte/virtual-cards', { servicePointId: sp.body.id, clientId: w.elton.id, memberId: w.manager.id, profileId: w.virtualProfile.id });
  secrets.push({ what: 'virtual card PAN', value: vc.body.pan as string });
  await h.call('ADMIN', 'POST', `/carte/cards/${cardId}/block`, { reason: 'audit' });
  const declined = await h.call('ADMIN', 'POST', `/carte/cards/${cardId}/transfer`, { toCardId: w.virtualCard.id, amount: 10 });
  t.equal(declined.status, 422, 'a declined operation');
  await h.call('VIEWER', 'POST', '/networks', { code: 'NOPE', name: 'n' });

  const rows = (await h.pool.query<Row>('SELECT user_id, action, entity, entity_id, details FROM audit_log ORDER BY id')).rows;
  t.same(
    rows.map((r) => [r.action, r.user_id, r.entity, r.entity_id]),
    [
      [ACTIONS.cardCreate, h.users.OPERATOR.id, 'card', String(cardId)],
      [ACTIONS.terminalPin, h.users.OPERATOR.id, 'terminal', w.terminal],
      [ACTIONS.cardRecharge, h.users.ADMIN.id, 'card', String(cardId)],
      [ACTIONS.cardCode, h.users.ADMIN.id, 'card', String(cardId)],
      [ACTIONS.tokenCreate, h.users.ADMIN.id, 'token', String(tok.body.id)],
      [ACTIONS.servicePointCreate, h.users.OPERATOR.id, 'service_point', String(sp.body.id)],
      [ACTIONS.virtualCardCreate, h.users.ADMIN.id, 'card', String(vc.body.id)],
      [ACTIONS.cardBlock, h.users.ADMIN.id, 'card', String(cardId)],
      [ACTIONS.cardTransfer, h.users.ADMIN.id, 'card', String(cardId)],
    ],
    'one row per write, with who did it; none for the refused VIEWER write',
  );
  const byAction = new Map(rows.map((r) => [r.action, r.details]));
  t.match(byAction.get(ACTIONS.cardRecharge), { amount: 5000, outcome: 'approved', via: 'api' }, 'the recharge and its outcome');
  t.match(byAction.get(ACTIONS.cardTransfer), { outcome: 'card_restricted' }, 'a declined operation is audited with its outcome');
  t.match(byAction.get(ACTIONS.cardBlock), { from: 'active', to: 'blocked', reason: 'audit' });
  t.match(byAction.get(ACTIONS.cardCreate), { panMasked: /^628000\*+[0-9]{4}$/ }, 'cards are named by their masked PAN');
  t.match(byAction.get(ACTIONS.cardCode), { codeId: Number, amountMax: 100 });
  t.notOk('pin' in (byAction.get(ACTIONS.terminalPin) ?? {}), 'the PIN row has no PIN');

  const audit = JSON.stringify(rows);
  t.ok(logs.length > 0, 'the app logged');
  for (const s of secrets) {
    t.notOk(audit.includes(s.value), `no ${s.what} in the audit log`);
    t.notOk(logs.includes(s.value), `no ${s.what} in the logs`);
  }
  t.notMatch(logs, /628000[0-9]{10}/, 'no full PAN of ours in the logs');

  const api = await h.call('ADMIN', 'GET', `/audit-log?entity=card&entityId=${cardId}`);
  t.equal(api.status, 200);
  t.same(
    (api.body.items as { action: string; username: string }[]).map((i) => [i.action, i.username]),
    [
      [ACTIONS.cardTransfer, 'admin'],
      [ACTIONS.cardBlock, 'admin'],
      [ACTIONS.cardCode, 'admin'],
      [ACTIONS.cardRecharge, 'admin'],
      [ACTIONS.cardCreate, 'operator'],
    ],
    'the audit log API, newest first, with usernames',
  );
});
