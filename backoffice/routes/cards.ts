/** Standard cards: create (the answer shows the full PAN once), read, list (masked PANs). */
import * as store from '../../db/store.js';
import { actorOf, route } from '../route.js';
import * as S from '../schemas.js';
import * as V from '../views.js';

export const cardRoutes = [
  route({
    method: 'POST',
    url: '/cards',
    access: 'manage',
    tag: 'cards',
    summary: 'Create a standard card and its account (the answer shows the full PAN, once)',
    body: S.CardInput,
    status: 201,
    response: S.NewCardView,
    handle: async (ctx) => ctx.services.ops.createCard(actorOf(ctx), ctx.body),
  }),
  route({
    method: 'GET',
    url: '/cards',
    access: 'read',
    tag: 'cards',
    summary: 'List cards (masked PANs)',
    query: S.CardListQuery,
    response: S.pageOf(S.CardView),
    handle: async ({ query, services }) => V.page((await store.listCards(services.pool, query, query)).map(V.cardView), query),
  }),
  route({
    method: 'GET',
    url: '/cards/:id',
    access: 'read',
    tag: 'cards',
    summary: 'Read a card (masked PAN) with its balance',
    params: S.IdParams,
    response: S.CardView,
    handle: async ({ params, services }) => V.cardView(await store.getCard(services.pool, params.id)),
  }),
];
