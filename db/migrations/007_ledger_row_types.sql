-- The rows a ledger batch sends, each list as one parameter: an array of one of these types, in
-- PostgreSQL's binary format (db/ledger/params.ts binaryRecordArray), read by one unnest. One
-- array per column made each such list a function scan of as many functions, each with its own
-- tuplestore, started and filled at every batch: a tenth of PostgreSQL's work for a batch.
-- Their attributes are db/ledger/sql.ts ROW_TYPES, in order (test/db/ledger-wire.test.ts
-- compares them with this catalog).

-- A batch's items, as its read statement takes them.
CREATE TYPE ledger_item AS (op text, term text, sp bigint, card bigint, code text, "to" bigint);

-- A journal row to insert; request_hash is the digest's hex, decoded by the insert.
CREATE TYPE journal_row AS (
  id bigint,
  op text,
  source text,
  outcome text,
  terminal_id text,
  service_point_id bigint,
  stan text,
  transmission_at text,
  mti text,
  card_id bigint,
  counter_card_id bigint,
  code_id bigint,
  amount bigint,
  currency text,
  service text,
  original_id bigint,
  duplicate_of bigint,
  reversed_by bigint,
  request_hash text,
  approval_code text,
  available_after bigint,
  user_id bigint,
  note text,
  debit_account bigint,
  credit_account bigint,
  entry_amount bigint
);

-- An account's change: balance and held by deltas, the limits used as decided.
CREATE TYPE account_change AS (
  id bigint,
  balance_delta bigint,
  held_delta bigint,
  usage_day date,
  day_amount bigint,
  day_count int,
  usage_month date,
  month_amount bigint,
  month_count int
);
