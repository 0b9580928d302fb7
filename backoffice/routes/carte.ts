/**
 * /carte/*: the card operations of the fuel-card module (every write needs ADMIN).
 * Virtual cards are a service point's receiving account; virtualization is a profile
 * change to a virtualization profile. Two different things (seed/cartes-virtuelles.txt).
 */
import * as store from '../../db/store.js';
import { actorOf, route } from '../route.js';
import * as S from '../schemas.js';
import * as V from '../views.js';

const CARD = '/carte/cards/:id';

export const carteRoutes = [
  route({
    method: 'POST',
    url: '/carte/profiles/:id',
    access: 'carte',
    tag: 'carte',
    summary: "Change a card profile's services, limits or validity (absent fields stay; every card with it follows; ADMIN, since it can virtualize them)",
    params: S.IdParams,
    body: S.ProfileChange,
    response: S.ProfileView,
    handle: async (ctx) => ctx.services.ops.updateProfile(actorOf(ctx), { ...ctx.body, profileId: ctx.params.id }),
  }),
  route({
    method: 'POST',
    url: '/carte/virtual-cards',
    access: 'carte',
    tag: 'carte',
    summary: 'Create the virtual card of a service point, named C_VIRT_<SERVICE_POINT_CODE> (one per service point; full PAN shown once)',
    body: S.VirtualCardInput,
    status: 201,
    response: S.NewCardView,
    handle: async (ctx) => ctx.services.ops.createVirtualCard(actorOf(ctx), ctx.body),
  }),
  route({
    method: 'GET',
    url: CARD,
    access: 'read',
    tag: 'carte',
    summary: 'Read a card with its balance, profile and journal (masked PAN)',
    params: S.IdParams,
    query: S.JournalQuery,
    response: S.CardDetailView,
    handle: async ({ params, query, services }) => {
      const card = await store.getCard(services.pool, params.id);
      const [profile, journal] = await Promise.all([store.getProfile(services.pool, card.profile_id), store.cardJournal(services.pool, card.id, query.journalLimit)]);
      return {
        ...V.cardView(card),
        profile: V.profileView(profile),
        virtualized: store.isVirtualizationProfile(profile),
        journal: journal.map(V.journalLineView),
      };
    },
  }),
  route({
    method: 'POST',
    url: `${CARD}/virtualize`,
    access: 'carte',
    tag: 'carte',
    summary: 'Virtualize a card: give it a virtualization profile (terminal services off, transfer and recharge on)',
    params: S.IdParams,
    body: S.CardProfileInput.omit({ cardId: true }),
    response: S.CardView,
    handle: async (ctx) => ctx.services.ops.virtualize(actorOf(ctx), { ...ctx.body, cardId: ctx.params.id }),
  }),
  route({
    method: 'POST',
    url: `${CARD}/unvirtualize`,
    access: 'carte',
    tag: 'carte',
    summary: 'Undo a virtualization: give back a standard profile with terminal services',
    params: S.IdParams,
    body: S.CardProfileInput.omit({ cardId: true }),
    response: S.CardView,
    handle: async (ctx) => ctx.services.ops.unvirtualize(actorOf(ctx), { ...ctx.body, cardId: ctx.params.id }),
  }),
  route({
    method: 'POST',
    url: `${CARD}/profile`,
    access: 'carte',
    tag: 'carte',
    summary: "Change a card's profile (one of its client's)",
    params: S.IdParams,
    body: S.CardProfileInput.omit({ cardId: true }),
    response: S.CardView,
    handle: async (ctx) => ctx.services.ops.setProfile(actorOf(ctx), { ...ctx.body, cardId: ctx.params.id }),
  }),
  route({
    method: 'POST',
    url: `${CARD}/block`,
    access: 'carte',
    tag: 'carte',
    summary: 'Block a card',
    params: S.IdParams,
    body: S.CardStatusInput.omit({ cardId: true }),
    response: S.CardView,
    handle: async (ctx) => ctx.services.ops.setCardStatus(actorOf(ctx), { ...ctx.body, cardId: ctx.params.id }, 'blocked'),
  }),
  route({
    method: 'POST',
    url: `${CARD}/unblock`,
    access: 'carte',
    tag: 'carte',
    summary: 'Unblock a card',
    params: S.IdParams,
    body: S.CardStatusInput.omit({ cardId: true }),
    response: S.CardView,
    handle: async (ctx) => ctx.services.ops.setCardStatus(actorOf(ctx), { ...ctx.body, cardId: ctx.params.id }, 'active'),
  }),
  route({
    method: 'POST',
    url: `${CARD}/recharge`,
    access: 'carte',
    tag: 'carte',
    summary: "Recharge a card from its client's funding account (through the ledger; a decline is 422)",
    params: S.IdParams,
    body: S.RechargeInput.omit({ cardId: true }),
    response: S.LedgerResultView,
    handle: async (ctx) => ctx.services.ops.recharge(actorOf(ctx), { ...ctx.body, cardId: ctx.params.id }),
  }),
  route({
    method: 'POST',
    url: `${CARD}/transfer`,
    access: 'carte',
    tag: 'carte',
    summary: 'Transfer balance to a card of the same client or network (through the ledger; a decline is 422)',
    params: S.IdParams,
    body: S.TransferInput.omit({ cardId: true }),
    response: S.TransferResultView,
    handle: async (ctx) => ctx.services.ops.transfer(actorOf(ctx), { ...ctx.body, cardId: ctx.params.id }),
  }),
  route({
    method: 'POST',
    url: `${CARD}/codes`,
    access: 'carte',
    tag: 'carte',
    summary: 'Generate a single-use transaction code (shown once, stored as an HMAC)',
    params: S.IdParams,
    body: S.CodeInput.omit({ cardId: true }),
    status: 201,
    response: S.CodeView,
    handle: async (ctx) => ctx.services.ops.createCode(actorOf(ctx), { ...ctx.body, cardId: ctx.params.id }),
  }),
  route({
    method: 'POST',
    url: `${CARD}/pin`,
    access: 'carte',
    tag: 'carte',
    summary: "Set or reset a card's cardholder PIN (4 to 6 digits, or absent: a random 4-digit PIN, shown once); stored as an HMAC, wrong tries back to 0",
    params: S.IdParams,
    body: S.CardPinInput.omit({ cardId: true }),
    response: S.CardPinView,
    handle: async (ctx) => ctx.services.ops.setCardPin(actorOf(ctx), { ...ctx.body, cardId: ctx.params.id }),
  }),
];
