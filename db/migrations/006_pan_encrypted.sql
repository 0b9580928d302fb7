-- PANs at rest: no clear PAN column any more. A card keeps
--   pan_key     HMAC-SHA256 of 'pan:' || PAN under HASH_SECRET (db/cache-keys.ts panKey): the
--               lookup key, unique; its hex is also the card's Redis cache key
--   pan_sealed  AES-256-GCM of the PAN under KEY_ENCRYPTION_KEY: nonce (12) | ciphertext | tag (16),
--               its associated data binding it to pan_key (db/pan-vault.ts)
--   pan_first6, pan_last4  what a masked PAN shows, and the search by last 4 digits
-- SQL cannot compute these without the secrets, so a schema that already holds cards (with
-- clear PANs) is refused with what to do, instead of being half converted.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM cards) THEN
    RAISE EXCEPTION 'migration 006_pan_encrypted: this schema holds cards with clear PANs, which SQL cannot encrypt without KEY_ENCRYPTION_KEY and HASH_SECRET. Demo or test data: recreate it (make demo-reset, or the CLI''s seed --reset). Real cards: stop and convert them with the secrets first.';
  END IF;
END
$$;

ALTER TABLE cards DROP COLUMN pan;
ALTER TABLE cards ADD COLUMN pan_key bytea NOT NULL CONSTRAINT cards_pan_key UNIQUE CHECK (length(pan_key) = 32);
ALTER TABLE cards ADD COLUMN pan_sealed bytea NOT NULL CHECK (length(pan_sealed) >= 12 + 12 + 16);
ALTER TABLE cards ADD COLUMN pan_first6 text NOT NULL CHECK (pan_first6 ~ '^[0-9]{6}$');
ALTER TABLE cards ADD COLUMN pan_last4 text NOT NULL CHECK (pan_last4 ~ '^[0-9]{4}$');
CREATE INDEX cards_pan_last4 ON cards (pan_last4);
