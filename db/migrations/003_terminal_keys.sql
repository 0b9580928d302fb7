-- Terminal keys: each terminal's master key (made by the back office, injected by a technician)
-- and working keys (MAC, PIN; sent by the switch under the master key). Stored sealed with
-- AES-256-GCM under the key-encryption key (db/terminal-keys.ts): nonce, ciphertext and tag in
-- `sealed`, the terminal, kind and algorithm bound as associated data. `kcv` is the clear key's
-- check value (public: it is printed and sent with the key).
CREATE TABLE terminal_keys (
  id           bigserial PRIMARY KEY,
  terminal_id  text NOT NULL REFERENCES terminals(id),
  kind         text NOT NULL CHECK (kind IN ('master', 'mac', 'pin')),
  algorithm    text NOT NULL CHECK (algorithm IN ('tdes', 'aes')),
  sealed       bytea NOT NULL CHECK (length(sealed) BETWEEN 12 + 16 + 16 AND 12 + 32 + 16),
  kcv          text NOT NULL CHECK (kcv ~ '^[0-9A-F]{6,10}$'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- Set when a newer key of its kind replaces it; a working key is still accepted for the
  -- switch's grace period after that.
  retired_at   timestamptz
);
-- One live key of each kind per terminal.
CREATE UNIQUE INDEX terminal_keys_live ON terminal_keys (terminal_id, kind) WHERE retired_at IS NULL;
CREATE INDEX terminal_keys_terminal ON terminal_keys (terminal_id, kind, retired_at DESC);
