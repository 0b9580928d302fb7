-- The checks of a single column that the ledger's batches never change go with the column's type
-- (a domain), not with its table. PostgreSQL evaluates a table's CHECK constraints on every row
-- an INSERT or UPDATE writes, and prepares them again, from their stored text, for every
-- statement: for a batch of one purchase, reading and preparing the journal's six and the
-- accounts' four was an eighth of PostgreSQL's instructions (bench/pg-instructions.ts). A domain's
-- checks are prepared once per connection and run only where a statement writes the column:
-- an account's kind and currency when it is created, not at every change of its balance. The
-- checks of two columns or more stay on their tables (the journal's entries, an account's holds
-- within its balance). Each keeps its constraint's name, so a refusal names the same rule.

CREATE DOMAIN account_kind AS text
  CONSTRAINT accounts_kind_check CHECK (VALUE IN ('card', 'service_point', 'funding'));
CREATE DOMAIN currency_code AS text
  CONSTRAINT accounts_currency_check CHECK (VALUE ~ '^[0-9]{3}$');
CREATE DOMAIN account_held AS bigint
  CONSTRAINT accounts_held_check CHECK (VALUE >= 0);
CREATE DOMAIN hold_amount AS bigint
  CONSTRAINT holds_amount_check CHECK (VALUE > 0);
CREATE DOMAIN hold_status AS text
  CONSTRAINT holds_status_check CHECK (VALUE IN ('open', 'completed', 'reversed', 'expired'));
CREATE DOMAIN journal_source AS text
  CONSTRAINT journal_source_check CHECK (VALUE IN ('terminal', 'backoffice', 'system'));
CREATE DOMAIN journal_amount AS bigint
  CONSTRAINT journal_amount_check CHECK (VALUE >= 0);
CREATE DOMAIN journal_entry_amount AS bigint
  CONSTRAINT journal_entries_positive CHECK (VALUE > 0);

ALTER TABLE accounts
  DROP CONSTRAINT accounts_kind_check,
  DROP CONSTRAINT accounts_currency_check,
  DROP CONSTRAINT accounts_held_check,
  ALTER COLUMN kind TYPE account_kind,
  ALTER COLUMN currency TYPE currency_code,
  ALTER COLUMN held TYPE account_held;

ALTER TABLE holds
  DROP CONSTRAINT holds_amount_check,
  DROP CONSTRAINT holds_status_check,
  ALTER COLUMN amount TYPE hold_amount,
  ALTER COLUMN status TYPE hold_status;

-- entry_amount's trigger and view are made again around the change of its type, as 001 made them.
DROP TRIGGER journal_entries_no_update ON journal;
DROP VIEW ledger_entries;

ALTER TABLE journal
  DROP CONSTRAINT journal_source_check,
  DROP CONSTRAINT journal_amount_check,
  DROP CONSTRAINT journal_entries_positive,
  ALTER COLUMN source TYPE journal_source,
  ALTER COLUMN amount TYPE journal_amount,
  ALTER COLUMN entry_amount TYPE journal_entry_amount;

CREATE TRIGGER journal_entries_no_update BEFORE UPDATE OF debit_account, credit_account, entry_amount OR DELETE ON journal
  FOR EACH ROW EXECUTE FUNCTION journal_entries_append_only();

CREATE VIEW ledger_entries (journal_id, account_id, amount, created_at) AS
  SELECT id, debit_account, -entry_amount, created_at FROM journal WHERE entry_amount IS NOT NULL
  UNION ALL
  SELECT id, credit_account, entry_amount::bigint, created_at FROM journal WHERE entry_amount IS NOT NULL;
