/**
 * Every write route of the back office, as the tests expect it (written from DESIGN.md's roles, not
 * read from the route table, so a wrong role in the table fails a test): the least role,
 * how to make a valid request (fresh each time, so it can run once per role), a bad
 * request and the field its 400 must name.
 */
import * as store from '../../db/store.js';
import type { Role } from '../../db/store.js';
import { uniq, uniqTerminal, type Backoffice } from './backoffice.js';

export interface Prepared {
  url: string;
  body?: unknown;
}

export interface WriteCase {
  method: 'POST' | 'DELETE';
  /** The route's pattern, as fastify knows it. */
  route: string;
  role: Role;
  status: number;
  prepare(h: Backoffice): Promise<Prepared>;
  /** A bad request for the prepared subject, and the field the 400 must name. */
  invalid(p: Prepared): { url?: string; body?: unknown; field: string };
}

const freshCard = async (h: Backoffice, balance = 0): Promise<store.Card> => h.w.card(balance);

const freshUser = async (h: Backoffice): Promise<store.User> => store.createUser(h.pool, { username: uniq('u').toLowerCase(), role: 'VIEWER' });

export const WRITE_CASES: WriteCase[] = [
  {
    method: 'POST',
    route: '/networks',
    role: 'OPERATOR',
    status: 201,
    prepare: async () => ({ url: '/networks', body: { code: uniq('NET'), name: 'Network' } }),
    invalid: () => ({ body: { code: 'lower case', name: 'Network' }, field: 'code' }),
  },
  {
    method: 'POST',
    route: '/clients',
    role: 'OPERATOR',
    status: 201,
    prepare: async () => ({ url: '/clients', body: { code: uniq('CLI'), name: 'Client' } }),
    invalid: () => ({ body: { code: 'CLIENTX', name: '   ' }, field: 'name' }),
  },
  {
    method: 'POST',
    route: '/members',
    role: 'OPERATOR',
    status: 201,
    prepare: async (h) => ({ url: '/members', body: { clientId: h.w.elton.id, name: 'Driver' } }),
    invalid: () => ({ body: { clientId: 'one', name: 'Driver' }, field: 'clientId' }),
  },
  {
    method: 'POST',
    route: '/service-points',
    role: 'OPERATOR',
    status: 201,
    prepare: async () => ({ url: '/service-points', body: { code: uniq('PS_T'), name: 'Station' } }),
    invalid: () => ({ body: { code: 'PS_MUCH_TOO_LONG_FOR_DE42', name: 'Station' }, field: 'code' }),
  },
  {
    method: 'POST',
    route: '/terminals',
    role: 'OPERATOR',
    status: 201,
    prepare: async (h) => ({ url: '/terminals', body: { id: uniqTerminal(), servicePointId: h.w.sp.id } }),
    invalid: () => ({ body: { id: 'TPE1', servicePointId: 1 }, field: 'id' }),
  },
  {
    method: 'POST',
    route: '/terminals/:id/block',
    role: 'OPERATOR',
    status: 200,
    prepare: async (h) => ({ url: `/terminals/${h.w.terminal2}/block` }),
    invalid: () => ({ url: '/terminals/NOT-A-TID/block', field: 'id' }),
  },
  {
    method: 'POST',
    route: '/terminals/:id/unblock',
    role: 'OPERATOR',
    status: 200,
    prepare: async (h) => ({ url: `/terminals/${h.w.terminal2}/unblock` }),
    invalid: (p) => ({ body: { status: 'active' }, field: 'status', url: p.url }),
  },
  {
    method: 'POST',
    route: '/terminals/:id/master-key',
    role: 'OPERATOR',
    status: 201,
    prepare: async (h) => ({ url: `/terminals/${h.w.terminal}/master-key`, body: {} }),
    invalid: () => ({ body: { algorithm: 'des' }, field: 'algorithm' }),
  },
  {
    method: 'POST',
    route: '/terminals/:id/pins',
    role: 'OPERATOR',
    status: 201,
    prepare: async (h) => ({ url: `/terminals/${h.w.terminal}/pins`, body: { ttlSeconds: 3600 } }),
    invalid: () => ({ body: { ttlSeconds: 5 }, field: 'ttlSeconds' }),
  },
  {
    method: 'POST',
    route: '/profiles',
    role: 'OPERATOR',
    status: 201,
    prepare: async (h) => ({ url: '/profiles', body: { clientId: h.w.elton.id, code: uniq('PROF'), name: 'Profile', fuel: true } }),
    invalid: () => ({ body: { clientId: 1, code: 'PROFX', name: 'Profile', limitPerTxn: -5 }, field: 'limitPerTxn' }),
  },
  {
    method: 'POST',
    route: '/cards',
    role: 'OPERATOR',
    status: 201,
    prepare: async (h) => ({ url: '/cards', body: { clientId: h.w.elton.id, memberId: h.w.manager.id, profileId: h.w.fuel.id, name: 'Card' } }),
    invalid: () => ({ body: { clientId: 1, memberId: 1, profileId: 1, name: 'Card', expiry: '2913' }, field: 'expiry' }),
  },
  {
    method: 'POST',
    route: '/carte/virtual-cards',
    role: 'ADMIN',
    status: 201,
    prepare: async (h) => {
      const sp = await store.createServicePoint(h.pool, { code: uniq('PS_V'), name: 'Station' });
      return { url: '/carte/virtual-cards', body: { servicePointId: sp.id, clientId: h.w.elton.id, memberId: h.w.manager.id, profileId: h.w.virtualProfile.id } };
    },
    invalid: () => ({ body: { clientId: 1, memberId: 1, profileId: 1 }, field: 'servicePointId' }),
  },
  {
    method: 'POST',
    route: '/carte/cards/:id/virtualize',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => ({ url: `/carte/cards/${(await freshCard(h)).id}/virtualize`, body: { profileId: h.w.virtualization.id } }),
    invalid: () => ({ body: { profileId: 'VIRTUALIZED' }, field: 'profileId' }),
  },
  {
    method: 'POST',
    route: '/carte/cards/:id/unvirtualize',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => {
      const c = await freshCard(h);
      await store.setCardProfile(h.pool, c.id, h.w.virtualization.id);
      return { url: `/carte/cards/${c.id}/unvirtualize`, body: { profileId: h.w.fuel.id } };
    },
    invalid: () => ({ body: {}, field: 'profileId' }),
  },
  {
    method: 'POST',
    route: '/carte/cards/:id/profile',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => ({ url: `/carte/cards/${(await freshCard(h)).id}/profile`, body: { profileId: h.w.fuel.id } }),
    invalid: () => ({ body: { profileId: 0 }, field: 'profileId' }),
  },
  {
    method: 'POST',
    route: '/carte/profiles/:id',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => {
      const p = await store.createProfile(h.pool, { clientId: h.w.elton.id, code: uniq('PROF'), name: 'Profile', fuel: true });
      return { url: `/carte/profiles/${p.id}`, body: { limitPerTxn: 50_000, ticket: true } };
    },
    invalid: () => ({ body: { limitDayCount: 0 }, field: 'limitDayCount' }),
  },
  {
    method: 'POST',
    route: '/carte/cards/:id/block',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => ({ url: `/carte/cards/${(await freshCard(h)).id}/block`, body: { reason: 'lost' } }),
    invalid: () => ({ body: { reason: 'x'.repeat(201) }, field: 'reason' }),
  },
  {
    method: 'POST',
    route: '/carte/cards/:id/unblock',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => {
      const c = await freshCard(h);
      await store.setCardStatus(h.pool, c.id, 'blocked');
      return { url: `/carte/cards/${c.id}/unblock` };
    },
    invalid: () => ({ url: '/carte/cards/abc/unblock', field: 'id' }),
  },
  {
    method: 'POST',
    route: '/carte/cards/:id/recharge',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => ({ url: `/carte/cards/${(await freshCard(h)).id}/recharge`, body: { amount: 1000 } }),
    invalid: () => ({ body: { amount: 0 }, field: 'amount' }),
  },
  {
    method: 'POST',
    route: '/carte/cards/:id/transfer',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => {
      const [from, to] = [await freshCard(h, 5000), await freshCard(h)];
      return { url: `/carte/cards/${from.id}/transfer`, body: { toCardId: to.id, amount: 100 } };
    },
    invalid: () => ({ body: { amount: 100 }, field: 'toCardId' }),
  },
  {
    method: 'POST',
    route: '/carte/cards/:id/codes',
    role: 'ADMIN',
    status: 201,
    prepare: async (h) => ({ url: `/carte/cards/${(await freshCard(h, 1000)).id}/codes`, body: { amountMax: 500, ttlSeconds: 600 } }),
    invalid: () => ({ body: { amountMax: 500 }, field: 'ttlSeconds' }),
  },
  {
    method: 'POST',
    route: '/carte/cards/:id/pin',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => ({ url: `/carte/cards/${(await freshCard(h)).id}/pin`, body: { pin: '4821' } }),
    invalid: () => ({ body: { pin: '12a4' }, field: 'pin' }),
  },
  {
    method: 'POST',
    route: '/users',
    role: 'ADMIN',
    status: 201,
    prepare: async () => ({ url: '/users', body: { username: uniq('user').toLowerCase(), role: 'VIEWER' } }),
    invalid: () => ({ body: { username: 'someone', role: 'ROOT' }, field: 'role' }),
  },
  {
    method: 'POST',
    route: '/users/:id/disable',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => ({ url: `/users/${(await freshUser(h)).id}/disable` }),
    invalid: () => ({ url: '/users/-3/disable', field: 'id' }),
  },
  {
    method: 'POST',
    route: '/users/:id/enable',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => ({ url: `/users/${(await freshUser(h)).id}/enable` }),
    invalid: (p) => ({ url: p.url, body: { disabled: false }, field: 'disabled' }),
  },
  {
    method: 'POST',
    route: '/users/:id/tokens',
    role: 'ADMIN',
    status: 201,
    prepare: async (h) => ({ url: `/users/${(await freshUser(h)).id}/tokens`, body: { label: 'script' } }),
    invalid: () => ({ body: { ttlSeconds: 10 }, field: 'ttlSeconds' }),
  },
  {
    method: 'DELETE',
    route: '/tokens/:id',
    role: 'ADMIN',
    status: 200,
    prepare: async (h) => {
      const t = await store.createToken(h.pool, { userId: (await freshUser(h)).id });
      return { url: `/tokens/${t.id}` };
    },
    invalid: () => ({ url: '/tokens/1.5', field: 'id' }),
  },
];
