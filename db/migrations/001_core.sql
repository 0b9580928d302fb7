-- Core schema of the system of record. Every object is created in the current
-- schema (search_path), so each test run migrates a schema of its own.
-- Amounts are integers in minor units (XOF, currency 952, has no decimals).

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
-- lock covers balance, holds and limits. Funding accounts back recharges and may go negative.
CREATE TABLE accounts (
  id            bigserial PRIMARY KEY,
  kind          text NOT NULL CHECK (kind IN ('card', 'funding')),
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
  CHECK (kind = 'funding' OR balance >= held)
);
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

-- The journal: every transaction, approved or declined, from a terminal or the back office.
-- outcome is the ledger's verdict ('approved', 'insufficient_funds', ...); the switch maps
-- it to a response code. A repeat or duplicate is journaled too, pointing at the original.
CREATE TABLE journal (
  id                bigserial PRIMARY KEY,
  op                text NOT NULL,
  source            text NOT NULL CHECK (source IN ('terminal', 'backoffice')),
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
  -- References between journal rows are set only by ledger_post, from rows it has just read or
  -- created; no foreign keys (their triggers were a third of a one-item batch's time). The
  -- ledger check (db/check.ts) verifies them.
  original_id       bigint,
  duplicate_of      bigint,
  reversed_by       bigint,
  request_hash      bytea,
  approval_code     text,
  available_after   bigint,
  user_id           bigint,
  note              text,
  created_at        timestamptz NOT NULL DEFAULT now()
);
-- Duplicate detection across switch processes: one original per (terminal, STAN, DE7).
-- (Rows without a terminal have NULLs here and never collide.)
CREATE UNIQUE INDEX journal_terminal_key ON journal (terminal_id, stan, transmission_at) WHERE duplicate_of IS NULL;
CREATE INDEX journal_card ON journal (card_id, id);
-- (A terminal's rows come from journal_terminal_key's leading column; a virtual card's credits
-- from its ledger entries. Each index here is paid on every authorization.)

-- Double-entry ledger: every journal row with money movement has entries summing to zero.
-- Written only by ledger_post, with ids it has just created or locked; no foreign keys here
-- (their per-row checks were 2/3 of a batch's time), the ledger check verifies references.
-- One entry per (journal row, account): the key is the natural one, no sequence to draw.
CREATE TABLE ledger_entries (
  journal_id  bigint NOT NULL,
  account_id  bigint NOT NULL,
  amount      bigint NOT NULL CHECK (amount <> 0),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (journal_id, account_id)
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, journal_id);

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
