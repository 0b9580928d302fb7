-- A card's journal (db/store.ts cardJournal) lists the rows where the card is the holder
-- (card_id) or the credited card (counter_card_id: a service point's virtual card, a transfer
-- target). With an index on card_id only, `card_id = $1 OR counter_card_id = $1` scanned the
-- whole journal for a card with few rows (16 ms at 160,000 rows, growing with the journal);
-- the query now reads each side through its own index.
CREATE INDEX journal_counter_card ON journal (counter_card_id, id);
