-- The back office's web pages: users sign in with a password (scrypt, db/secrets.ts) and are
-- locked for a while after repeated failures; a session cookie names a row of web_sessions.
ALTER TABLE users
  ADD COLUMN password_hash   text,
  ADD COLUMN failed_signins  integer NOT NULL DEFAULT 0 CHECK (failed_signins >= 0),
  ADD COLUMN locked_until    timestamptz;

CREATE TABLE web_sessions (
  id          text PRIMARY KEY,
  data        jsonb NOT NULL,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- A card holder is a member of the client or a beneficiary of it (the source page's "membre ou
-- bénéficiaire"). Existing holders were created as members.
ALTER TABLE members ADD COLUMN kind text NOT NULL DEFAULT 'member' CHECK (kind IN ('member', 'beneficiary'));

-- A service point belongs to an establishment client: the client its virtual card is created for
-- is proposed first. Service points made before this have none until one is set.
ALTER TABLE service_points ADD COLUMN client_id bigint REFERENCES clients(id);
CREATE INDEX service_points_client ON service_points (client_id);

-- The audit log is append-only: a change's row is written in the change's transaction and never
-- edited or removed afterwards.
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
