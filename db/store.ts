/**
 * Data access for the back office and the switch: create and read clients, members,
 * service points, terminals (and their security PINs), card profiles, cards, virtual
 * cards, transaction codes, users and tokens. Money moves only through the ledger
 * (db/ledger.ts); nothing here edits a balance.
 *
 * The queries live in db/store/, one file per entity (as backoffice/routes/); this file
 * re-exports them, so importers use `db/store.js` as one module:
 *   common.ts             Db, StoreError (and the query helpers, not re-exported), Page
 *   parties.ts            networks, clients (and their funding accounts), members
 *   stations.ts           service points, terminals, terminal security PINs
 *   profiles.ts           card profiles
 *   cards.ts              cards and virtual cards
 *   holds.ts              a card's open holds
 *   journal.ts            a card's journal lines, the dashboard's journal statistics
 *   transaction-codes.ts  transaction codes
 *   users.ts              users, passwords, sign-in
 *   tokens.ts             bearer tokens, authentication
 *   audit.ts              the audit log
 */
export { StoreError } from './store/common.js';
export type { Db, Page, StoreErrorKind } from './store/common.js';
export * from './store/parties.js';
export * from './store/stations.js';
export * from './store/profiles.js';
export * from './store/cards.js';
export * from './store/holds.js';
export * from './store/journal.js';
export * from './store/transaction-codes.js';
export * from './store/users.js';
export * from './store/tokens.js';
export * from './store/audit.js';
