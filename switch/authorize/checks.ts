/**
 * The switch's early decline: the ledger's own rules (db/ledger/rules.ts, staticVerdict) over
 * the switch's cached view of the terminal, its service point, the card and its profile. What
 * the cache does not hold (the card's account, a transaction code, limits used, balances) is
 * left to the posting, which decides every item again under its row locks: a stale cache can
 * slow a decline but never grant an approval. A decline found here is still journaled.
 */
import type { Outcome } from '../../db/outcomes.js';
import type { LedgerItem } from '../../db/ledger.js';
import { staticVerdict, utcDay, type ItemFacts } from '../../db/ledger/rules.js';
import type { AuthView } from '../cache.js';

/** The cached view as the rules' facts. A code's card is not cached: its checks wait for the ledger. */
export function cachedFacts(item: LedgerItem, view: AuthView): ItemFacts {
  const t = view.terminal;
  const sp = view.servicePoint;
  const byCode = item.codeHash !== undefined;
  return {
    terminal: t === null ? null : { servicePointId: t.servicePointId, status: t.status, initialized: t.initialized },
    servicePoint: sp === null ? null : { id: sp.id, status: sp.status, virtualCardId: sp.virtualCardId },
    card: byCode ? undefined : view.card === null ? null : { id: view.card.id, status: view.card.status, expiry: view.card.expiry, clientId: view.card.clientId },
    profile: byCode ? undefined : view.profile,
  };
}

export function precheck(item: LedgerItem, view: AuthView, now: Date): Outcome | undefined {
  return staticVerdict(item, cachedFacts(item, view), utcDay(now), now.getTime());
}
