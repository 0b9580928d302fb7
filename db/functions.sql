-- Every SQL function of the schema, in one file. The migration runner (db/migrate.ts) applies
-- it before the migrations, and again whenever its checksum changes: edit a function here, in
-- place, rather than copying it into a new migration. So each statement must be re-runnable:
-- CREATE OR REPLACE FUNCTION (and, to change a function's arguments or result type, a
-- DROP FUNCTION IF EXISTS before it). A function no longer needed is dropped by a migration
-- once nothing uses it; removing it from here alone leaves it in existing schemas.
-- Objects are created in the current schema (search_path), as the migrations are.

-- Guards of double entry (triggers of the journal in 001_baseline.sql): a journal row's two
-- entries (debit_account, credit_account, entry_amount) never change, and a row with entries is
-- never deleted; a correction is a new, reversing row.
CREATE OR REPLACE FUNCTION journal_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.entry_amount IS NOT NULL THEN
      RAISE EXCEPTION 'ledger entries are append-only (DELETE of journal % refused)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF (NEW.debit_account, NEW.credit_account, NEW.entry_amount) IS DISTINCT FROM (OLD.debit_account, OLD.credit_account, OLD.entry_amount) THEN
    RAISE EXCEPTION 'ledger entries are append-only (UPDATE of journal %''s entries refused)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$;

-- The journal is never truncated (its statement trigger journal_no_truncate); refuses whatever
-- it is attached to.
CREATE OR REPLACE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger entries are append-only (% refused)', TG_OP USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

-- The audit log is append-only (its triggers in 002): refuses UPDATE, DELETE and TRUNCATE.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

-- A virtual card, as it is created, written on its service point's row (the ledger reads it
-- there: migration 009). The search path is the schema's at creation, whoever inserts the card.
CREATE OR REPLACE FUNCTION card_virtual_on_service_point() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  UPDATE service_points SET virtual_card_id = NEW.id, virtual_account_id = NEW.account_id WHERE id = NEW.service_point_id;
  RETURN NULL;
END;
$$;
