-- ledger_post, same contract and same decisions as in 002_ledger.sql, at a lower cost per item
-- (measured with `make bench-ledger`; see the numbers in README.md, "Benchmarks"):
-- * the resolution and state queries aggregate their columns from one subquery sorted once,
--   instead of one sort per aggregated column (PostgreSQL 15 sorts each `array_agg(x ORDER BY k)`
--   on its own); the function checks that the order came out right and stops the batch if not;
-- * the decision loop reads each item's fields from plain arrays, not from an array of
--   composites (one field extraction per use);
-- * an item's two ledger entries are kept as (account, account, amount) per item and expanded
--   by the INSERT, instead of growing three arrays by copying them at every approval;
-- * journal ids come from the sequence by name, not through pg_get_serial_sequence, which
--   searched pg_depend for every item;
-- * what only some items need (originals of completions and reversals, the answers of
--   duplicates, transfer targets, codes) is read by statements of its own that run only when
--   the batch has such items: a batch of purchases plans and runs fewer, smaller statements;
-- * the accounts are locked and read in one statement (their ids and state line up).
-- Before/after, one batch in flight (and db/ledger.ts now calling it as a named statement):
-- 50 purchases 4.7-4.9 -> 3.7-3.8 ms, 1 purchase 1.27 -> 1.00 ms.
-- Accounts: half of each page is left free, so that updating a balance stays on its page
-- (a HOT update: no new index entry, no index bloat between vacuums).
ALTER TABLE accounts SET (fillfactor = 50);

CREATE OR REPLACE FUNCTION ledger_post(p_items jsonb, p_now timestamptz DEFAULT now(), p_hold_ttl interval DEFAULT interval '2 hours')
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
  chk       bigint[];          -- item order as the aggregates saw it (1..n)
  chk2      bigint[];
  chk_d     bigint[];
  chk_o     bigint[];
  chk_x     bigint[];
  i_op      text[];            -- the items' fields as plain arrays: (it[k]).op is i_op[k]
  i_term    text[];
  i_sp      bigint[];
  i_src     text[];
  i_amt     bigint[];
  i_code    text[];
  i_cur     text[];
  i_svc     text[];
  i_rh      text[];
  i_preset  text[];
  i_stan    text[];
  i_dt      text[];
  i_ostan   text[];
  i_odt     text[];
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
  e_a1 bigint[]; e_a2 bigint[]; e_x bigint[];   -- ledger entries of item k: e_x[k] on e_a1[k], -e_x[k] on e_a2[k]
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
  --    What only some items need (originals of completions and reversals, the answers of
  --    duplicates) is looked up by its own statement, run only when a batch has such items.
  WITH items AS (
    SELECT li, li.i + 1 AS k, nextval('journal_id_seq'::regclass) AS jid
    FROM jsonb_populate_recordset(NULL::ledger_item, p_items) AS li
  ),
  keyed AS (
    SELECT items.*,
           CASE WHEN (li).term IS NOT NULL AND (li).stan IS NOT NULL AND (li).dt IS NOT NULL
                THEN first_value(k) OVER (PARTITION BY (li).term, (li).stan, (li).dt ORDER BY k) END AS first_k
    FROM items
  )
  SELECT array_agg(w.it), array_agg(w.ids), array_agg(w.c_acct), array_agg(w.c_card), array_agg(w.c_code),
         array_agg(w.v_card), array_agg(w.v_acct), array_agg(w.f_acct), array_agg(w.d_id), array_agg(w.d_idx),
         array_agg(w.i_op), array_agg(w.i_term), array_agg(w.i_sp), array_agg(w.i_src), array_agg(w.i_amt),
         array_agg(w.i_code), array_agg(w.i_cur), array_agg(w.i_svc), array_agg(w.i_rh), array_agg(w.i_preset),
         array_agg(w.i_stan), array_agg(w.i_dt), array_agg(w.i_ostan), array_agg(w.i_odt), array_agg(w.ord)
  INTO it, ids, c_acct, c_card, c_code, v_card, v_acct, f_acct, d_id, d_idx,
       i_op, i_term, i_sp, i_src, i_amt, i_code, i_cur, i_svc, i_rh, i_preset, i_stan, i_dt, i_ostan, i_odt, chk
  FROM (
    SELECT e.li AS it, e.jid AS ids,
           hc.account_id AS c_acct, hc.id AS c_card, q.id AS c_code,
           coalesce(vc.id, tc.id) AS v_card, coalesce(vc.account_id, tc.account_id) AS v_acct, fa.id AS f_acct,
           dj.id AS d_id, CASE WHEN e.first_k <> e.k THEN e.first_k::int END AS d_idx,
           (e.li).op AS i_op, (e.li).term AS i_term, (e.li).sp AS i_sp, (e.li).src AS i_src, (e.li).amt AS i_amt,
           (e.li).code AS i_code, (e.li).cur AS i_cur, (e.li).svc AS i_svc, (e.li).rh AS i_rh, (e.li).preset AS i_preset,
           (e.li).stan AS i_stan, (e.li).dt AS i_dt, (e.li).ostan AS i_ostan, (e.li).odt AS i_odt,
           e.k AS ord
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
    -- journal lookup: one index probe per item, whatever the (often stale) statistics say
    LEFT JOIN LATERAL (
      SELECT j.id FROM journal j
      WHERE j.terminal_id = (e.li).term AND j.stan = (e.li).stan AND j.transmission_at = (e.li).dt AND j.duplicate_of IS NULL
      LIMIT 1
    ) dj ON true
    ORDER BY e.k
  ) w;
  -- The arrays above were aggregated from a subquery sorted by item: prove the order held (the
  -- later statements' orders are compared with this one). Also catches a batch numbered wrong.
  FOR k IN 1 .. n LOOP
    IF chk[k] IS DISTINCT FROM k THEN
      RAISE EXCEPTION 'ledger_post: items must be numbered 0..n-1 in order ("i"), or were read out of order (found % at %)', chk[k] - 1, k - 1
        USING ERRCODE = 'internal_error';
    END IF;
  END LOOP;

  -- Duplicates of journal rows: the original's answer.
  IF array_remove(d_id, NULL) <> '{}' THEN
    SELECT array_agg(j.outcome), array_agg(encode(j.request_hash, 'hex')), array_agg(j.approval_code), array_agg(j.available_after),
           array_agg(u.k)
    INTO d_outcome, d_hash, d_approval, d_avail, chk_d
    FROM (SELECT u.id, u.k FROM unnest(d_id) WITH ORDINALITY AS u(id, k) ORDER BY u.k) u
    LEFT JOIN LATERAL (SELECT j.outcome, j.request_hash, j.approval_code, j.available_after FROM journal j WHERE j.id = u.id) j ON true;
    IF chk_d IS DISTINCT FROM chk THEN
      RAISE EXCEPTION 'ledger_post: duplicates resolved out of order' USING ERRCODE = 'internal_error';
    END IF;
  END IF;

  -- Originals of completions and reversals: in the journal, or an earlier item of this batch.
  IF 'completion' = ANY (i_op) OR 'reversal' = ANY (i_op) THEN
    SELECT array_agg(w.o_id), array_agg(w.o_idx), array_agg(w.o_card), array_agg(w.o_vcard), array_agg(w.o_op),
           array_agg(w.o_outcome), array_agg(w.o_amt), array_agg(w.o_acct), array_agg(w.o_vacct), array_agg(w.o_day),
           array_agg(w.ord)
    INTO o_id, o_idx, o_card, o_vcard, o_op, o_outcome, o_amt, o_acct, o_vacct, o_day, chk_o
    FROM (
      SELECT oj.id AS o_id, ob.k::int AS o_idx, oj.card_id AS o_card, oj.counter_card_id AS o_vcard, oj.op AS o_op,
             oj.outcome AS o_outcome, oj.amount AS o_amt, oj.card_account AS o_acct, oj.counter_account AS o_vacct,
             oj.day AS o_day, u.k AS ord
      FROM unnest(i_op, i_term, i_ostan, i_odt) WITH ORDINALITY AS u(op, term, ostan, odt, k)
      LEFT JOIN LATERAL (
        SELECT j.id, j.op, j.outcome, j.amount, j.card_id, j.counter_card_id, (j.created_at AT TIME ZONE 'UTC')::date AS day,
               (SELECT c.account_id FROM cards c WHERE c.id = j.card_id) AS card_account,
               (SELECT c.account_id FROM cards c WHERE c.id = j.counter_card_id) AS counter_account
        FROM journal j
        WHERE u.op IN ('completion', 'reversal') AND j.terminal_id = u.term AND j.stan = u.ostan
          AND j.transmission_at = u.odt AND j.duplicate_of IS NULL
        LIMIT 1
      ) oj ON true
      LEFT JOIN LATERAL (
        -- the first item of this batch with that terminal, STAN and DE7 (not itself a duplicate)
        SELECT b.k FROM unnest(i_term, i_stan, i_dt) WITH ORDINALITY AS b(term, stan, dt, k)
        WHERE u.op IN ('completion', 'reversal') AND b.k < u.k AND b.term = u.term AND b.stan = u.ostan AND b.dt = u.odt
          AND d_idx[b.k] IS NULL
        ORDER BY b.k LIMIT 1
      ) ob ON true
      ORDER BY u.k
    ) w;
    IF chk_o IS DISTINCT FROM chk THEN
      RAISE EXCEPTION 'ledger_post: originals resolved out of order' USING ERRCODE = 'internal_error';
    END IF;
  END IF;

  -- 2. Lock every account the batch may touch, in id order (no deadlock between batches).
  --    acct_ids and the a_* arrays come from the same rows, so they line up whatever order
  --    the aggregates see; the lock order is the ORDER BY under FOR UPDATE.
  SELECT array_agg(ac.id), array_agg(ac.balance), array_agg(ac.held), array_agg(ac.kind), array_agg(ac.currency),
         array_agg(ac.usage_day), array_agg(ac.day_amount), array_agg(ac.day_count),
         array_agg(ac.usage_month), array_agg(ac.month_amount), array_agg(ac.month_count)
  INTO acct_ids, a_bal, a_held, a_kind, a_cur, a_uday, a_damt, a_dcnt, a_umon, a_mamt, a_mcnt
  FROM (SELECT * FROM accounts WHERE id = ANY (c_acct || v_acct || f_acct || o_acct || o_vacct) ORDER BY id FOR UPDATE) ac;
  acct_ids := coalesce(acct_ids, '{}');
  a_dirty := array_fill(false, ARRAY[greatest(coalesce(array_length(acct_ids, 1), 0), 1)]);
  -- Codes are single use: lock them too, so two batches cannot both redeem one.
  IF array_remove(c_code, NULL) <> '{}' THEN
    PERFORM 1 FROM transaction_codes WHERE id = ANY (c_code) ORDER BY id FOR UPDATE;
  END IF;

  -- 3. What can change, read after the locks: card status and profile (a virtualization
  --    committed by the back office before our locks were granted is seen here), terminal
  --    and service point, transfer target, codes, and whether an original was reversed or
  --    its hold closed meanwhile (by another batch, another switch process).
  SELECT array_agg(w.k_status), array_agg(w.k_expiry), array_agg(w.k_virtual), array_agg(w.k_client), array_agg(w.k_network),
         array_agg(w.p_fuel), array_agg(w.p_dot), array_agg(w.p_ticket), array_agg(w.p_transfer), array_agg(w.p_recharge),
         array_agg(w.p_txn), array_agg(w.p_damt), array_agg(w.p_dcnt), array_agg(w.p_mamt), array_agg(w.p_mcnt),
         array_agg(w.p_from), array_agg(w.p_to),
         array_agg(w.t_exists), array_agg(w.t_status), array_agg(w.t_sp), array_agg(w.sp_exists), array_agg(w.ord)
  INTO k_status, k_expiry, k_virtual, k_client, k_network, p_fuel, p_dot, p_ticket, p_transfer, p_recharge,
       p_txn, p_damt, p_dcnt, p_mamt, p_mcnt, p_from, p_to,
       t_exists, t_status, t_sp, sp_exists, chk2
  FROM (
    SELECT c.status AS k_status, c.expiry AS k_expiry, c.is_virtual AS k_virtual, c.client_id AS k_client,
           c.network_id AS k_network, c.fuel AS p_fuel, c.dotation AS p_dot, c.ticket AS p_ticket,
           c.transfer AS p_transfer, c.recharge AS p_recharge, c.limit_per_txn AS p_txn,
           c.limit_day_amount AS p_damt, c.limit_day_count AS p_dcnt, c.limit_month_amount AS p_mamt,
           c.limit_month_count AS p_mcnt, c.valid_from AS p_from, c.valid_to AS p_to,
           t.id IS NOT NULL AS t_exists, t.status AS t_status, t.service_point_id AS t_sp, sp.id IS NOT NULL AS sp_exists,
           u.k AS ord
    FROM unnest(i_term, i_sp, c_card) WITH ORDINALITY AS u(term, sp, card, k)
    LEFT JOIN LATERAL (
      SELECT c.status, c.expiry, c.is_virtual, c.client_id, cl.network_id, p.fuel, p.dotation, p.ticket, p.transfer, p.recharge,
             p.limit_per_txn, p.limit_day_amount, p.limit_day_count, p.limit_month_amount, p.limit_month_count, p.valid_from, p.valid_to
      FROM cards c JOIN clients cl ON cl.id = c.client_id JOIN card_profiles p ON p.id = c.profile_id
      WHERE c.id = u.card
    ) c ON true
    LEFT JOIN LATERAL (SELECT t.id, t.status, t.service_point_id FROM terminals t WHERE t.id = u.term) t ON true
    LEFT JOIN LATERAL (SELECT sp.id FROM service_points sp WHERE sp.id = u.sp AND sp.status = 'active') sp ON true
    ORDER BY u.k
  ) w;
  IF chk2 IS DISTINCT FROM chk THEN
    RAISE EXCEPTION 'ledger_post: item state read out of order' USING ERRCODE = 'internal_error';
  END IF;
  -- Transfer targets, codes and originals, for the batches that have them.
  IF 'transfer' = ANY (i_op) OR array_remove(c_code, NULL) <> '{}' OR array_remove(o_id, NULL) <> '{}' THEN
    SELECT array_agg(w.x_status), array_agg(w.x_client), array_agg(w.x_network),
           array_agg(w.q_used), array_agg(w.q_exp), array_agg(w.q_max), array_agg(w.q_sp),
           array_agg(w.o_reversed), array_agg(w.o_hold), array_agg(w.o_hold_status), array_agg(w.o_hold_amt), array_agg(w.ord)
    INTO x_status, x_client, x_network, q_used, q_exp, q_max, q_sp, o_reversed, o_hold, o_hold_status, o_hold_amt, chk_x
    FROM (
      SELECT x.status AS x_status, x.client_id AS x_client, x.network_id AS x_network,
             q.used_at AS q_used, q.expires_at AS q_exp, q.amount_max AS q_max, q.service_point_id AS q_sp,
             o.reversed_by AS o_reversed, o.hold_id AS o_hold, o.hold_status AS o_hold_status, o.hold_amount AS o_hold_amt,
             u.k AS ord
      -- o_id is NULL when no item has an original: unnest pads it with NULLs
      FROM unnest(i_op, v_card, c_code, o_id) WITH ORDINALITY AS u(op, target, code, orig, k)
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
      ) o ON true
      ORDER BY u.k
    ) w;
    IF chk_x IS DISTINCT FROM chk THEN
      RAISE EXCEPTION 'ledger_post: item state read out of order' USING ERRCODE = 'internal_error';
    END IF;
  END IF;

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
  e_a1 := array_fill(NULL::bigint, ARRAY[n]);
  e_a2 := e_a1;
  e_x := e_a1;

  -- 4. Decide each item in order, on the locked state, and collect the effects.
  FOR k IN 1 .. n LOOP
    amt := coalesce(i_amt[k], 0);
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
        IF d_hash[k] IS DISTINCT FROM i_rh[k] THEN verdict := 'duplicate_mismatch';
        ELSE verdict := d_outcome[k]; r_avail[k] := d_avail[k]; r_approval[k] := d_approval[k];
        END IF;
      ELSE
        oi := d_idx[k];
        r_orig[k] := ids[oi];
        IF i_rh[oi] IS DISTINCT FROM i_rh[k] THEN verdict := 'duplicate_mismatch';
        ELSE verdict := r_outcome[oi]; r_avail[k] := r_avail[oi]; r_approval[k] := r_approval[oi];
        END IF;
      END IF;
    ELSIF i_preset[k] IS NOT NULL THEN
      verdict := i_preset[k];  -- a decline decided upstream: journaled, no effect
    ELSIF i_op[k] NOT IN ('purchase', 'preauth', 'completion', 'reversal', 'inquiry', 'recharge', 'transfer') THEN
      verdict := 'unsupported_operation';
    ELSIF i_src[k] = 'terminal' AND NOT t_exists[k] THEN verdict := 'unknown_terminal';
    ELSIF i_src[k] = 'terminal' AND t_status[k] <> 'active' THEN verdict := 'terminal_blocked';
    ELSIF i_src[k] = 'terminal' AND i_sp[k] IS NULL THEN verdict := 'unknown_service_point';
    ELSIF i_src[k] = 'terminal' AND NOT sp_exists[k] THEN verdict := 'unknown_service_point';
    ELSIF i_src[k] = 'terminal' AND t_sp[k] <> i_sp[k] THEN verdict := 'terminal_not_at_service_point';
    ELSIF i_src[k] = 'terminal' AND i_op[k] IN ('purchase', 'preauth', 'completion') AND v IS NULL THEN verdict := 'no_virtual_card';
    ELSIF i_src[k] = 'terminal' AND i_op[k] IN ('recharge', 'transfer') THEN verdict := 'operation_not_allowed';
    ELSIF i_op[k] IN ('completion', 'reversal') THEN
      -- ------------------------------------------------ completion / reversal of an original
      IF o_id[k] IS NULL AND o_idx[k] IS NULL THEN
        verdict := 'original_not_found';
      ELSIF o_idx[k] IS NOT NULL THEN
        -- original is an earlier item of this batch
        oi := o_idx[k];
        r_orig[k] := ids[oi];
        IF i_op[k] = 'completion' THEN
          IF i_op[oi] <> 'preauth' OR r_outcome[oi] <> 'approved' OR b_hold_status[oi] IS NOT NULL THEN verdict := 'original_not_found';
          ELSE
            hold_amt := b_hold_amt[oi];
            IF amt > hold_amt THEN verdict := 'invalid_amount';
            ELSE
              a := array_position(acct_ids, c_acct[oi]);
              v := array_position(acct_ids, v_acct[oi]);
              a_held[a] := a_held[a] - hold_amt;
              IF amt > 0 THEN
                a_bal[a] := a_bal[a] - amt; a_bal[v] := a_bal[v] + amt; a_dirty[v] := true;
                e_a1[k] := c_acct[oi]; e_a2[k] := v_acct[oi]; e_x[k] := (-amt);
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
          IF b_closed[oi] OR r_outcome[oi] <> 'approved' OR i_op[oi] NOT IN ('purchase', 'preauth', 'completion', 'inquiry') THEN
            verdict := 'approved'; -- nothing (more) to reverse
          ELSE
            a := array_position(acct_ids, c_acct[oi]);
            IF i_op[oi] = 'preauth' AND b_hold_status[oi] IS NULL THEN
              a_held[a] := a_held[a] - b_hold_amt[oi]; a_dirty[a] := true;
              b_hold_status[oi] := 'reversed'; b_hold_by[oi] := ids[k];
              a_damt[a] := a_damt[a] - i_amt[oi]; a_dcnt[a] := a_dcnt[a] - 1;
              a_mamt[a] := a_mamt[a] - i_amt[oi]; a_mcnt[a] := a_mcnt[a] - 1;
            ELSIF i_op[oi] IN ('purchase', 'completion') AND i_amt[oi] > 0 THEN
              v := array_position(acct_ids, v_acct[oi]);
              a_bal[a] := a_bal[a] + i_amt[oi]; a_bal[v] := a_bal[v] - i_amt[oi]; a_dirty[a] := true; a_dirty[v] := true;
              e_a1[k] := c_acct[oi]; e_a2[k] := v_acct[oi]; e_x[k] := i_amt[oi];
              IF i_op[oi] = 'purchase' THEN
                a_damt[a] := a_damt[a] - i_amt[oi]; a_dcnt[a] := a_dcnt[a] - 1;
                a_mamt[a] := a_mamt[a] - i_amt[oi]; a_mcnt[a] := a_mcnt[a] - 1;
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
        IF i_op[k] = 'completion' THEN
          IF o_op[k] <> 'preauth' OR o_outcome[k] <> 'approved' OR o_hold_status[k] IS DISTINCT FROM 'open' OR o_hold[k] = ANY (h_close_id) THEN
            verdict := 'original_not_found';
          ELSIF amt > o_hold_amt[k] THEN
            verdict := 'invalid_amount';
          ELSE
            a_held[a] := a_held[a] - o_hold_amt[k];
            IF amt > 0 THEN
              a_bal[a] := a_bal[a] - amt; a_bal[v] := a_bal[v] + amt; a_dirty[v] := true;
              e_a1[k] := o_acct[k]; e_a2[k] := o_vacct[k]; e_x[k] := (-amt);
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
              e_a1[k] := o_acct[k]; e_a2[k] := o_vacct[k]; e_x[k] := o_amt[k];
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
      IF i_code[k] IS NOT NULL AND c_code[k] IS NULL THEN verdict := 'unknown_code';
      ELSIF i_code[k] IS NOT NULL AND q_used[k] IS NOT NULL THEN verdict := 'code_used';
      ELSIF i_code[k] IS NOT NULL AND c_code[k] = ANY (code_used_id) THEN verdict := 'code_used';
      ELSIF i_code[k] IS NOT NULL AND q_exp[k] <= p_now THEN verdict := 'code_expired';
      ELSIF i_code[k] IS NOT NULL AND q_sp[k] IS NOT NULL AND q_sp[k] IS DISTINCT FROM i_sp[k] THEN verdict := 'code_wrong_service_point';
      ELSIF i_code[k] IS NOT NULL AND i_op[k] NOT IN ('purchase', 'preauth') THEN verdict := 'operation_not_allowed';
      ELSIF c_card[k] IS NULL OR k_status[k] IS NULL THEN verdict := 'unknown_card';
      ELSIF k_status[k] <> 'active' THEN verdict := 'card_restricted';
      ELSIF (make_date(2000 + substr(k_expiry[k], 1, 2)::int, substr(k_expiry[k], 3, 2)::int, 1) + interval '1 month')::date <= today THEN
        verdict := 'card_expired'; -- valid through the last day of its month (YYMM, 20YY)
      ELSIF (p_from[k] IS NOT NULL AND today < p_from[k]) OR (p_to[k] IS NOT NULL AND today > p_to[k]) THEN verdict := 'card_expired';
      ELSIF i_cur[k] IS NOT NULL AND i_cur[k] <> a_cur[a] THEN verdict := 'currency_mismatch';
      ELSIF i_op[k] IN ('purchase', 'preauth') AND i_code[k] IS NULL AND NOT (CASE coalesce(i_svc[k], 'fuel')
              WHEN 'fuel' THEN p_fuel[k] WHEN 'dotation' THEN p_dot[k] WHEN 'ticket' THEN p_ticket[k] ELSE false END) THEN
        verdict := 'service_not_allowed';
      ELSIF i_op[k] = 'inquiry' AND i_src[k] = 'terminal' AND NOT (p_fuel[k] OR p_dot[k] OR p_ticket[k]) THEN verdict := 'service_not_allowed';
      ELSIF i_op[k] = 'recharge' AND NOT p_recharge[k] THEN verdict := 'operation_not_allowed';
      ELSIF i_op[k] = 'transfer' AND NOT p_transfer[k] THEN verdict := 'operation_not_allowed';
      ELSIF i_op[k] IN ('purchase', 'preauth', 'recharge', 'transfer') AND amt <= 0 THEN verdict := 'invalid_amount';
      ELSIF i_code[k] IS NOT NULL AND amt > q_max[k] THEN verdict := 'code_amount_exceeded';
      ELSIF i_op[k] = 'transfer' AND (v IS NULL OR x_status[k] IS NULL) THEN verdict := 'unknown_card';
      ELSIF i_op[k] = 'transfer' AND c_card[k] = v_card[k] THEN verdict := 'invalid_transfer';
      ELSIF i_op[k] = 'transfer' AND x_status[k] NOT IN ('active', 'blocked') THEN verdict := 'card_restricted';
      ELSIF i_op[k] = 'transfer' AND k_client[k] <> x_client[k] AND (k_network[k] IS NULL OR k_network[k] IS DISTINCT FROM x_network[k]) THEN
        verdict := 'transfer_outside_network';
      ELSIF i_op[k] = 'recharge' AND f IS NULL THEN verdict := 'no_funding_account';
      ELSIF i_op[k] IN ('purchase', 'preauth') AND p_txn[k] IS NOT NULL AND amt > p_txn[k] THEN verdict := 'limit_amount';
      ELSIF i_op[k] IN ('purchase', 'preauth') AND p_damt[k] IS NOT NULL AND a_damt[a] + amt > p_damt[k] THEN verdict := 'limit_amount';
      ELSIF i_op[k] IN ('purchase', 'preauth') AND p_mamt[k] IS NOT NULL AND a_mamt[a] + amt > p_mamt[k] THEN verdict := 'limit_amount';
      ELSIF i_op[k] IN ('purchase', 'preauth') AND p_dcnt[k] IS NOT NULL AND a_dcnt[a] + 1 > p_dcnt[k] THEN verdict := 'limit_count';
      ELSIF i_op[k] IN ('purchase', 'preauth') AND p_mcnt[k] IS NOT NULL AND a_mcnt[a] + 1 > p_mcnt[k] THEN verdict := 'limit_count';
      ELSIF i_op[k] IN ('purchase', 'preauth', 'transfer') AND a_bal[a] - a_held[a] < amt THEN verdict := 'insufficient_funds';
      ELSE
        verdict := 'approved';
        IF i_op[k] = 'purchase' THEN
          a_bal[a] := a_bal[a] - amt; a_bal[v] := a_bal[v] + amt; a_dirty[v] := true;
          e_a1[k] := c_acct[k]; e_a2[k] := v_acct[k]; e_x[k] := (-amt);
        ELSIF i_op[k] = 'preauth' THEN
          a_held[a] := a_held[a] + amt;
          b_hold_amt[k] := amt;
          h_new_j := h_new_j || ids[k]; h_new_a := h_new_a || c_acct[k]; h_new_amt := h_new_amt || amt;
        ELSIF i_op[k] = 'recharge' THEN
          a_bal[a] := a_bal[a] + amt; a_bal[f] := a_bal[f] - amt; a_dirty[f] := true;
          e_a1[k] := c_acct[k]; e_a2[k] := f_acct[k]; e_x[k] := amt;
        ELSIF i_op[k] = 'transfer' THEN
          a_bal[a] := a_bal[a] - amt; a_bal[v] := a_bal[v] + amt; a_dirty[v] := true;
          e_a1[k] := c_acct[k]; e_a2[k] := v_acct[k]; e_x[k] := (-amt);
        END IF;
        IF i_op[k] IN ('purchase', 'preauth') THEN
          a_damt[a] := a_damt[a] + amt; a_dcnt[a] := a_dcnt[a] + 1;
          a_mamt[a] := a_mamt[a] + amt; a_mcnt[a] := a_mcnt[a] + 1;
        END IF;
        IF c_code[k] IS NOT NULL THEN code_used_id := code_used_id || c_code[k]; code_used_j := code_used_j || ids[k]; END IF;
        a_dirty[a] := true;
      END IF;
      IF a IS NOT NULL AND (verdict = 'approved' OR i_op[k] = 'inquiry') THEN r_avail[k] := a_bal[a] - a_held[a]; END IF;
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

  -- both entries of an item in the same statement (the sum-to-zero trigger sees them together)
  INSERT INTO ledger_entries (journal_id, account_id, amount, created_at)
  SELECT ids[u.k], CASE WHEN s.side = 1 THEN u.a1 ELSE u.a2 END, CASE WHEN s.side = 1 THEN u.x ELSE -u.x END, p_now
  FROM unnest(e_a1, e_a2, e_x) WITH ORDINALITY AS u(a1, a2, x, k) CROSS JOIN (VALUES (1), (2)) AS s(side)
  WHERE u.a1 IS NOT NULL;

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
