/**
 * The statements of a batch: lock, read, write. Every lookup is by key, as a LATERAL subquery
 * (ending in LIMIT 1 where the key is unique), so PostgreSQL probes an index per item whatever
 * its statistics and however it plans a prepared statement; test/db/ledger-plans.test.ts reads
 * the plans of a batch and fails on a whole-table read.
 */

/**
 * Locks every account the batch may touch, in id order, so that two batches never wait for each
 * other in a cycle. The accounts are those of the items' cards and transfer targets, of the cards
 * behind their transaction codes, of their service points' virtual cards, of the recharged cards'
 * clients' funding accounts, of the originals named by completions and reversals, and of the
 * holds to expire. Returns their state: rows locked FOR UPDATE are read as last committed.
 */
export const LOCK = `
SELECT a.id, a.currency, a.balance, a.held, a.usage_day::text AS usage_day, a.day_amount, a.day_count,
       a.usage_month::text AS usage_month, a.month_amount, a.month_count
FROM accounts a
WHERE a.id = ANY (ARRAY(
  SELECT c.account_id FROM unnest($1::bigint[]) AS u(id)
    JOIN LATERAL (SELECT c.account_id FROM cards c WHERE c.id = u.id LIMIT 1) c ON true
  UNION ALL
  SELECT c.account_id FROM unnest($2::text[]) AS u(h)
    JOIN LATERAL (SELECT q.card_id FROM transaction_codes q WHERE q.code_hash = decode(u.h, 'hex') LIMIT 1) q ON true
    JOIN LATERAL (SELECT c.account_id FROM cards c WHERE c.id = q.card_id LIMIT 1) c ON true
  UNION ALL
  SELECT v.account_id FROM unnest($3::bigint[]) AS u(sp)
    JOIN LATERAL (SELECT v.account_id FROM cards v WHERE v.is_virtual AND v.service_point_id = u.sp LIMIT 1) v ON true
  UNION ALL
  SELECT f.id FROM unnest($4::bigint[]) AS u(card)
    JOIN LATERAL (SELECT c.client_id FROM cards c WHERE c.id = u.card LIMIT 1) c ON true
    JOIN LATERAL (SELECT f.id FROM accounts f WHERE f.kind = 'funding' AND f.client_id = c.client_id LIMIT 1) f ON true
  UNION ALL
  SELECT x.account_id FROM unnest($5::text[], $6::text[], $7::text[]) AS u(t, s, d)
    JOIN LATERAL (SELECT j.card_id, j.counter_card_id FROM journal j
                  WHERE j.terminal_id = u.t AND j.stan = u.s AND j.transmission_at = u.d AND j.duplicate_of IS NULL LIMIT 1) j ON true
    CROSS JOIN LATERAL (VALUES (j.card_id), (j.counter_card_id)) AS w(card)
    JOIN LATERAL (SELECT c.account_id FROM cards c WHERE c.id = w.card LIMIT 1) x ON true
  UNION ALL
  SELECT h.account_id FROM unnest($8::bigint[]) AS u(id)
    JOIN LATERAL (SELECT h.account_id FROM holds h WHERE h.journal_id = u.id LIMIT 1) h ON true
))
ORDER BY a.id
FOR UPDATE`;

/**
 * The rows of each item, read after the locks (a statement of its own, so its snapshot sees what
 * the batches that held those locks committed), and a journal id for each item, drawn in item
 * order. One row per item, in item order.
 */
export const READ = `
SELECT u.k, u.jid,
       t.service_point_id AS t_sp, t.status AS t_status, t.initialized_at IS NOT NULL AS t_init,
       sp.id AS sp_id, sp.status AS sp_status, v.id AS v_card, v.account_id AS v_acct,
       q.id AS q_id, q.card_id AS q_card, q.used_at IS NOT NULL AS q_used, (extract(epoch FROM q.expires_at) * 1000)::float8 AS q_expires,
       q.amount_max AS q_max, q.service_point_id AS q_sp,
       c.id AS c_id, c.account_id AS c_acct, c.client_id AS c_client, c.status AS c_status, c.expiry AS c_expiry, c.network_id AS c_network,
       c.fuel, c.dotation, c.ticket, c.transfer, c.recharge, c.limit_per_txn, c.limit_day_amount, c.limit_day_count,
       c.limit_month_amount, c.limit_month_count, c.valid_from, c.valid_to,
       x.id AS x_id, x.account_id AS x_acct, x.client_id AS x_client, x.status AS x_status, x.network_id AS x_network,
       f.id AS f_acct
FROM (SELECT u.*, nextval('journal_id_seq'::regclass) AS jid
      FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[]) WITH ORDINALITY AS u(op, term, sp, card, code, "to", k)) u
LEFT JOIN LATERAL (SELECT t.service_point_id, t.status, t.initialized_at FROM terminals t WHERE t.id = u.term LIMIT 1) t ON true
LEFT JOIN LATERAL (SELECT sp.id, sp.status FROM service_points sp WHERE sp.id = u.sp LIMIT 1) sp ON true
LEFT JOIN LATERAL (SELECT v.id, v.account_id FROM cards v WHERE v.is_virtual AND v.service_point_id = u.sp LIMIT 1) v ON true
LEFT JOIN LATERAL (SELECT q.id, q.card_id, q.used_at, q.expires_at, q.amount_max, q.service_point_id
                   FROM transaction_codes q WHERE q.code_hash = decode(u.code, 'hex') LIMIT 1) q ON true
LEFT JOIN LATERAL (
  SELECT c.id, c.account_id, c.client_id, c.status, c.expiry,
         CASE WHEN u.op = 'transfer' THEN (SELECT cl.network_id FROM clients cl WHERE cl.id = c.client_id) END AS network_id,
         p.fuel, p.dotation, p.ticket, p.transfer, p.recharge, p.limit_per_txn, p.limit_day_amount, p.limit_day_count,
         p.limit_month_amount, p.limit_month_count, p.valid_from::text AS valid_from, p.valid_to::text AS valid_to
  FROM cards c JOIN card_profiles p ON p.id = c.profile_id
  WHERE c.id = coalesce(u.card, q.card_id) LIMIT 1
) c ON true
LEFT JOIN LATERAL (
  SELECT x.id, x.account_id, x.client_id, x.status, (SELECT cl.network_id FROM clients cl WHERE cl.id = x.client_id) AS network_id
  FROM cards x WHERE u.op = 'transfer' AND x.id = u."to" LIMIT 1
) x ON true
LEFT JOIN LATERAL (
  SELECT f.id FROM accounts f WHERE u.op = 'recharge' AND f.kind = 'funding' AND f.client_id = c.client_id LIMIT 1
) f ON true
ORDER BY u.k`;

/**
 * The journal rows the batch refers to: those with the items' own keys (duplicates), those
 * named by completions and reversals (terminal, STAN, DE7 of DE90), and the pre-authorizations
 * of expiring holds (by id); with their holds and the accounts of their cards.
 */
export const JOURNAL = `
WITH found AS (
  SELECT j.id FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, s, d)
    JOIN LATERAL (SELECT j.id FROM journal j
                  WHERE j.terminal_id = u.t AND j.stan = u.s AND j.transmission_at = u.d AND j.duplicate_of IS NULL LIMIT 1) j ON true
  UNION
  SELECT u.id FROM unnest($4::bigint[]) AS u(id)
)
SELECT j.id, j.op, j.outcome, j.amount, j.terminal_id, j.stan, j.transmission_at, j.card_id, j.counter_card_id,
       (SELECT c.account_id FROM cards c WHERE c.id = j.card_id) AS card_acct,
       (SELECT c.account_id FROM cards c WHERE c.id = j.counter_card_id) AS counter_acct,
       (j.created_at AT TIME ZONE 'UTC')::date::text AS day, encode(j.request_hash, 'hex') AS request_hash,
       j.approval_code, j.available_after, j.reversed_by,
       h.id AS h_id, h.account_id AS h_acct, h.amount AS h_amount, h.status AS h_status, (extract(epoch FROM h.expires_at) * 1000)::float8 AS h_expires
FROM found
JOIN LATERAL (SELECT * FROM journal j WHERE j.id = found.id LIMIT 1) j ON true
LEFT JOIN LATERAL (SELECT h.id, h.account_id, h.amount, h.status, h.expires_at FROM holds h WHERE h.journal_id = j.id LIMIT 1) h ON true`;

/** The journal's columns as the write statement takes them, one array each. */
export const JOURNAL_COLUMNS = [
  ['id', 'bigint'],
  ['op', 'text'],
  ['source', 'text'],
  ['outcome', 'text'],
  ['terminal_id', 'text'],
  ['service_point_id', 'bigint'],
  ['stan', 'text'],
  ['transmission_at', 'text'],
  ['mti', 'text'],
  ['card_id', 'bigint'],
  ['counter_card_id', 'bigint'],
  ['code_id', 'bigint'],
  ['amount', 'bigint'],
  ['currency', 'text'],
  ['service', 'text'],
  ['original_id', 'bigint'],
  ['duplicate_of', 'bigint'],
  ['reversed_by', 'bigint'],
  ['request_hash', 'text'],
  ['approval_code', 'text'],
  ['available_after', 'bigint'],
  ['user_id', 'bigint'],
  ['note', 'text'],
  ['debit_account', 'bigint'],
  ['credit_account', 'bigint'],
  ['entry_amount', 'bigint'],
] as const;

const J = JOURNAL_COLUMNS.length;
const p = (i: number): string => `$${i}`;
const jCols = JOURNAL_COLUMNS.map(([c]) => c);
const jArgs = JOURNAL_COLUMNS.map(([, t], i) => `${p(i + 2)}::${t}[]`).join(', ');
const jSelect = jCols.map((c) => (c === 'request_hash' ? `decode(u.${c}, 'hex')` : `u.${c}`)).join(', ');
const a0 = J + 2; // accounts: id, balance delta, held delta, usage_day, day_amount, day_count, usage_month, month_amount, month_count
const h0 = a0 + 9; // new holds: journal id, account, amount, status, closed_by, expires_at
const c0 = h0 + 6; // closed holds: id, status, closed_by
const r0 = c0 + 3; // reversed originals: id, by
const q0 = r0 + 2; // used codes: id, journal id

/**
 * Writes a decided batch in one statement: the journal rows (each with its movement), the
 * accounts (balance and held by the sums of the batch's deltas, limits used as decided), the
 * holds opened (with their final state: one opened and closed in the same batch is written closed)
 * and closed, the originals reversed, the codes redeemed. $1 is the batch's time.
 */
export const WRITE = `
WITH j AS (
  INSERT INTO journal (${jCols.join(', ')}, created_at)
  SELECT ${jSelect}, $1 FROM unnest(${jArgs}) AS u(${jCols.join(', ')})
), a AS (
  UPDATE accounts ac SET balance = ac.balance + u.db, held = ac.held + u.dh, usage_day = u.ud, day_amount = u.da, day_count = u.dc,
                         usage_month = u.um, month_amount = u.ma, month_count = u.mc
  FROM unnest(${p(a0)}::bigint[], ${p(a0 + 1)}::bigint[], ${p(a0 + 2)}::bigint[], ${p(a0 + 3)}::date[], ${p(a0 + 4)}::bigint[], ${p(a0 + 5)}::int[],
              ${p(a0 + 6)}::date[], ${p(a0 + 7)}::bigint[], ${p(a0 + 8)}::int[]) AS u(id, db, dh, ud, da, dc, um, ma, mc)
  WHERE ac.id = u.id
), hn AS (
  INSERT INTO holds (journal_id, account_id, amount, status, closed_by, expires_at, created_at)
  SELECT u.j, u.a, u.amt, u.s, u.b, u.e, $1
  FROM unnest(${p(h0)}::bigint[], ${p(h0 + 1)}::bigint[], ${p(h0 + 2)}::bigint[], ${p(h0 + 3)}::text[], ${p(h0 + 4)}::bigint[], ${p(h0 + 5)}::timestamptz[])
       AS u(j, a, amt, s, b, e)
), hc AS (
  UPDATE holds h SET status = u.s, closed_by = u.b
  FROM unnest(${p(c0)}::bigint[], ${p(c0 + 1)}::text[], ${p(c0 + 2)}::bigint[]) AS u(id, s, b) WHERE h.id = u.id
), r AS (
  UPDATE journal o SET reversed_by = u.b FROM unnest(${p(r0)}::bigint[], ${p(r0 + 1)}::bigint[]) AS u(id, b) WHERE o.id = u.id
), q AS (
  UPDATE transaction_codes q SET used_at = $1, journal_id = u.j FROM unnest(${p(q0)}::bigint[], ${p(q0 + 1)}::bigint[]) AS u(id, j) WHERE q.id = u.id
)
SELECT 1`;

export const WRITE_PARAMS = q0 + 1;
