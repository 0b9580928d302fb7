// The accounts the switch names to the ledger for each item (switch/authorize/handler.ts
// accountHint): only what its cache knows for certain, or nothing, never a guess.
import t from 'tap';
import { accountHint } from '../../switch/authorize/handler.js';
import type { AuthView } from '../../switch/cache.js';

const card = { id: 7, accountId: 70, clientId: 1, profileId: 2, status: 'active' as const, expiry: '9912', isVirtual: false };
const view = (virtualAccountId: number | null | undefined, withCard = true): AuthView => ({
  terminal: { id: 'T0000001', servicePointId: 3, status: 'active', initialized: true },
  servicePoint: { id: 3, code: 'PS_SENOSOFT', status: 'active', virtualCardId: virtualAccountId === null ? null : 9, ...(virtualAccountId === undefined ? {} : { virtualAccountId }) },
  card: withCard ? card : null,
  profile: null,
});

t.test('a purchase or pre-authorization names the card account and the virtual card account', async (t) => {
  t.same(accountHint('purchase', view(90)), [70, 90]);
  t.same(accountHint('preauth', view(90)), [70, 90]);
});

t.test('an inquiry names the card account alone', async (t) => {
  t.same(accountHint('inquiry', view(90)), [70]);
  t.same(accountHint('inquiry', view(null)), [70], 'whatever the service point has');
});

t.test('nothing when the cache does not know an account, or the item refers to rows the ledger must find', async (t) => {
  t.equal(accountHint('purchase', view(undefined)), undefined, 'a service point record cached before it carried its virtual account');
  t.equal(accountHint('purchase', view(null)), undefined, 'a service point without a virtual card');
  t.equal(accountHint('purchase', view(90, false)), undefined, 'no card (unknown, or a transaction code)');
  for (const op of ['completion', 'reversal', 'transfer', 'recharge'] as const) t.equal(accountHint(op, view(90)), undefined, op);
});
