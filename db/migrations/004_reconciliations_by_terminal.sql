-- A reversal's batch reads its terminal's latest balanced reconciliation (db/ledger/sql.ts):
-- by terminal, newest first, without reading the table.
CREATE INDEX reconciliations_balanced_by_terminal ON reconciliations (terminal_id, id DESC) WHERE outcome = 'balanced';
