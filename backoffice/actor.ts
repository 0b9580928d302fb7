/** Who acts: an authenticated API user, or the CLI (as a named user or as the operating-system user). */
import type { Role } from '../db/store.js';

export interface Actor {
  /** users.id; null for the CLI run without --as. */
  userId: number | null;
  username: string;
  role: Role | null;
  via: 'api' | 'cli' | 'web';
  tokenId?: number;
}
