-- A service point's virtual card and that card's account, on the service point's row. A batch's
-- read finds the account a purchase credits on the service point row it reads anyway, instead
-- of looking the virtual card up through a partial index: a lookup less per item, about 31k of
-- PostgreSQL's instructions a batch of one and 7k an item at 200 (make bench-pg-instructions).
-- The foreign key makes the pair the card's own: the card of that id belongs to this service
-- point (so it is its virtual card: cards_check ties is_virtual to service_point_id) and holds
-- that account. A virtual card, once created, is written here by the trigger below
-- (db/functions.sql card_virtual_on_service_point), whoever inserts it.
ALTER TABLE cards ADD CONSTRAINT cards_identity UNIQUE (id, service_point_id, account_id);

ALTER TABLE service_points
  ADD COLUMN virtual_card_id bigint,
  ADD COLUMN virtual_account_id bigint,
  ADD CONSTRAINT service_points_virtual_card_whole CHECK ((virtual_card_id IS NULL) = (virtual_account_id IS NULL)),
  ADD CONSTRAINT service_points_virtual_card FOREIGN KEY (virtual_card_id, id, virtual_account_id) REFERENCES cards (id, service_point_id, account_id);

UPDATE service_points s SET virtual_card_id = v.id, virtual_account_id = v.account_id
FROM cards v WHERE v.is_virtual AND v.service_point_id = s.id;

CREATE TRIGGER cards_virtual_on_service_point AFTER INSERT ON cards
  FOR EACH ROW WHEN (NEW.is_virtual) EXECUTE FUNCTION card_virtual_on_service_point();
