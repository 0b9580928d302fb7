-- The ledger's posting function: a batch of operations in one call, one transaction,
-- each item keeping its own outcome. It re-checks everything that decides an approval
-- (terminal, card or code, status, expiry, profile flags, limits, balance) against rows
-- it has locked, so a stale cache upstream can slow a decline but never grant an approval.
--
-- Items (jsonb array of objects; see db/ledger.ts for the TypeScript side):
--   i      position in the batch (0-based), echoed in the result
--   op     purchase | preauth | completion | reversal | inquiry | recharge | transfer | record
--   src    terminal | backoffice
--   term, stan, dt, mti      terminal id, STAN, DE7, MTI (terminal items)
--   card   card id (holder)          code   SHA-256 hex of a transaction code (instead of card)
--   sp     service point id of the message (DE42)
--   to     target card id (transfer)
--   amt, cur                 amount in minor units, currency (ISO 4217 numeric)
--   svc    fuel | dotation | ticket (terminal service asked for)
--   ostan, odt               original STAN and DE7 (completion, reversal: DE90), same terminal
--   rh     SHA-256 hex of the request's content (duplicate with different content)
--   preset outcome decided upstream (journaled as is, no effect; a duplicate still gets the original's answer)
--   usr, note                back-office user and note
--
-- Outcomes: see db/outcomes.ts, the one list of them.

-- Virtual cards' accounts may go negative (a reversal must always go through).
ALTER TABLE accounts DROP CONSTRAINT accounts_check;
ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check CHECK (kind IN ('card', 'service_point', 'funding'));
ALTER TABLE accounts ADD CONSTRAINT accounts_card_covers_holds CHECK (kind <> 'card' OR balance >= held);

CREATE TYPE ledger_item AS (
  i int, op text, src text, term text, stan text, dt text, mti text,
  card bigint, code text, sp bigint, "to" bigint, amt bigint, cur text, svc text,
  ostan text, odt text, rh text, preset text, usr bigint, note text
);

CREATE FUNCTION ledger_post(p_items jsonb, p_now timestamptz DEFAULT now(), p_hold_ttl interval DEFAULT interval '2 hours')
RETURNS TABLE (i int, outcome text, journal_id bigint, approval_code text, available bigint, duplicate boolean, original_id bigint)
LANGUAGE plpgsql
-- Every lookup here is by key, and the batch is small: nested loops over indexes, in the
-- order written, are always right. Without these settings, stale statistics of a fast-growing
-- journal led the planner to hash whole tables (a batch of 200 went from 14 to 40 ms as the
-- journal grew). With them the plans are the same whatever the statistics, so each statement
-- is planned once per session (generic plan): a batch of 50 went from 4.3 to 3.0 ms.
-- JIT only adds compile time to these short statements.
SET plan_cache_mode = force_generic_plan
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_seqscan = off
SET join_collapse_limit = 1
SET from_collapse_limit = 1
SET jit = off
AS $fn$
#variable_conflict use_column
DECLARE
  it        ledger_item[];
  i_op      text[];            -- it[k].op, .term, .sp as plain arrays, for set-based reads
  i_term    text[];
  i_sp      bigint[];
  n         int;
  ids       bigint[];          -- journal id of each item
  -- resolution (before locks): accounts and originals
  c_acct    bigint[];          -- debit/holder account (card's, or the code's card's)
  c_card    bigint[];          -- holder card id (from card or code)
  c_code    bigint[];          -- transaction code id
  v_card    bigint[];          -- credited card: SP's virtual card (terminal money ops) or transfer target
  v_acct    bigint[];
  f_acct    bigint[];          -- funding account (recharge)
  d_id      bigint[];          -- duplicate of journal row ...
  d_idx     int[];             -- ... or of an earlier item of this batch
  o_id      bigint[];          -- original journal row (completion, reversal) ...
  o_idx     int[];             -- ... or an earlier item of this batch
  -- after locks
  acct_ids  bigint[];
  a_bal     bigint[];
  a_held    bigint[];
  a_kind    text[];
  a_cur     text[];
  a_uday    date[];
  a_damt    bigint[];
  a_dcnt    int[];
  a_umon    date[];
  a_mamt    bigint[];
  a_mcnt    int[];
  a_dirty   boolean[];
  -- card, profile, terminal, code state
  k_status  text[];  k_expiry text[];  k_virtual boolean[]; k_client bigint[]; k_network bigint[];
  p_fuel boolean[]; p_dot boolean[]; p_ticket boolean[]; p_transfer boolean[]; p_recharge boolean[];
  p_txn bigint[]; p_damt bigint[]; p_dcnt int[]; p_mamt bigint[]; p_mcnt int[]; p_from date[]; p_to date[];
  t_exists boolean[]; t_status text[]; t_sp bigint[];
  sp_exists boolean[];
  x_status text[]; x_client bigint[]; x_network bigint[];   -- transfer target card
  q_used timestamptz[]; q_exp timestamptz[]; q_max bigint[]; q_sp bigint[];
  -- original state
  o_op text[]; o_outcome text[]; o_amt bigint[]; o_acct bigint[]; o_vacct bigint[]; o_reversed bigint[];
  o_card bigint[]; o_vcard bigint[];
  o_hold bigint[]; o_hold_status text[]; o_hold_amt bigint[]; o_day date[];
  -- dup state
  d_outcome text[]; d_hash text[]; d_approval text[]; d_avail bigint[];
  -- results
  r_outcome text[];
  r_avail   bigint[];
  r_orig    bigint[];
  r_dup     boolean[];
  r_card    bigint[];
  r_counter bigint[];
  r_approval text[];
  -- effects
  e_j bigint[] := '{}'; e_a bigint[] := '{}'; e_amt bigint[] := '{}';        -- ledger entries
  h_new_j bigint[] := '{}'; h_new_a bigint[] := '{}'; h_new_amt bigint[] := '{}';  -- new holds
  h_close_id bigint[] := '{}'; h_close_status text[] := '{}'; h_close_by bigint[] := '{}';
  rev_orig bigint[] := '{}'; rev_by bigint[] := '{}';                      -- originals reversed
  code_used_id bigint[] := '{}'; code_used_j bigint[] := '{}';
  -- per-item scratch
  k int; a int; v int; f int; verdict text; amt bigint; avail bigint; today date := (p_now AT TIME ZONE 'UTC')::date;
  mon date := date_trunc('month', p_now AT TIME ZONE 'UTC')::date;
  exp_end date; oi int; hold_amt bigint; delta bigint;
  -- in-batch originals: results of earlier items
  b_hold_amt bigint[];     -- hold amount created by item k (an approved preauth)
  b_hold_status text[];    -- that hold closed within this batch: completed | reversed
  b_hold_by bigint[];      -- ... by this journal row
  b_closed boolean[];      -- item k reversed within this batch
BEGIN
  n := jsonb_array_length(p_items);
  IF n = 0 THEN RETURN; END IF;

  -- 1. Parse, number, and resolve what does not change under us: the accounts behind cards,
  --    codes, virtual cards and transfer targets; duplicates and originals in the journal
  --    (their reversal and hold state, which can change, is read under the locks below).
  WITH items AS (
    SELECT li, li.i + 1 AS k, nextval(pg_get_serial_sequence('journal', 'id')) AS jid
    FROM jsonb_populate_recordset(NULL::ledger_item, p_items) AS li
  ),
  keyed AS (
    SELECT items.*,
           CASE WHEN (li).term IS NOT NULL AND (li).stan IS NOT NULL AND (li).dt IS NOT NULL
                THEN first_value(k) OVER (PARTITION BY (li).term, (li).stan, (li).dt ORDER BY k) END AS first_k
    FROM items
  )
  SELECT
    array_agg(e.li ORDER BY e.k), array_agg(e.jid ORDER BY e.k),
    array_agg(hc.account_id ORDER BY e.k), array_agg(hc.id ORDER BY e.k), array_agg(q.id ORDER BY e.k),
    array_agg(coalesce(vc.id, tc.id) ORDER BY e.k), array_agg(coalesce(vc.account_id, tc.account_id) ORDER BY e.k),
    array_agg(fa.id ORDER BY e.k),
    array_agg(dj.id ORDER BY e.k), array_agg(CASE WHEN e.first_k <> e.k THEN e.first_k::int END ORDER BY e.k),
    array_agg(dj.outcome ORDER BY e.k), array_agg(encode(dj.request_hash, 'hex') ORDER BY e.k),
    array_agg(dj.approval_code ORDER BY e.k), array_agg(dj.available_after ORDER BY e.k),
    array_agg(oj.id ORDER BY e.k), array_agg(ob.k::int ORDER BY e.k),
    array_agg(oj.card_id ORDER BY e.k), array_agg(oj.counter_card_id ORDER BY e.k),
    array_agg(oj.op ORDER BY e.k), array_agg(oj.outcome ORDER BY e.k), array_agg(oj.amount ORDER BY e.k),
    array_agg(oj.card_account ORDER BY e.k), array_agg(oj.counter_account ORDER BY e.k), array_agg(oj.day ORDER BY e.k),
    array_agg((e.li).op ORDER BY e.k), array_agg((e.li).term ORDER BY e.k), array_agg((e.li).sp ORDER BY e.k)
  INTO it, ids, c_acct, c_card, c_code, v_card, v_acct, f_acct, d_id, d_idx, d_outcome, d_hash, d_approval, d_avail,
       o_id, o_idx, o_card, o_vcard, o_op, o_outcome, o_amt, o_acct, o_vacct, o_day, i_op, i_term, i_sp
  FROM keyed e
  LEFT JOIN LATERAL (
    SELECT q.id, q.card_id FROM transaction_codes q WHERE (e.li).code IS NOT NULL AND q.code_hash = decode((e.li).code, 'hex')
  ) q ON true
  LEFT JOIN LATERAL (
    SELECT c.id, c.account_id, c.client_id FROM cards c WHERE c.id = coalesce((e.li).card, q.card_id)
  ) hc ON true
  LEFT JOIN LATERAL (
    SELECT v.id, v.account_id FROM terminals t JOIN cards v ON v.is_virtual AND v.service_point_id = t.service_point_id
    WHERE (e.li).op IN ('purchase', 'preauth', 'completion') AND t.id = (e.li).term
  ) vc ON true
  LEFT JOIN LATERAL (
    SELECT c.id, c.account_id FROM cards c WHERE (e.li).op = 'transfer' AND c.id = (e.li)."to"
  ) tc ON true
  LEFT JOIN LATERAL (
    SELECT a.id FROM accounts a WHERE (e.li).op = 'recharge' AND a.kind = 'funding' AND a.client_id = hc.client_id
  ) fa ON true
  -- journal lookups: one index probe per item, whatever the (often stale) statistics say
  LEFT JOIN LATERAL (
    SELECT j.id, j.outcome, j.request_hash, j.approval_code, j.available_after FROM journal j
    WHERE j.terminal_id = (e.li).term AND j.stan = (e.li).stan AND j.transmission_at = (e.li).dt AND j.duplicate_of IS NULL
    LIMIT 1
  ) dj ON true
  LEFT JOIN LATERAL (
    SELECT j.id, j.op, j.outcome, j.amount, j.card_id, j.counter_card_id, (j.created_at AT TIME ZONE 'UTC')::date AS day,
           (SELECT c.account_id FROM cards c WHERE c.id = j.card_id) AS card_account,
           (SELECT c.account_id FROM cards c WHERE c.id = j.counter_card_id) AS counter_account
    FROM journal j
    WHERE (e.li).op IN ('completion', 'reversal') AND j.terminal_id = (e.li).term AND j.stan = (e.li).ostan
      AND j.transmission_at = (e.li).odt AND j.duplicate_of IS NULL
    LIMIT 1
  ) oj ON true
  LEFT JOIN LATERAL (
    SELECT b.k FROM keyed b
    WHERE (e.li).op IN ('completion', 'reversal') AND b.k < e.k AND (b.li).term = (e.li).term AND (b.li).stan = (e.li).ostan
      AND (b.li).dt = (e.li).odt AND b.first_k = b.k
    ORDER BY b.k LIMIT 1
  ) ob ON true;

  -- 2. Lock every account the batch may touch, in id order (no deadlock between batches).
  SELECT array_agg(id ORDER BY id) INTO acct_ids FROM (
    SELECT DISTINCT unnest(c_acct || v_acct || f_acct || o_acct || o_vacct) AS id
  ) s WHERE id IS NOT NULL;
  acct_ids := coalesce(acct_ids, '{}');
  SELECT array_agg(ac.balance ORDER BY ac.id), array_agg(ac.held ORDER BY ac.id), array_agg(ac.kind ORDER BY ac.id),
         array_agg(ac.currency ORDER BY ac.id),
         array_agg(ac.usage_day ORDER BY ac.id), array_agg(ac.day_amount ORDER BY ac.id), array_agg(ac.day_count ORDER BY ac.id),
         array_agg(ac.usage_month ORDER BY ac.id), array_agg(ac.month_amount ORDER BY ac.id), array_agg(ac.month_count ORDER BY ac.id)
  INTO a_bal, a_held, a_kind, a_cur, a_uday, a_damt, a_dcnt, a_umon, a_mamt, a_mcnt
  FROM (SELECT * FROM accounts WHERE id = ANY (acct_ids) ORDER BY id FOR UPDATE) ac;
  a_dirty := array_fill(false, ARRAY[greatest(coalesce(array_length(acct_ids, 1), 0), 1)]);
  -- Codes are single use: lock them too, so two batches cannot both redeem one.
  IF array_remove(c_code, NULL) <> '{}' THEN
    PERFORM 1 FROM transaction_codes WHERE id = ANY (c_code) ORDER BY id FOR UPDATE;
  END IF;

  -- 3. What can change, read after the locks: card status and profile (a virtualization
  --    committed by the back office before our locks were granted is seen here), terminal
  --    and service point, transfer target, codes, and whether an original was reversed or
  --    its hold closed meanwhile (by another batch, another switch process).
  SELECT array_agg(c.status ORDER BY u.k), array_agg(c.expiry ORDER BY u.k), array_agg(c.is_virtual ORDER BY u.k),
         array_agg(c.client_id ORDER BY u.k), array_agg(c.network_id ORDER BY u.k),
         array_agg(c.fuel ORDER BY u.k), array_agg(c.dotation ORDER BY u.k), array_agg(c.ticket ORDER BY u.k),
         array_agg(c.transfer ORDER BY u.k), array_agg(c.recharge ORDER BY u.k),
         array_agg(c.limit_per_txn ORDER BY u.k), array_agg(c.limit_day_amount ORDER BY u.k), array_agg(c.limit_day_count ORDER BY u.k),
         array_agg(c.limit_month_amount ORDER BY u.k), array_agg(c.limit_month_count ORDER BY u.k),
         array_agg(c.valid_from ORDER BY u.k), array_agg(c.valid_to ORDER BY u.k),
         array_agg(t.id IS NOT NULL ORDER BY u.k), array_agg(t.status ORDER BY u.k), array_agg(t.service_point_id ORDER BY u.k),
         array_agg(s.id IS NOT NULL ORDER BY u.k),
         array_agg(x.status ORDER BY u.k), array_agg(x.client_id ORDER BY u.k), array_agg(x.network_id ORDER BY u.k),
         array_agg(q.used_at ORDER BY u.k), array_agg(q.expires_at ORDER BY u.k), array_agg(q.amount_max ORDER BY u.k),
         array_agg(q.service_point_id ORDER BY u.k),
         array_agg(o.reversed_by ORDER BY u.k), array_agg(o.hold_id ORDER BY u.k), array_agg(o.hold_status ORDER BY u.k),
         array_agg(o.hold_amount ORDER BY u.k)
  INTO k_status, k_expiry, k_virtual, k_client, k_network, p_fuel, p_dot, p_ticket, p_transfer, p_recharge,
       p_txn, p_damt, p_dcnt, p_mamt, p_mcnt, p_from, p_to,
       t_exists, t_status, t_sp, sp_exists,
       x_status, x_client, x_network,
       q_used, q_exp, q_max, q_sp,
       o_reversed, o_hold, o_hold_status, o_hold_amt
  FROM unnest(i_op, i_term, i_sp, c_card, v_card, c_code, o_id) WITH ORDINALITY AS u(op, term, sp, card, target, code, orig, k)
  LEFT JOIN LATERAL (
    SELECT c.status, c.expiry, c.is_virtual, c.client_id, cl.network_id, p.fuel, p.dotation, p.ticket, p.transfer, p.recharge,
           p.limit_per_txn, p.limit_day_amount, p.limit_day_count, p.limit_month_amount, p.limit_month_count, p.valid_from, p.valid_to
    FROM cards c JOIN clients cl ON cl.id = c.client_id JOIN card_profiles p ON p.id = c.profile_id
    WHERE c.id = u.card
  ) c ON true
  LEFT JOIN LATERAL (SELECT t.id, t.status, t.service_point_id FROM terminals t WHERE t.id = u.term) t ON true
  LEFT JOIN LATERAL (SELECT s.id FROM service_points s WHERE s.id = u.sp AND s.status = 'active') s ON true
  LEFT JOIN LATERAL (
    SELECT x.status, x.client_id, xl.network_id FROM cards x JOIN clients xl ON xl.id = x.client_id
    WHERE u.op = 'transfer' AND x.id = u.target
  ) x ON true
  LEFT JOIN LATERAL (
    SELECT q.used_at, q.expires_at, q.amount_max, q.service_point_id FROM transaction_codes q WHERE q.id = u.code
  ) q ON true
  LEFT JOIN LATERAL (
    SELECT j.reversed_by, h.id AS hold_id, h.status AS hold_status, h.amount AS hold_amount
    FROM journal j LEFT JOIN holds h ON h.journal_id = j.id WHERE j.id = u.orig
  ) o ON true;

  r_outcome := array_fill(NULL::text, ARRAY[n]);
  r_avail := array_fill(NULL::bigint, ARRAY[n]);
  r_orig := array_fill(NULL::bigint, ARRAY[n]);
  r_dup := array_fill(false, ARRAY[n]);
  r_card := c_card;
  r_counter := v_card;
  r_approval := array_fill(NULL::text, ARRAY[n]);
  b_hold_amt := array_fill(NULL::bigint, ARRAY[n]);
  b_hold_status := array_fill(NULL::text, ARRAY[n]);
  b_hold_by := array_fill(NULL::bigint, ARRAY[n]);
  b_closed := array_fill(false, ARRAY[n]);

  -- 4. Decide each item in order, on the locked state, and collect the effects.
  FOR k IN 1 .. n LOOP
    amt := coalesce(it[k].amt, 0);
    a := CASE WHEN c_acct[k] IS NULL THEN NULL ELSE array_position(acct_ids, c_acct[k]) END;
    v := CASE WHEN v_acct[k] IS NULL THEN NULL ELSE array_position(acct_ids, v_acct[k]) END;
    f := CASE WHEN f_acct[k] IS NULL THEN NULL ELSE array_position(acct_ids, f_acct[k]) END;
    verdict := NULL;

    -- roll the holder's limit usage over to today / this month
    IF a IS NOT NULL THEN
      IF a_uday[a] IS DISTINCT FROM today THEN a_uday[a] := today; a_damt[a] := 0; a_dcnt[a] := 0; a_dirty[a] := true; END IF;
      IF a_umon[a] IS DISTINCT FROM mon THEN a_umon[a] := mon; a_mamt[a] := 0; a_mcnt[a] := 0; a_dirty[a] := true; END IF;
    END IF;

    IF d_id[k] IS NOT NULL OR d_idx[k] IS NOT NULL THEN
      -- duplicate (or repeat) of an original: same content gets the original's answer
      r_dup[k] := true;
      IF d_id[k] IS NOT NULL THEN
        r_orig[k] := d_id[k];
        IF d_hash[k] IS DISTINCT FROM it[k].rh THEN verdict := 'duplicate_mismatch';
        ELSE verdict := d_outcome[k]; r_avail[k] := d_avail[k]; r_approval[k] := d_approval[k];
        END IF;
      ELSE
        oi := d_idx[k];
        r_orig[k] := ids[oi];
        IF it[oi].rh IS DISTINCT FROM it[k].rh THEN verdict := 'duplicate_mismatch';
        ELSE verdict := r_outcome[oi]; r_avail[k] := r_avail[oi]; r_approval[k] := r_approval[oi];
        END IF;
      END IF;
    ELSIF it[k].preset IS NOT NULL THEN
      verdict := it[k].preset;  -- a decline decided upstream: journaled, no effect
    ELSIF it[k].op NOT IN ('purchase', 'preauth', 'completion', 'reversal', 'inquiry', 'recharge', 'transfer') THEN
      verdict := 'unsupported_operation';
    ELSIF it[k].src = 'terminal' AND NOT t_exists[k] THEN verdict := 'unknown_terminal';
    ELSIF it[k].src = 'terminal' AND t_status[k] <> 'active' THEN verdict := 'terminal_blocked';
    ELSIF it[k].src = 'terminal' AND it[k].sp IS NULL THEN verdict := 'unknown_service_point';
    ELSIF it[k].src = 'terminal' AND NOT sp_exists[k] THEN verdict := 'unknown_service_point';
    ELSIF it[k].src = 'terminal' AND t_sp[k] <> it[k].sp THEN verdict := 'terminal_not_at_service_point';
    ELSIF it[k].src = 'terminal' AND it[k].op IN ('purchase', 'preauth', 'completion') AND v IS NULL THEN verdict := 'no_virtual_card';
    ELSIF it[k].src = 'terminal' AND it[k].op IN ('recharge', 'transfer') THEN verdict := 'operation_not_allowed';
    ELSIF it[k].op IN ('completion', 'reversal') THEN
      -- ------------------------------------------------ completion / reversal of an original
      IF o_id[k] IS NULL AND o_idx[k] IS NULL THEN
        verdict := 'original_not_found';
      ELSIF o_idx[k] IS NOT NULL THEN
        -- original is an earlier item of this batch
        oi := o_idx[k];
        r_orig[k] := ids[oi];
        IF it[k].op = 'completion' THEN
          IF it[oi].op <> 'preauth' OR r_outcome[oi] <> 'approved' OR b_hold_status[oi] IS NOT NULL THEN verdict := 'original_not_found';
          ELSE
            hold_amt := b_hold_amt[oi];
            IF amt > hold_amt THEN verdict := 'invalid_amount';
            ELSE
              a := array_position(acct_ids, c_acct[oi]);
              v := array_position(acct_ids, v_acct[oi]);
              a_held[a] := a_held[a] - hold_amt;
              IF amt > 0 THEN
                a_bal[a] := a_bal[a] - amt; a_bal[v] := a_bal[v] + amt; a_dirty[v] := true;
                e_j := e_j || ids[k] || ids[k]; e_a := e_a || c_acct[oi] || v_acct[oi]; e_amt := e_amt || (-amt) || amt;
              END IF;
              delta := amt - hold_amt;
              a_damt[a] := a_damt[a] + delta; a_mamt[a] := a_mamt[a] + delta; a_dirty[a] := true;
              b_hold_status[oi] := 'completed'; b_hold_by[oi] := ids[k];
              r_card[k] := c_card[oi]; r_counter[k] := v_card[oi];
              verdict := 'approved';
            END IF;
          END IF;
        ELSE
          -- reversal of an item of this batch
          IF b_closed[oi] OR r_outcome[oi] <> 'approved' OR it[oi].op NOT IN ('purchase', 'preauth', 'completion', 'inquiry') THEN
            verdict := 'approved'; -- nothing (more) to reverse
          ELSE
            a := array_position(acct_ids, c_acct[oi]);
            IF it[oi].op = 'preauth' AND b_hold_status[oi] IS NULL THEN
              a_held[a] := a_held[a] - b_hold_amt[oi]; a_dirty[a] := true;
              b_hold_status[oi] := 'reversed'; b_hold_by[oi] := ids[k];
              a_damt[a] := a_damt[a] - it[oi].amt; a_dcnt[a] := a_dcnt[a] - 1;
              a_mamt[a] := a_mamt[a] - it[oi].amt; a_mcnt[a] := a_mcnt[a] - 1;
            ELSIF it[oi].op IN ('purchase', 'completion') AND it[oi].amt > 0 THEN
              v := array_position(acct_ids, v_acct[oi]);
              a_bal[a] := a_bal[a] + it[oi].amt; a_bal[v] := a_bal[v] - it[oi].amt; a_dirty[a] := true; a_dirty[v] := true;
              e_j := e_j || ids[k] || ids[k]; e_a := e_a || c_acct[oi] || v_acct[oi]; e_amt := e_amt || it[oi].amt || (-it[oi].amt);
              IF it[oi].op = 'purchase' THEN
                a_damt[a] := a_damt[a] - it[oi].amt; a_dcnt[a] := a_dcnt[a] - 1;
                a_mamt[a] := a_mamt[a] - it[oi].amt; a_mcnt[a] := a_mcnt[a] - 1;
              END IF;
            END IF;
            b_closed[oi] := true;
            rev_orig := rev_orig || ids[oi]; rev_by := rev_by || ids[k];
            r_card[k] := c_card[oi]; r_counter[k] := v_card[oi];
            verdict := 'approved';
          END IF;
        END IF;
        IF a IS NOT NULL AND verdict = 'approved' THEN r_avail[k] := a_bal[a] - a_held[a]; END IF;
      ELSE
        -- original is in the journal
        r_orig[k] := o_id[k];
        a := CASE WHEN o_acct[k] IS NULL THEN NULL ELSE array_position(acct_ids, o_acct[k]) END;
        v := CASE WHEN o_vacct[k] IS NULL THEN NULL ELSE array_position(acct_ids, o_vacct[k]) END;
        IF a IS NOT NULL THEN
          IF a_uday[a] IS DISTINCT FROM today THEN a_uday[a] := today; a_damt[a] := 0; a_dcnt[a] := 0; a_dirty[a] := true; END IF;
          IF a_umon[a] IS DISTINCT FROM mon THEN a_umon[a] := mon; a_mamt[a] := 0; a_mcnt[a] := 0; a_dirty[a] := true; END IF;
        END IF;
        IF it[k].op = 'completion' THEN
          IF o_op[k] <> 'preauth' OR o_outcome[k] <> 'approved' OR o_hold_status[k] IS DISTINCT FROM 'open' OR o_hold[k] = ANY (h_close_id) THEN
            verdict := 'original_not_found';
          ELSIF amt > o_hold_amt[k] THEN
            verdict := 'invalid_amount';
          ELSE
            a_held[a] := a_held[a] - o_hold_amt[k];
            IF amt > 0 THEN
              a_bal[a] := a_bal[a] - amt; a_bal[v] := a_bal[v] + amt; a_dirty[v] := true;
              e_j := e_j || ids[k] || ids[k]; e_a := e_a || o_acct[k] || o_vacct[k]; e_amt := e_amt || (-amt) || amt;
            END IF;
            delta := amt - o_hold_amt[k];
            IF o_day[k] = today THEN a_damt[a] := a_damt[a] + delta; END IF;
            IF date_trunc('month', o_day[k]) = mon THEN a_mamt[a] := a_mamt[a] + delta; END IF;
            a_dirty[a] := true;
            h_close_id := h_close_id || o_hold[k]; h_close_status := h_close_status || 'completed'::text; h_close_by := h_close_by || ids[k];
            r_card[k] := o_card[k]; r_counter[k] := o_vcard[k];
            verdict := 'approved';
          END IF;
        ELSE
          IF o_reversed[k] IS NOT NULL OR o_id[k] = ANY (rev_orig) OR o_outcome[k] <> 'approved'
             OR o_op[k] NOT IN ('purchase', 'preauth', 'completion', 'inquiry')
             OR (o_op[k] = 'preauth' AND (o_hold_status[k] IS DISTINCT FROM 'open' OR o_hold[k] = ANY (h_close_id))) THEN
            verdict := 'approved'; -- already reversed, declined, or nothing left to release: idempotent
          ELSE
            IF o_op[k] = 'preauth' THEN
              a_held[a] := a_held[a] - o_hold_amt[k]; a_dirty[a] := true;
              h_close_id := h_close_id || o_hold[k]; h_close_status := h_close_status || 'reversed'::text; h_close_by := h_close_by || ids[k];
              IF o_day[k] = today THEN a_damt[a] := a_damt[a] - o_amt[k]; a_dcnt[a] := a_dcnt[a] - 1; END IF;
              IF date_trunc('month', o_day[k]) = mon THEN a_mamt[a] := a_mamt[a] - o_amt[k]; a_mcnt[a] := a_mcnt[a] - 1; END IF;
            ELSIF o_op[k] IN ('purchase', 'completion') AND o_amt[k] > 0 THEN
              a_bal[a] := a_bal[a] + o_amt[k]; a_bal[v] := a_bal[v] - o_amt[k]; a_dirty[a] := true; a_dirty[v] := true;
              e_j := e_j || ids[k] || ids[k]; e_a := e_a || o_acct[k] || o_vacct[k]; e_amt := e_amt || o_amt[k] || (-o_amt[k]);
              IF o_op[k] = 'purchase' THEN
                IF o_day[k] = today THEN a_damt[a] := a_damt[a] - o_amt[k]; a_dcnt[a] := a_dcnt[a] - 1; END IF;
                IF date_trunc('month', o_day[k]) = mon THEN a_mamt[a] := a_mamt[a] - o_amt[k]; a_mcnt[a] := a_mcnt[a] - 1; END IF;
              END IF;
            END IF;
            rev_orig := rev_orig || o_id[k]; rev_by := rev_by || ids[k];
            r_card[k] := o_card[k]; r_counter[k] := o_vcard[k];
            verdict := 'approved';
          END IF;
        END IF;
        IF a IS NOT NULL AND verdict = 'approved' THEN r_avail[k] := a_bal[a] - a_held[a]; END IF;
      END IF;
    ELSE
      -- ------------------------------------------------ operations on a card (or a code)
      IF it[k].code IS NOT NULL AND c_code[k] IS NULL THEN verdict := 'unknown_code';
      ELSIF it[k].code IS NOT NULL AND q_used[k] IS NOT NULL THEN verdict := 'code_used';
      ELSIF it[k].code IS NOT NULL AND c_code[k] = ANY (code_used_id) THEN verdict := 'code_used';
      ELSIF it[k].code IS NOT NULL AND q_exp[k] <= p_now THEN verdict := 'code_expired';
      ELSIF it[k].code IS NOT NULL AND q_sp[k] IS NOT NULL AND q_sp[k] IS DISTINCT FROM it[k].sp THEN verdict := 'code_wrong_service_point';
      ELSIF it[k].code IS NOT NULL AND it[k].op NOT IN ('purchase', 'preauth') THEN verdict := 'operation_not_allowed';
      ELSIF c_card[k] IS NULL OR k_status[k] IS NULL THEN verdict := 'unknown_card';
      ELSIF k_status[k] <> 'active' THEN verdict := 'card_restricted';
      ELSIF (make_date(2000 + substr(k_expiry[k], 1, 2)::int, substr(k_expiry[k], 3, 2)::int, 1) + interval '1 month')::date <= today THEN
        verdict := 'card_expired'; -- valid through the last day of its month (YYMM, 20YY)
      ELSIF (p_from[k] IS NOT NULL AND today < p_from[k]) OR (p_to[k] IS NOT NULL AND today > p_to[k]) THEN verdict := 'card_expired';
      ELSIF it[k].cur IS NOT NULL AND it[k].cur <> a_cur[a] THEN verdict := 'currency_mismatch';
      ELSIF it[k].op IN ('purchase', 'preauth') AND it[k].code IS NULL AND NOT (CASE coalesce(it[k].svc, 'fuel')
              WHEN 'fuel' THEN p_fuel[k] WHEN 'dotation' THEN p_dot[k] WHEN 'ticket' THEN p_ticket[k] ELSE false END) THEN
        verdict := 'service_not_allowed';
      ELSIF it[k].op = 'inquiry' AND it[k].src = 'terminal' AND NOT (p_fuel[k] OR p_dot[k] OR p_ticket[k]) THEN verdict := 'service_not_allowed';
      ELSIF it[k].op = 'recharge' AND NOT p_recharge[k] THEN verdict := 'operation_not_allowed';
      ELSIF it[k].op = 'transfer' AND NOT p_transfer[k] THEN verdict := 'operation_not_allowed';
      ELSIF it[k].op IN ('purchase', 'preauth', 'recharge', 'transfer') AND amt <= 0 THEN verdict := 'invalid_amount';
      ELSIF it[k].code IS NOT NULL AND amt > q_max[k] THEN verdict := 'code_amount_exceeded';
      ELSIF it[k].op = 'transfer' AND (v IS NULL OR x_status[k] IS NULL) THEN verdict := 'unknown_card';
      ELSIF it[k].op = 'transfer' AND c_card[k] = v_card[k] THEN verdict := 'invalid_transfer';
      ELSIF it[k].op = 'transfer' AND x_status[k] NOT IN ('active', 'blocked') THEN verdict := 'card_restricted';
      ELSIF it[k].op = 'transfer' AND k_client[k] <> x_client[k] AND (k_network[k] IS NULL OR k_network[k] IS DISTINCT FROM x_network[k]) THEN
        verdict := 'transfer_outside_network';
      ELSIF it[k].op = 'recharge' AND f IS NULL THEN verdict := 'no_funding_account';
      ELSIF it[k].op IN ('purchase', 'preauth') AND p_txn[k] IS NOT NULL AND amt > p_txn[k] THEN verdict := 'limit_amount';
      ELSIF it[k].op IN ('purchase', 'preauth') AND p_damt[k] IS NOT NULL AND a_damt[a] + amt > p_damt[k] THEN verdict := 'limit_amount';
      ELSIF it[k].op IN ('purchase', 'preauth') AND p_mamt[k] IS NOT NULL AND a_mamt[a] + amt > p_mamt[k] THEN verdict := 'limit_amount';
      ELSIF it[k].op IN ('purchase', 'preauth') AND p_dcnt[k] IS NOT NULL AND a_dcnt[a] + 1 > p_dcnt[k] THEN verdict := 'limit_count';
      ELSIF it[k].op IN ('purchase', 'preauth') AND p_mcnt[k] IS NOT NULL AND a_mcnt[a] + 1 > p_mcnt[k] THEN verdict := 'limit_count';
      ELSIF it[k].op IN ('purchase', 'preauth', 'transfer') AND a_bal[a] - a_held[a] < amt THEN verdict := 'insufficient_funds';
      ELSE
        verdict := 'approved';
        IF it[k].op = 'purchase' THEN
          a_bal[a] := a_bal[a] - amt; a_bal[v] := a_bal[v] + amt; a_dirty[v] := true;
          e_j := e_j || ids[k] || ids[k]; e_a := e_a || c_acct[k] || v_acct[k]; e_amt := e_amt || (-amt) || amt;
        ELSIF it[k].op = 'preauth' THEN
          a_held[a] := a_held[a] + amt;
          b_hold_amt[k] := amt;
          h_new_j := h_new_j || ids[k]; h_new_a := h_new_a || c_acct[k]; h_new_amt := h_new_amt || amt;
        ELSIF it[k].op = 'recharge' THEN
          a_bal[a] := a_bal[a] + amt; a_bal[f] := a_bal[f] - amt; a_dirty[f] := true;
          e_j := e_j || ids[k] || ids[k]; e_a := e_a || c_acct[k] || f_acct[k]; e_amt := e_amt || amt || (-amt);
        ELSIF it[k].op = 'transfer' THEN
          a_bal[a] := a_bal[a] - amt; a_bal[v] := a_bal[v] + amt; a_dirty[v] := true;
          e_j := e_j || ids[k] || ids[k]; e_a := e_a || c_acct[k] || v_acct[k]; e_amt := e_amt || (-amt) || amt;
        END IF;
        IF it[k].op IN ('purchase', 'preauth') THEN
          a_damt[a] := a_damt[a] + amt; a_dcnt[a] := a_dcnt[a] + 1;
          a_mamt[a] := a_mamt[a] + amt; a_mcnt[a] := a_mcnt[a] + 1;
        END IF;
        IF c_code[k] IS NOT NULL THEN code_used_id := code_used_id || c_code[k]; code_used_j := code_used_j || ids[k]; END IF;
        a_dirty[a] := true;
      END IF;
      IF a IS NOT NULL AND (verdict = 'approved' OR it[k].op = 'inquiry') THEN r_avail[k] := a_bal[a] - a_held[a]; END IF;
    END IF;
    r_outcome[k] := verdict;
    IF verdict = 'approved' AND NOT r_dup[k] THEN r_approval[k] := lpad((ids[k] % 1000000)::text, 6, '0'); END IF;
  END LOOP;

  -- 5. Write: journal rows, entries, holds, accounts; all set-based.
  INSERT INTO journal (id, op, source, outcome, terminal_id, service_point_id, stan, transmission_at, mti, card_id, counter_card_id,
                       code_id, amount, currency, service, original_id, duplicate_of, request_hash, approval_code,
                       available_after, user_id, note, created_at)
  SELECT ids[u.k], u.op, u.src, r_outcome[u.k], u.term, u.sp, u.stan, u.dt, u.mti,
         CASE WHEN r_outcome[u.k] = 'unknown_card' THEN NULL ELSE r_card[u.k] END,
         CASE WHEN r_outcome[u.k] = 'approved' THEN r_counter[u.k] END,
         c_code[u.k], greatest(coalesce(u.amt, 0), 0), u.cur, u.svc,
         CASE WHEN r_dup[u.k] THEN NULL ELSE r_orig[u.k] END,
         CASE WHEN r_dup[u.k] THEN r_orig[u.k] END,
         decode(u.rh, 'hex'),
         r_approval[u.k], r_avail[u.k], u.usr, u.note, p_now
  FROM unnest(it) WITH ORDINALITY AS u(i, op, src, term, stan, dt, mti, card, code, sp, "to", amt, cur, svc, ostan, odt, rh, preset, usr, note, k);

  IF array_length(e_j, 1) > 0 THEN
    INSERT INTO ledger_entries (journal_id, account_id, amount, created_at)
    SELECT u.j, u.a, u.amt, p_now FROM unnest(e_j, e_a, e_amt) AS u(j, a, amt);
  END IF;

  -- holds opened by this batch (those completed/reversed within it are closed at once)
  IF array_length(h_new_j, 1) > 0 THEN
    INSERT INTO holds (journal_id, account_id, amount, status, closed_by, expires_at, created_at)
    SELECT u.j, u.a, u.amt, coalesce(b_hold_status[u.pos], 'open'), b_hold_by[u.pos], p_now + p_hold_ttl, p_now
    FROM (SELECT w.*, array_position(ids, w.j) AS pos FROM unnest(h_new_j, h_new_a, h_new_amt) AS w(j, a, amt)) u;
  END IF;
  IF array_length(h_close_id, 1) > 0 THEN
    UPDATE holds h SET status = u.s, closed_by = u.b FROM unnest(h_close_id, h_close_status, h_close_by) AS u(id, s, b) WHERE h.id = u.id;
  END IF;

  IF array_length(rev_orig, 1) > 0 THEN
    UPDATE journal j SET reversed_by = u.b FROM unnest(rev_orig, rev_by) AS u(o, b) WHERE j.id = u.o;
  END IF;
  IF array_length(code_used_id, 1) > 0 THEN
    UPDATE transaction_codes q SET used_at = p_now, journal_id = u.j FROM unnest(code_used_id, code_used_j) AS u(id, j) WHERE q.id = u.id;
  END IF;

  UPDATE accounts ac SET balance = u.bal, held = u.held, usage_day = u.uday, day_amount = u.damt, day_count = u.dcnt,
                         usage_month = u.umon, month_amount = u.mamt, month_count = u.mcnt
  FROM unnest(acct_ids, a_bal, a_held, a_uday, a_damt, a_dcnt, a_umon, a_mamt, a_mcnt, a_dirty)
       AS u(id, bal, held, uday, damt, dcnt, umon, mamt, mcnt, dirty)
  WHERE ac.id = u.id AND u.dirty;

  RETURN QUERY
  SELECT u.i, r_outcome[u.k], ids[u.k], r_approval[u.k], r_avail[u.k], r_dup[u.k], r_orig[u.k]
  FROM unnest(it) WITH ORDINALITY AS u(i, op, src, term, stan, dt, mti, card, code, sp, "to", amt, cur, svc, ostan, odt, rh, preset, usr, note, k);
END;
$fn$;
