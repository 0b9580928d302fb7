-- The cardholder PIN (DE52): whether a profile requires it, and each card's PIN, stored as
-- HMAC-SHA256 under HASH_SECRET (db/secrets.ts, cardPinDigest), with its wrong tries in a row.
-- PIN_TRIES wrong tries block it (75) until the back office sets a new one.
ALTER TABLE card_profiles ADD COLUMN pin_required boolean NOT NULL DEFAULT false;
ALTER TABLE cards ADD COLUMN pin_hash bytea CHECK (pin_hash IS NULL OR length(pin_hash) = 32);
ALTER TABLE cards ADD COLUMN pin_tries integer NOT NULL DEFAULT 0 CHECK (pin_tries >= 0);
