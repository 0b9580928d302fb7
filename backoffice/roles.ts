/**
 * Who may do what: the one table of access levels. Every route names its access level;
 * this table says which role it needs. Roles are ordered: ADMIN > OPERATOR > VIEWER.
 */
import type { Role } from '../db/store.js';

export const ROLES = ['VIEWER', 'OPERATOR', 'ADMIN'] as const satisfies readonly Role[];

const RANK: Record<Role, number> = { VIEWER: 0, OPERATOR: 1, ADMIN: 2 };

/**
 * Access levels and the least role each needs (null: no token needed).
 * `carte` is ADMIN: `/carte/*` writes (virtual cards, virtualization, card profiles,
 * recharges, transfers, codes, blocking) are the ADMIN's alone, as DESIGN.md's roles say.
 */
export const ACCESS = {
  public: null,
  /** Any read. */
  read: 'VIEWER',
  /** Networks, clients, members, service points, terminals and their PINs, profiles, standard cards. */
  manage: 'OPERATOR',
  /** Every write under /carte/*. */
  carte: 'ADMIN',
  /** Users, tokens and the audit log. */
  users: 'ADMIN',
} as const satisfies Record<string, Role | null>;

export type Access = keyof typeof ACCESS;

export function requiredRole(access: Access): Role | null {
  return ACCESS[access];
}

export function allows(role: Role, access: Access): boolean {
  const needed = ACCESS[access];
  return needed === null || RANK[role] >= RANK[needed];
}
