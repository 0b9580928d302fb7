-- The schema of the system of record, as of version 0.1.0: one baseline instead of the chain
-- of migrations that built it while nothing was deployed. Every object is created in the
-- current schema (search_path), so each test run migrates a schema of its own.
-- Amounts are integers in minor units (XOF, currency 952, has no decimals).
--
-- Functions are not here: they live in db/functions.sql, which the runner (db/migrate.ts)
-- applies before the migrations and again whenever it changes, so that a function is edited
-- in place rather than copied whole into a new migration. The triggers below use them.

CREATE TABLE networks (
  id          bigserial PRIMARY KEY,
  code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9_]{2,32}$'),
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Clients (établissements): companies that own members, card profiles and cards.
CREATE TABLE clients (
  id          bigserial PRIMARY KEY,
  code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9_]{2,32}$'),
  name        text NOT NULL,
  network_id  bigint REFERENCES networks(id),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Members (membres, bénéficiaires): people of a client who hold cards.
CREATE TABLE members (
  id          bigserial PRIMARY KEY,
  client_id   bigint NOT NULL REFERENCES clients(id),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  email       text,
  phone       text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX members_client ON members (client_id);

-- Service points (points de service, stations). Card acceptor id (DE42) = code.
CREATE TABLE service_points (
  id          bigserial PRIMARY KEY,
  code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9_]{1,15}$'),
  name        text NOT NULL,
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Terminals (TPE): id = DE41.
CREATE TABLE terminals (
  id                text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9]{8}$'),
  service_point_id  bigint NOT NULL REFERENCES service_points(id),
  status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked')),
  initialized_at    timestamptz,
  last_sign_on_at   timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX terminals_service_point ON terminals (service_point_id);

-- Security PINs for a terminal's first sign-on: 4 digits, single use, expiring, hashed.
CREATE TABLE terminal_pins (
  id           bigserial PRIMARY KEY,
  terminal_id  text NOT NULL REFERENCES terminals(id),
  pin_hash     text NOT NULL,
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz,
  replaced_at  timestamptz,
  -- wrong attempts; the PIN is burned at PIN_MAX_ATTEMPTS (db/store.ts), so 4 digits cannot be guessed
  failed_attempts  integer NOT NULL DEFAULT 0,
  created_by   bigint,
  created_at   timestamptz NOT NULL DEFAULT now()
);
-- At most one live (unused, not replaced) PIN per terminal.
CREATE UNIQUE INDEX terminal_pins_live ON terminal_pins (terminal_id) WHERE used_at IS NULL AND replaced_at IS NULL;

-- Card profiles: service flags and limits. kind 'virtual' is for service points' virtual cards.
CREATE TABLE card_profiles (
  id                  bigserial PRIMARY KEY,
  client_id           bigint NOT NULL REFERENCES clients(id),
  code                text NOT NULL CHECK (code ~ '^[A-Z0-9_]{2,32}$'),
  name                text NOT NULL,
  kind                text NOT NULL DEFAULT 'standard' CHECK (kind IN ('standard', 'virtual')),
  fuel                boolean NOT NULL DEFAULT false,
  dotation            boolean NOT NULL DEFAULT false,
  ticket              boolean NOT NULL DEFAULT false,
  transfer            boolean NOT NULL DEFAULT false,
  recharge            boolean NOT NULL DEFAULT false,
  limit_per_txn       bigint CHECK (limit_per_txn > 0),
  limit_day_amount    bigint CHECK (limit_day_amount > 0),
  limit_day_count     integer CHECK (limit_day_count > 0),
  limit_month_amount  bigint CHECK (limit_month_amount > 0),
  limit_month_count   integer CHECK (limit_month_count > 0),
  valid_from          date,
  valid_to            date,
  created_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (client_id, code)
);

-- Accounts hold money. Card accounts carry the card's limit usage, so that one row
-- lock covers balance, holds and limits. Funding accounts back recharges and may go negative;
-- so may service points' accounts (their virtual cards' accounts are credited by purchases and
-- debited by reversals, and a reversal must always go through). Only a card account must cover
-- its holds.
-- Half of each page is left free (fillfactor 50), so that updating a balance stays on its page
-- (a HOT update: no new index entry, no index bloat between vacuums).
CREATE TABLE accounts (
  id            bigserial PRIMARY KEY,
  kind          text NOT NULL CONSTRAINT accounts_kind_check CHECK (kind IN ('card', 'service_point', 'funding')),
  client_id     bigint REFERENCES clients(id),
  currency      text NOT NULL DEFAULT '952' CHECK (currency ~ '^[0-9]{3}$'),
  balance       bigint NOT NULL DEFAULT 0,
  held          bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
  usage_day     date,
  day_amount    bigint NOT NULL DEFAULT 0,
  day_count     integer NOT NULL DEFAULT 0,
  usage_month   date,
  month_amount  bigint NOT NULL DEFAULT 0,
  month_count   integer NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT accounts_card_covers_holds CHECK (kind <> 'card' OR balance >= held)
) WITH (fillfactor = 50);
CREATE UNIQUE INDEX accounts_funding_per_client ON accounts (client_id) WHERE kind = 'funding';

CREATE TABLE cards (
  id                bigserial PRIMARY KEY,
  pan               text NOT NULL UNIQUE CHECK (pan ~ '^[0-9]{12,19}$'),
  name              text NOT NULL,
  client_id         bigint NOT NULL REFERENCES clients(id),
  member_id         bigint NOT NULL REFERENCES members(id),
  profile_id        bigint NOT NULL REFERENCES card_profiles(id),
  account_id        bigint NOT NULL UNIQUE REFERENCES accounts(id),
  status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked', 'opposed', 'cancelled')),
  expiry            char(4) NOT NULL CHECK (expiry ~ '^[0-9]{2}(0[1-9]|1[0-2])$'), -- YYMM
  is_virtual        boolean NOT NULL DEFAULT false,
  service_point_id  bigint REFERENCES service_points(id),
  created_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (is_virtual = (service_point_id IS NOT NULL))
);
-- One virtual card per service point.
CREATE UNIQUE INDEX cards_virtual_per_service_point ON cards (service_point_id) WHERE is_virtual;
CREATE INDEX cards_client ON cards (client_id);
CREATE INDEX cards_profile ON cards (profile_id);

CREATE TABLE users (
  id          bigserial PRIMARY KEY,
  username    text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_.-]{2,64}$'),
  role        text NOT NULL CHECK (role IN ('ADMIN', 'OPERATOR', 'VIEWER')),
  disabled    boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Bearer tokens, stored as SHA-256 of the token; the token itself is shown once.
CREATE TABLE tokens (
  id          bigserial PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users(id),
  token_hash  bytea NOT NULL UNIQUE,
  label       text,
  expires_at  timestamptz,
  revoked_at  timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Transaction codes: typed in at a TPE instead of a card. Hashed, single use, expiring.
CREATE TABLE transaction_codes (
  id                bigserial PRIMARY KEY,
  card_id           bigint NOT NULL REFERENCES cards(id),
  code_hash         bytea NOT NULL UNIQUE,
  amount_max        bigint NOT NULL CHECK (amount_max > 0),
  expires_at        timestamptz NOT NULL,
  service_point_id  bigint REFERENCES service_points(id),
  used_at           timestamptz,
  journal_id        bigint,
  created_by        bigint REFERENCES users(id),
  created_at        timestamptz NOT NULL DEFAULT now()
);

-- The journal: every transaction, approved or declined, from a terminal, the back office or
-- the system itself (the sweep that expires holds). outcome is the ledger's verdict
-- ('approved', 'insufficient_funds', ...); the switch maps it to a response code. A repeat or
-- duplicate is journaled too, pointing at the original.
CREATE TABLE journal (
  id                bigserial PRIMARY KEY,
  op                text NOT NULL,
  source            text NOT NULL CHECK (source IN ('terminal', 'backoffice', 'system')),
  outcome           text NOT NULL,
  terminal_id       text,
  service_point_id  bigint,
  stan              text,
  transmission_at   text,           -- DE7 as received (MMDDhhmmss)
  mti               text,
  card_id           bigint,
  counter_card_id   bigint,         -- credited card: the service point's virtual card, a transfer's target
  code_id           bigint,
  amount            bigint NOT NULL DEFAULT 0 CHECK (amount >= 0),
  currency          text,
  service           text,
  -- References between journal rows are set only by the ledger's posting (db/ledger.ts), from
  -- rows it has just read or created; no foreign keys (their triggers were a third of a
  -- one-item batch's time). The ledger check (db/check.ts) verifies them.
  original_id       bigint,
  duplicate_of      bigint,
  reversed_by       bigint,
  request_hash      bytea,
  approval_code     text,
  available_after   bigint,
  user_id           bigint,
  note              text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  -- The money the row moves, its two ledger entries: entry_amount leaves debit_account and
  -- reaches credit_account (-entry_amount, +entry_amount), as in ledger designs that post
  -- transfers (TigerBeetle's debit/credit accounts). They sum to zero by construction and are
  -- written with the row, not as two more rows with two indexes each and a trigger to prove
  -- their sum; every money movement of the ledger is one account to another. Set only by the
  -- ledger's posting, with account ids it has just locked: no foreign keys (their per-row
  -- checks were 2/3 of a batch's time), the ledger check verifies them.
  debit_account     bigint,
  credit_account    bigint,
  entry_amount      bigint,
  CONSTRAINT journal_entries_whole CHECK ((debit_account IS NULL) = (credit_account IS NULL) AND (debit_account IS NULL) = (entry_amount IS NULL)),
  CONSTRAINT journal_entries_two_accounts CHECK (debit_account <> credit_account),
  CONSTRAINT journal_entries_positive CHECK (entry_amount > 0),
  CONSTRAINT journal_entries_approved CHECK (entry_amount IS NULL OR outcome = 'approved')
);
-- Duplicate detection across switch processes: one original per (terminal, STAN, DE7).
-- (Rows without a terminal have NULLs here and never collide.)
CREATE UNIQUE INDEX journal_terminal_key ON journal (terminal_id, stan, transmission_at) WHERE duplicate_of IS NULL;
-- A card's journal (db/store.ts cardJournal) lists the rows where the card is the holder
-- (card_id) or the credited card (counter_card_id: a service point's virtual card, a transfer
-- target). With an index on card_id only, `card_id = $1 OR counter_card_id = $1` scanned the
-- whole journal for a card with few rows (16 ms at 160,000 rows, growing with the journal);
-- each side is read through its own index.
CREATE INDEX journal_card ON journal (card_id, id);
CREATE INDEX journal_counter_card ON journal (counter_card_id, id);
-- (A terminal's rows come from journal_terminal_key's leading column. Each index here is paid
-- on every authorization.)

-- Entries are append-only (a correction is a new, reversing row): a journal row's entries never
-- change, and a row with entries is never deleted; the journal is never truncated.
-- (UPDATE OF: the row trigger fires only for statements that name these columns, not for the
-- posting's `SET reversed_by`.) The functions are in db/functions.sql.
CREATE TRIGGER journal_entries_no_update BEFORE UPDATE OF debit_account, credit_account, entry_amount OR DELETE ON journal
  FOR EACH ROW EXECUTE FUNCTION journal_entries_append_only();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();

-- The double-entry ledger, read as entries (the ledger check, card histories): two per journal
-- row that moves money, summing to zero.
CREATE VIEW ledger_entries (journal_id, account_id, amount, created_at) AS
  SELECT id, debit_account, -entry_amount, created_at FROM journal WHERE entry_amount IS NOT NULL
  UNION ALL
  SELECT id, credit_account, entry_amount, created_at FROM journal WHERE entry_amount IS NOT NULL;

-- Holds (pre-authorizations at the pump): reserve part of a card's balance until completion.
CREATE TABLE holds (
  id          bigserial PRIMARY KEY,
  journal_id  bigint NOT NULL UNIQUE REFERENCES journal(id),
  account_id  bigint NOT NULL REFERENCES accounts(id),
  amount      bigint NOT NULL CHECK (amount > 0),
  status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'reversed', 'expired')),
  closed_by   bigint REFERENCES journal(id),
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX holds_open ON holds (account_id) WHERE status = 'open';
-- The sweep that expires holds past expires_at reads only the open ones, oldest first.
CREATE INDEX holds_open_expiry ON holds (expires_at) WHERE status = 'open';

CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  user_id     bigint REFERENCES users(id),
  action      text NOT NULL,
  entity      text NOT NULL,
  entity_id   text,
  details     jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);

-- End-of-day reconciliation reports of terminals (0500).
CREATE TABLE reconciliations (
  id              bigserial PRIMARY KEY,
  terminal_id     text NOT NULL,
  stan            text,
  transmission_at text,
  outcome         text NOT NULL,
  reported        jsonb NOT NULL,
  computed        jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
