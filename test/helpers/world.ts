/**
 * A small fuel-card world for ledger, back-office and switch tests: client ELTON in network
 * RESEAU1, a second client in the same network and a third outside it, service point
 * PS_SENOSOFT with terminals and its virtual card, profiles (fuel, virtual card,
 * virtualization), and cards funded through the ledger.
 */
import type pg from 'pg';
import { Ledger } from '../../db/ledger.js';
import { PanVault } from '../../db/pan-vault.js';
import * as store from '../../db/store.js';
import { HASH_SECRET, KEK } from './switch.js';

export interface World {
  ledger: Ledger;
  /** The tests' PAN vault: KEK and HASH_SECRET of the test switch and back office. */
  vault: PanVault;
  elton: store.Client;
  sibling: store.Client;
  outsider: store.Client;
  manager: store.Member;
  siblingMember: store.Member;
  outsiderMember: store.Member;
  fuel: store.CardProfile;
  virtualProfile: store.CardProfile;
  virtualization: store.CardProfile;
  siblingFuel: store.CardProfile;
  outsiderFuel: store.CardProfile;
  sp: store.ServicePoint;
  spBare: store.ServicePoint;
  terminal: string;
  terminal2: string;
  bareTerminal: string;
  /** With its full PAN, as created. */
  virtualCard: store.CreatedCard;
  /** Makes a card of ELTON (fuel profile unless given) funded with `balance`; with its full PAN, as created. */
  card(balance: number, opts?: { profileId?: number; expiry?: string; clientId?: number; memberId?: number }): Promise<store.CreatedCard>;
  recharge(cardId: number, amount: number): Promise<void>;
}

let terminalSeq = 0;

export async function makeWorld(pool: pg.Pool): Promise<World> {
  const ledger = new Ledger(pool);
  const vault = new PanVault(KEK, HASH_SECRET);
  const network = await store.createNetwork(pool, { code: 'RESEAU1', name: 'Réseau 1' });
  const elton = await store.createClient(pool, { code: 'ELTON', name: 'ELTON', networkId: network.id });
  const sibling = await store.createClient(pool, { code: 'SIBLING', name: 'Sibling SA', networkId: network.id });
  const outsider = await store.createClient(pool, { code: 'OUTSIDER', name: 'Outsider SARL' });
  const manager = await store.createMember(pool, { clientId: elton.id, name: 'Gérant ELTON' });
  const siblingMember = await store.createMember(pool, { clientId: sibling.id, name: 'Sibling driver' });
  const outsiderMember = await store.createMember(pool, { clientId: outsider.id, name: 'Outsider driver' });
  const fuel = await store.createProfile(pool, { clientId: elton.id, code: 'FUEL', name: 'Carburant', fuel: true, dotation: true, transfer: true, recharge: true });
  const virtualProfile = await store.createProfile(pool, { clientId: elton.id, code: 'VIRTUAL', name: 'Carte virtuelle', kind: 'virtual', transfer: true, recharge: true });
  const virtualization = await store.createProfile(pool, { clientId: elton.id, code: 'VIRTUALIZED', name: 'Virtualisation', transfer: true, recharge: true });
  const siblingFuel = await store.createProfile(pool, { clientId: sibling.id, code: 'FUEL', name: 'Carburant', fuel: true, transfer: true, recharge: true });
  const outsiderFuel = await store.createProfile(pool, { clientId: outsider.id, code: 'FUEL', name: 'Carburant', fuel: true, transfer: true, recharge: true });
  const sp = await store.createServicePoint(pool, { code: 'PS_SENOSOFT', name: 'Station Senosoft', clientId: elton.id });
  const spBare = await store.createServicePoint(pool, { code: 'PS_BARE', name: 'Station sans carte virtuelle', clientId: elton.id });
  const seq = () => String(++terminalSeq).padStart(4, '0');
  const terminal = `TPE1${seq()}`;
  const terminal2 = `TPE2${seq()}`;
  const bareTerminal = `TPE3${seq()}`;
  await store.createTerminal(pool, { id: terminal, servicePointId: sp.id });
  await store.createTerminal(pool, { id: terminal2, servicePointId: sp.id });
  await store.createTerminal(pool, { id: bareTerminal, servicePointId: spBare.id });
  // as after their first sign-on with a security PIN: the ledger declines terminals that never signed on
  await pool.query('UPDATE terminals SET initialized_at = now() WHERE id = ANY($1)', [[terminal, terminal2, bareTerminal]]);
  const virtualCard = await store.createVirtualCard(pool, vault, {
    servicePointId: sp.id,
    clientId: elton.id,
    memberId: manager.id,
    profileId: virtualProfile.id,
    expiry: '9912',
  });
  const recharge = async (cardId: number, amount: number): Promise<void> => {
    const [r] = await ledger.post([{ op: 'recharge', source: 'backoffice', cardId, amount, note: 'test funding' }]);
    if (r.outcome !== 'approved') throw new Error(`funding refused: ${r.outcome}`);
  };
  const card: World['card'] = async (balance, opts = {}) => {
    const clientId = opts.clientId ?? elton.id;
    const c = await store.createCard(pool, vault, {
      name: 'Test card',
      clientId,
      memberId: opts.memberId ?? (clientId === elton.id ? manager.id : clientId === sibling.id ? siblingMember.id : outsiderMember.id),
      profileId: opts.profileId ?? (clientId === elton.id ? fuel.id : clientId === sibling.id ? siblingFuel.id : outsiderFuel.id),
      expiry: opts.expiry ?? '9912',
    });
    if (balance > 0) {
      // Fund through a profile that allows recharge, then restore the asked profile.
      const asked = c.profile_id;
      const rechargeable = clientId === elton.id ? fuel.id : clientId === sibling.id ? siblingFuel.id : outsiderFuel.id;
      if (asked !== rechargeable) await store.setCardProfile(pool, c.id, rechargeable);
      await recharge(c.id, balance);
      if (asked !== rechargeable) await store.setCardProfile(pool, c.id, asked);
    }
    return { ...(await store.getCard(pool, c.id)), pan: c.pan };
  };
  return {
    ledger, vault, elton, sibling, outsider, manager, siblingMember, outsiderMember, fuel, virtualProfile, virtualization, siblingFuel, outsiderFuel,
    sp, spBare, terminal, terminal2, bareTerminal, virtualCard: { ...(await store.getCard(pool, virtualCard.id)), pan: virtualCard.pan }, card, recharge,
  };
}
