-- ledger_post_arrays, same decisions, each of its lookups an index probe per item whatever the
-- statistics. Each lookup is a LATERAL subquery that now ends in LIMIT 1 (each is by a unique
-- key: a primary key, transaction_codes.code_hash, cards_virtual_per_service_point,
-- holds.journal_id), so PostgreSQL runs it per item with the item's key and cannot pull it up
-- into a join. As a join, the generic plan (planned once per session, from the statistics of
-- that moment and an estimate of 10 items a batch) read some small tables whole and filtered
-- them against every item instead:
-- * the service points' virtual cards: all of them read once, then compared with every item
--   (a batch of 100 purchases over 100 service points: 9,900 rows removed by a join filter,
--   half of the resolution statement's time), a cost per item that grows with the network;
-- * the transfer target, in the state statement: looked up for every item, the operation tested
--   only afterwards (for a purchase, its target is the service point's virtual card: a card
--   and a client read for nothing);
-- * transaction codes, while the table was small when the session planned: read whole once per
--   batch, and the plan kept until the next ANALYZE however many codes were issued meanwhile.
-- Measured in alternation with 006 (one batch in flight, bench fleet, PostgreSQL backend CPU,
-- medians of 8-12 rounds): 1 purchase 930 -> 823 µs, 10: 1,936 -> 1,717 µs, 20: 2,195 -> 1,985 µs,
-- 50: 5,038-5,085 -> 4,537-4,849 µs. test/db/ledger-plans.test.ts reads the plans of every
-- statement of a batch (auto_explain) and fails on a whole-table read or a join filter.
--
-- And where an item's accounts are among the batch's locked accounts (acct_ids, in id order):
-- a binary search (ledger_account_position) instead of array_position's scan from the start,
-- which ran three times per item (holder, credited, funding account; the last, NULL for all but
-- recharges, scanned the whole array), so that a batch's cost grew with the square of its size.
-- Measured against the lookups above in alternation: 100 purchases 8,548-8,893 -> 8,044-8,717 µs,
-- 200: 15,526-15,905 -> 14,651-14,995 µs (3-8%); nothing measurable at 20 and 50.

-- The position of account `id` in `ids`, the ids sorted (as the lock statement reads them): a
-- binary search (width_bucket counts the elements <= id), checked, then a plain scan if the
-- check fails (an array out of order); NULL for a NULL id or one not there. A one-expression SQL
-- function: PostgreSQL inlines it into the statements that call it.
CREATE FUNCTION ledger_account_position(ids bigint[], id bigint) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
           WHEN id IS NULL THEN NULL
           WHEN ids[width_bucket(id, ids)] = id THEN width_bucket(id, ids)
           ELSE array_position(ids, id)
         END
$$;

CREATE OR REPLACE FUNCTION ledger_post_arrays(i_op text[], i_src text[], i_term text[], i_stan text[], i_dt text[], i_mti text[], i_card bigint[],
  i_code text[], i_sp bigint[], i_to bigint[], i_amt bigint[], i_cur text[], i_svc text[], i_ostan text[], i_odt text[], i_rh text[],
  i_preset text[], i_usr bigint[], i_note text[], p_now timestamptz DEFAULT now(), p_hold_ttl interval DEFAULT interval '2 hours')
RETURNS TABLE (i int, outcome text, journal_id bigint, approval_code text, available bigint, duplicate boolean, original_id bigint)
LANGUAGE plpgsql
-- Every lookup here is by key, and the batch is small: nested loops over indexes, in the
-- order written, are always right; with these settings, and each lookup a LATERAL subquery
-- with LIMIT 1 (never a join the planner may reorder or materialize), the plans are the same
-- whatever the statistics, planned once per session (see 004_ledger_post_cost.sql and 007).
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
  chk       bigint[];          -- item order as the aggregates saw it (1..n)
  chk2      bigint[];
  chk_d     bigint[];
  chk_o     bigint[];
  chk_x     bigint[];
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
  -- after locks: one entry per account, in id order
  acct_ids  bigint[];
  a_bal     bigint[];
  a_held    bigint[];
  a_cur     text[];
  a_uday    date[];
  a_damt    bigint[];
  a_dcnt    int[];
  a_umon    date[];
  a_mamt    bigint[];
  a_mcnt    int[];
  a_dirty   boolean[];
  -- after locks, per item: where its accounts are in acct_ids, and what its checks found
  pa        int[];             -- holder's account
  pv        int[];             -- credited account
  pf        int[];             -- funding account
  tv        text[];            -- verdict of the checks of every operation (operation, terminal, service point)
  cv1       text[];            -- ... of a card operation's first checks (the code exists, is unused)
  cv2       text[];            -- ... of its other checks that no earlier item of the batch can change
  p_damt bigint[]; p_dcnt int[]; p_mamt bigint[]; p_mcnt int[];   -- the profile's running limits
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
  e_a1 bigint[]; e_a2 bigint[]; e_x bigint[];   -- the money an item moves: e_x[k] on e_a1[k], -e_x[k] on e_a2[k]
  h_new_j bigint[] := '{}'; h_new_a bigint[] := '{}'; h_new_amt bigint[] := '{}';  -- new holds
  h_close_id bigint[] := '{}'; h_close_status text[] := '{}'; h_close_by bigint[] := '{}';
  rev_orig bigint[] := '{}'; rev_by bigint[] := '{}';                      -- originals reversed
  code_used_id bigint[] := '{}'; code_used_j bigint[] := '{}';
  -- per-item scratch
  k int; a int; v int; f int; verdict text; amt bigint; today date := (p_now AT TIME ZONE 'UTC')::date;
  mon date := date_trunc('month', p_now AT TIME ZONE 'UTC')::date;
  oi int; hold_amt bigint; delta bigint;
  -- in-batch originals: results of earlier items
  b_hold_amt bigint[];     -- hold amount created by item k (an approved preauth)
  b_hold_status text[];    -- that hold closed within this batch: completed | reversed
  b_hold_by bigint[];      -- ... by this journal row
  b_closed boolean[];      -- item k reversed within this batch
BEGIN
  n := coalesce(array_length(i_op, 1), 0);
  IF n = 0 THEN RETURN; END IF;
  -- (NULL <> n is NULL: a NULL array passes)
  IF array_length(i_src, 1) <> n OR array_length(i_term, 1) <> n OR array_length(i_stan, 1) <> n OR array_length(i_dt, 1) <> n
     OR array_length(i_mti, 1) <> n OR array_length(i_card, 1) <> n OR array_length(i_code, 1) <> n OR array_length(i_sp, 1) <> n
     OR array_length(i_to, 1) <> n OR array_length(i_amt, 1) <> n OR array_length(i_cur, 1) <> n OR array_length(i_svc, 1) <> n
     OR array_length(i_ostan, 1) <> n OR array_length(i_odt, 1) <> n OR array_length(i_rh, 1) <> n OR array_length(i_preset, 1) <> n
     OR array_length(i_usr, 1) <> n OR array_length(i_note, 1) <> n THEN
    RAISE EXCEPTION 'ledger_post_arrays: every array holds one value per item (% items), or is NULL', n USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- 1. Parse, number, and resolve what does not change under us: the accounts behind cards,
  --    codes, virtual cards and transfer targets; duplicates in the journal. What only some
  --    items need is looked up only for them (a scalar subquery under CASE runs only when its
  --    branch is taken; an index scan on a NULL key reads nothing).
  SELECT array_agg(w.ids), array_agg(w.c_acct), array_agg(w.c_card), array_agg(w.c_code),
         array_agg(w.v_card), array_agg(w.v_acct), array_agg(w.f_acct), array_agg(w.d_id), array_agg(w.d_idx), array_agg(w.ord)
  INTO ids, c_acct, c_card, c_code, v_card, v_acct, f_acct, d_id, d_idx, chk
  FROM (
    SELECT e.jid AS ids,
           hc.account_id AS c_acct, hc.id AS c_card, q.id AS c_code,
           coalesce(vc.id, tc.id) AS v_card, coalesce(vc.account_id, tc.account_id) AS v_acct,
           CASE WHEN e.op = 'recharge' THEN (SELECT a.id FROM accounts a WHERE a.kind = 'funding' AND a.client_id = hc.client_id) END AS f_acct,
           dj.id AS d_id, CASE WHEN e.first_k <> e.k THEN e.first_k::int END AS d_idx,
           e.k AS ord
    FROM (
      SELECT u.*, CASE WHEN u.term IS NOT NULL AND u.stan IS NOT NULL AND u.dt IS NOT NULL
                       THEN first_value(u.k) OVER (PARTITION BY u.term, u.stan, u.dt ORDER BY u.k) END AS first_k
      FROM (SELECT u.*, nextval('journal_id_seq'::regclass) AS jid
            FROM unnest(i_op, i_term, i_stan, i_dt, i_card, i_code, i_sp, i_to) WITH ORDINALITY AS u(op, term, stan, dt, card, code, sp, "to", k)) u
    ) e
    LEFT JOIN LATERAL (
      SELECT q.id, q.card_id FROM transaction_codes q WHERE q.code_hash = decode(e.code, 'hex') LIMIT 1
    ) q ON true
    LEFT JOIN LATERAL (
      SELECT c.id, c.account_id, c.client_id FROM cards c WHERE c.id = coalesce(e.card, q.card_id) LIMIT 1
    ) hc ON true
    LEFT JOIN LATERAL (
      SELECT v.id, v.account_id FROM cards v
      WHERE e.op IN ('purchase', 'preauth', 'completion') AND v.is_virtual AND v.service_point_id = e.sp LIMIT 1
    ) vc ON true
    LEFT JOIN LATERAL (
      SELECT c.id, c.account_id FROM cards c WHERE e.op = 'transfer' AND c.id = e."to" LIMIT 1
    ) tc ON true
    LEFT JOIN LATERAL (
      SELECT j.id FROM journal j
      WHERE j.terminal_id = e.term AND j.stan = e.stan AND j.transmission_at = e.dt AND j.duplicate_of IS NULL
      LIMIT 1
    ) dj ON true
    ORDER BY e.k
  ) w;
  -- The arrays above were aggregated from a subquery sorted by item: prove the order held (the
  -- later statements' orders are compared with this one).
  IF chk IS DISTINCT FROM ARRAY(SELECT generate_series(1::bigint, n)) THEN
    RAISE EXCEPTION 'ledger_post: items were read out of order' USING ERRCODE = 'internal_error';
  END IF;

  -- Duplicates of journal rows: the original's answer.
  IF array_remove(d_id, NULL) <> '{}' THEN
    SELECT array_agg(j.outcome), array_agg(encode(j.request_hash, 'hex')), array_agg(j.approval_code), array_agg(j.available_after),
           array_agg(u.k)
    INTO d_outcome, d_hash, d_approval, d_avail, chk_d
    FROM (SELECT u.id, u.k FROM unnest(d_id) WITH ORDINALITY AS u(id, k) ORDER BY u.k) u
    LEFT JOIN LATERAL (SELECT j.outcome, j.request_hash, j.approval_code, j.available_after FROM journal j WHERE j.id = u.id LIMIT 1) j ON true;
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
  SELECT array_agg(ac.id), array_agg(ac.balance), array_agg(ac.held), array_agg(ac.currency),
         array_agg(ac.usage_day), array_agg(ac.day_amount), array_agg(ac.day_count),
         array_agg(ac.usage_month), array_agg(ac.month_amount), array_agg(ac.month_count)
  INTO acct_ids, a_bal, a_held, a_cur, a_uday, a_damt, a_dcnt, a_umon, a_mamt, a_mcnt
  FROM (SELECT * FROM accounts WHERE id = ANY (c_acct || v_acct || f_acct || o_acct || o_vacct) ORDER BY id FOR UPDATE) ac;
  acct_ids := coalesce(acct_ids, '{}');
  a_dirty := array_fill(false, ARRAY[greatest(coalesce(array_length(acct_ids, 1), 0), 1)]);
  -- Codes are single use: lock them too, so two batches cannot both redeem one.
  IF array_remove(c_code, NULL) <> '{}' THEN
    PERFORM 1 FROM transaction_codes WHERE id = ANY (c_code) ORDER BY id FOR UPDATE;
  END IF;

  -- 3. What can change, read after the locks: card status and profile (a virtualization
  --    committed by the back office before our locks were granted is seen here), terminal
  --    and service point, transfer target, codes. Every check that no earlier item of the
  --    batch can change is decided here, in the documented order, by one CASE per stage:
  --    tv  the operation, the terminal and its service point (every item);
  --    cv1 a card operation's code: it exists and was not used before this batch;
  --    cv2 the rest of a card operation's checks up to the per-transaction limit.
  --    The loop below then has only the running state to look at: a code used earlier in the
  --    batch (between cv1 and cv2), the daily and monthly limits, the balance.
  SELECT array_agg(w.pa), array_agg(w.pv), array_agg(w.pf), array_agg(w.tv), array_agg(w.cv1), array_agg(w.cv2),
         array_agg(w.p_damt), array_agg(w.p_dcnt), array_agg(w.p_mamt), array_agg(w.p_mcnt), array_agg(w.ord)
  INTO pa, pv, pf, tv, cv1, cv2, p_damt, p_dcnt, p_mamt, p_mcnt, chk2
  FROM (
    SELECT u.pa, ledger_account_position(acct_ids, u.vacct) AS pv, ledger_account_position(acct_ids, u.facct) AS pf,
           CASE
             WHEN u.op NOT IN ('purchase', 'preauth', 'completion', 'reversal', 'inquiry', 'recharge', 'transfer') THEN 'unsupported_operation'
             WHEN u.src IS DISTINCT FROM 'terminal' THEN NULL
             WHEN t.id IS NULL THEN 'unknown_terminal'
             WHEN t.status <> 'active' THEN 'terminal_blocked'
             WHEN u.sp IS NULL OR sp.id IS NULL THEN 'unknown_service_point'
             WHEN t.service_point_id <> u.sp THEN 'terminal_not_at_service_point'
             WHEN u.op IN ('purchase', 'preauth', 'completion') AND u.vacct IS NULL THEN 'no_virtual_card'
             WHEN u.op IN ('recharge', 'transfer') THEN 'operation_not_allowed'
           END AS tv,
           CASE
             WHEN u.code IS NULL THEN NULL
             WHEN u.code_id IS NULL THEN 'unknown_code'
             WHEN q.used_at IS NOT NULL THEN 'code_used'
           END AS cv1,
           CASE
             WHEN u.code IS NOT NULL AND q.expires_at <= p_now THEN 'code_expired'
             WHEN u.code IS NOT NULL AND q.service_point_id IS NOT NULL AND q.service_point_id IS DISTINCT FROM u.sp THEN 'code_wrong_service_point'
             WHEN u.code IS NOT NULL AND u.op NOT IN ('purchase', 'preauth') THEN 'operation_not_allowed'
             WHEN u.card IS NULL OR c.status IS NULL THEN 'unknown_card'
             WHEN c.status <> 'active' THEN 'card_restricted'
             -- valid through the last day of its month (YYMM, 20YY)
             WHEN (make_date(2000 + substr(c.expiry, 1, 2)::int, substr(c.expiry, 3, 2)::int, 1) + interval '1 month')::date <= today THEN 'card_expired'
             WHEN (c.valid_from IS NOT NULL AND today < c.valid_from) OR (c.valid_to IS NOT NULL AND today > c.valid_to) THEN 'card_expired'
             WHEN u.cur IS NOT NULL AND u.cur <> a_cur[u.pa] THEN 'currency_mismatch'
             WHEN u.op IN ('purchase', 'preauth') AND u.code IS NULL AND NOT (CASE coalesce(u.svc, 'fuel')
                    WHEN 'fuel' THEN c.fuel WHEN 'dotation' THEN c.dotation WHEN 'ticket' THEN c.ticket ELSE false END) THEN 'service_not_allowed'
             WHEN u.op = 'inquiry' AND u.src = 'terminal' AND NOT (c.fuel OR c.dotation OR c.ticket) THEN 'service_not_allowed'
             WHEN u.op = 'recharge' AND NOT c.recharge THEN 'operation_not_allowed'
             WHEN u.op = 'transfer' AND NOT c.transfer THEN 'operation_not_allowed'
             WHEN u.op IN ('purchase', 'preauth', 'recharge', 'transfer') AND coalesce(u.amt, 0) <= 0 THEN 'invalid_amount'
             WHEN u.code IS NOT NULL AND coalesce(u.amt, 0) > q.amount_max THEN 'code_amount_exceeded'
             WHEN u.op = 'transfer' AND (u.vacct IS NULL OR x.status IS NULL) THEN 'unknown_card'
             WHEN u.op = 'transfer' AND u.card = u.target THEN 'invalid_transfer'
             WHEN u.op = 'transfer' AND x.status NOT IN ('active', 'blocked') THEN 'card_restricted'
             WHEN u.op = 'transfer' AND c.client_id <> x.client_id AND (c.network_id IS NULL OR c.network_id IS DISTINCT FROM x.network_id) THEN
               'transfer_outside_network'
             WHEN u.op = 'recharge' AND u.facct IS NULL THEN 'no_funding_account'
             WHEN u.op IN ('purchase', 'preauth') AND c.limit_per_txn IS NOT NULL AND coalesce(u.amt, 0) > c.limit_per_txn THEN 'limit_amount'
           END AS cv2,
           c.limit_day_amount AS p_damt, c.limit_day_count AS p_dcnt, c.limit_month_amount AS p_mamt, c.limit_month_count AS p_mcnt,
           u.k AS ord
    FROM (SELECT u.*, ledger_account_position(acct_ids, u.acct) AS pa
          FROM unnest(i_op, i_src, i_term, i_sp, c_card, c_acct, v_card, v_acct, f_acct, c_code, i_code, i_amt, i_cur, i_svc)
               WITH ORDINALITY AS u(op, src, term, sp, card, acct, target, vacct, facct, code_id, code, amt, cur, svc, k)) u
    LEFT JOIN LATERAL (
      SELECT c.status, c.expiry, c.client_id, p.fuel, p.dotation, p.ticket, p.transfer, p.recharge,
             p.limit_per_txn, p.limit_day_amount, p.limit_day_count, p.limit_month_amount, p.limit_month_count, p.valid_from, p.valid_to,
             CASE WHEN u.op = 'transfer' THEN (SELECT cl.network_id FROM clients cl WHERE cl.id = c.client_id) END AS network_id
      FROM cards c JOIN card_profiles p ON p.id = c.profile_id
      WHERE c.id = u.card LIMIT 1
    ) c ON true
    LEFT JOIN LATERAL (SELECT t.id, t.status, t.service_point_id FROM terminals t WHERE t.id = u.term LIMIT 1) t ON true
    LEFT JOIN LATERAL (SELECT sp.id FROM service_points sp WHERE sp.id = u.sp AND sp.status = 'active' LIMIT 1) sp ON true
    LEFT JOIN LATERAL (
      SELECT q.used_at, q.expires_at, q.amount_max, q.service_point_id FROM transaction_codes q WHERE q.id = u.code_id LIMIT 1
    ) q ON true
    LEFT JOIN LATERAL (
      SELECT x.status, x.client_id, xl.network_id FROM cards x JOIN clients xl ON xl.id = x.client_id
      WHERE u.op = 'transfer' AND x.id = u.target LIMIT 1
    ) x ON true
    ORDER BY u.k
  ) w;
  IF chk2 IS DISTINCT FROM chk THEN
    RAISE EXCEPTION 'ledger_post: item state read out of order' USING ERRCODE = 'internal_error';
  END IF;
  -- Whether an original was reversed or its hold closed meanwhile (by another batch, another
  -- switch process), for the batches that have originals in the journal.
  IF array_remove(o_id, NULL) <> '{}' THEN
    SELECT array_agg(w.o_reversed), array_agg(w.o_hold), array_agg(w.o_hold_status), array_agg(w.o_hold_amt), array_agg(w.ord)
    INTO o_reversed, o_hold, o_hold_status, o_hold_amt, chk_x
    FROM (
      SELECT o.reversed_by AS o_reversed, o.hold_id AS o_hold, o.hold_status AS o_hold_status, o.hold_amount AS o_hold_amt, u.k AS ord
      FROM unnest(o_id) WITH ORDINALITY AS u(orig, k)
      LEFT JOIN LATERAL (
        SELECT j.reversed_by, h.id AS hold_id, h.status AS hold_status, h.amount AS hold_amount
        FROM journal j LEFT JOIN holds h ON h.journal_id = j.id WHERE j.id = u.orig LIMIT 1
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
    a := pa[k];
    v := pv[k];
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
    ELSIF tv[k] IS NOT NULL THEN
      verdict := tv[k];
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
              a := pa[oi];
              v := pv[oi];
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
            a := pa[oi];
            IF i_op[oi] = 'preauth' AND b_hold_status[oi] IS NULL THEN
              a_held[a] := a_held[a] - b_hold_amt[oi]; a_dirty[a] := true;
              b_hold_status[oi] := 'reversed'; b_hold_by[oi] := ids[k];
              a_damt[a] := a_damt[a] - i_amt[oi]; a_dcnt[a] := a_dcnt[a] - 1;
              a_mamt[a] := a_mamt[a] - i_amt[oi]; a_mcnt[a] := a_mcnt[a] - 1;
            ELSIF i_op[oi] IN ('purchase', 'completion') AND i_amt[oi] > 0 THEN
              v := pv[oi];
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
        a := ledger_account_position(acct_ids, o_acct[k]);
        v := ledger_account_position(acct_ids, o_vacct[k]);
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
      IF cv1[k] IS NOT NULL THEN verdict := cv1[k];
      ELSIF c_code[k] = ANY (code_used_id) THEN verdict := 'code_used';
      ELSIF cv2[k] IS NOT NULL THEN verdict := cv2[k];
      ELSIF i_op[k] IN ('purchase', 'preauth') AND (
              (p_damt[k] IS NOT NULL AND a_damt[a] + amt > p_damt[k]) OR (p_mamt[k] IS NOT NULL AND a_mamt[a] + amt > p_mamt[k])) THEN
        verdict := 'limit_amount';
      ELSIF i_op[k] IN ('purchase', 'preauth') AND (
              (p_dcnt[k] IS NOT NULL AND a_dcnt[a] + 1 > p_dcnt[k]) OR (p_mcnt[k] IS NOT NULL AND a_mcnt[a] + 1 > p_mcnt[k])) THEN
        verdict := 'limit_count';
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
          f := pf[k];
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

  -- 5. Write: journal rows with the money each moves (its two ledger entries: the amount leaves
  --    the debit account and reaches the credit account), holds, accounts; all set-based.
  INSERT INTO journal (id, op, source, outcome, terminal_id, service_point_id, stan, transmission_at, mti, card_id, counter_card_id,
                       code_id, amount, currency, service, original_id, duplicate_of, request_hash, approval_code,
                       available_after, user_id, note, created_at, debit_account, credit_account, entry_amount)
  SELECT ids[u.k], u.op, u.src, r_outcome[u.k], u.term, u.sp, u.stan, u.dt, u.mti,
         CASE WHEN r_outcome[u.k] = 'unknown_card' THEN NULL ELSE r_card[u.k] END,
         CASE WHEN r_outcome[u.k] = 'approved' THEN r_counter[u.k] END,
         c_code[u.k], greatest(coalesce(u.amt, 0), 0), u.cur, u.svc,
         CASE WHEN r_dup[u.k] THEN NULL ELSE r_orig[u.k] END,
         CASE WHEN r_dup[u.k] THEN r_orig[u.k] END,
         decode(u.rh, 'hex'),
         r_approval[u.k], r_avail[u.k], u.usr, u.note, p_now,
         CASE WHEN e_x[u.k] < 0 THEN e_a1[u.k] ELSE e_a2[u.k] END,
         CASE WHEN e_x[u.k] < 0 THEN e_a2[u.k] ELSE e_a1[u.k] END,
         abs(e_x[u.k])
  FROM unnest(i_op, i_src, i_term, i_stan, i_dt, i_mti, i_sp, i_amt, i_cur, i_svc, i_rh, i_usr, i_note)
       WITH ORDINALITY AS u(op, src, term, stan, dt, mti, sp, amt, cur, svc, rh, usr, note, k);

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
  SELECT (u.k - 1)::int, r_outcome[u.k], u.id, r_approval[u.k], r_avail[u.k], r_dup[u.k], r_orig[u.k]
  FROM unnest(ids) WITH ORDINALITY AS u(id, k);
END;
$fn$;
