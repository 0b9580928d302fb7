/** The audit log: record a back-office action, list the log. */
import { type Db, type Page, many } from './common.js';

export async function audit(db: Db, a: { userId: number | null; action: string; entity: string; entityId?: string | number | null; details?: unknown }): Promise<void> {
  await db.query('INSERT INTO audit_log (user_id, action, entity, entity_id, details) VALUES ($1, $2, $3, $4, $5)', [
    a.userId,
    a.action,
    a.entity,
    a.entityId === undefined || a.entityId === null ? null : String(a.entityId),
    JSON.stringify(a.details ?? {}),
  ]);
}

export interface AuditEntry {
  id: number;
  user_id: number | null;
  username: string | null;
  action: string;
  entity: string;
  entity_id: string | null;
  details: Record<string, unknown>;
  created_at: Date;
}

/** The audit log, newest first. */
export function listAudit(db: Db, f: { entity?: string; entityId?: string; userId?: number }, page: Page): Promise<AuditEntry[]> {
  return many<AuditEntry>(
    db,
    `SELECT a.id, a.user_id, u.username, a.action, a.entity, a.entity_id, a.details, a.created_at
     FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
     WHERE ($1::text IS NULL OR a.entity = $1) AND ($2::text IS NULL OR a.entity_id = $2) AND ($3::bigint IS NULL OR a.user_id = $3)
     ORDER BY a.id DESC LIMIT $4 OFFSET $5`,
    [f.entity ?? null, f.entityId ?? null, f.userId ?? null, page.limit, page.offset],
  );
}
