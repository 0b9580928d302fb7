/** Card profiles: service flags and limits, per client. */
import * as store from '../../db/store.js';
import { actorOf, route } from '../route.js';
import * as S from '../schemas.js';
import * as V from '../views.js';

export const profileRoutes = [
  route({
    method: 'POST',
    url: '/profiles',
    access: 'manage',
    tag: 'profiles',
    summary: 'Create a card profile of a client',
    body: S.ProfileInput,
    status: 201,
    response: S.ProfileView,
    handle: async (ctx) => ctx.services.ops.createProfile(actorOf(ctx), ctx.body),
  }),
  route({
    method: 'GET',
    url: '/profiles/:id',
    access: 'read',
    tag: 'profiles',
    summary: 'Read a card profile',
    params: S.IdParams,
    response: S.ProfileView,
    handle: async ({ params, services }) => V.profileView(await store.getProfile(services.pool, params.id)),
  }),
  route({
    method: 'GET',
    url: '/clients/:id/profiles',
    access: 'read',
    tag: 'profiles',
    summary: "List a client's card profiles",
    params: S.IdParams,
    query: S.PageQuery,
    response: S.pageOf(S.ProfileView),
    handle: async ({ params, query, services }) => {
      await store.getClient(services.pool, params.id);
      return V.page((await store.listProfiles(services.pool, params.id, query)).map(V.profileView), query);
    },
  }),
];
