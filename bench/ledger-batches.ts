/**
 * The switch's ledger batches over one bench step, read from its Prometheus endpoint
 * (`switch_ledger_batch_size` and `switch_ledger_batch_seconds`, switch/metrics.ts) before and
 * after the step. An approval waits for the batch in flight, then for its own: a step's p99 is
 * about twice its slowest batches plus the trip through the switch, so the bench prints these
 * beside each step to say whether the ledger decided its p99. The switch's own latency
 * (`switch_request_duration_seconds`) is read the same way, to say how much of the simulator's
 * p99 was spent inside the switch.
 */

/** A cumulative histogram: count of observations at or under each upper bound (seconds, +Inf last). */
export type Buckets = { le: number; count: number }[];

/**
 * Counters of the two histograms; `buckets` cumulative, by upper bound in seconds (+Inf last);
 * `requests`: messages the switch answered (switch_requests_total, all labels); `answers`: the
 * switch's own latency of those messages, from the decoded request to the answer handed to the
 * socket (switch_request_duration_seconds, every MTI summed), in the same form.
 */
export interface BatchCounts {
  requests: number;
  batches: number;
  items: number;
  seconds: number;
  buckets: Buckets;
  answers: Buckets;
}

const SIZE = 'switch_ledger_batch_size';
const SECONDS = 'switch_ledger_batch_seconds';
const REQUESTS = 'switch_requests_total';
const LATENCY = 'switch_request_duration_seconds';

const leOf = (name: string): number | undefined => {
  const le = /le="([^"]+)"/.exec(name)?.[1];
  return le === undefined ? undefined : le === '+Inf' ? Infinity : Number(le);
};

/** The switch's counters and histograms out of a Prometheus text exposition; undefined without the ledger's. */
export function parseBatchMetrics(text: string): BatchCounts | undefined {
  let batches: number | undefined;
  let items: number | undefined;
  let seconds: number | undefined;
  let requests = 0;
  const buckets: Buckets = [];
  const answers = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const space = line.lastIndexOf(' ');
    const name = line.slice(0, space);
    const value = Number(line.slice(space + 1));
    if (!Number.isFinite(value)) continue;
    if (name === REQUESTS || name.startsWith(`${REQUESTS}{`)) requests += value;
    else if (name === `${SIZE}_sum`) items = value;
    else if (name === `${SECONDS}_count`) batches = value;
    else if (name === `${SECONDS}_sum`) seconds = value;
    else if (name.startsWith(`${SECONDS}_bucket{`)) {
      const le = leOf(name);
      if (le !== undefined) buckets.push({ le, count: value });
    } else if (name.startsWith(`${LATENCY}_bucket{`)) {
      const le = leOf(name);
      if (le !== undefined) answers.set(le, (answers.get(le) ?? 0) + value);
    }
  }
  if (batches === undefined || items === undefined || seconds === undefined) return undefined;
  buckets.sort((a, b) => a.le - b.le);
  return { requests, batches, items, seconds, buckets, answers: [...answers].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le) };
}

const bucketsBetween = (before: Buckets, after: Buckets): Buckets => {
  const was = new Map(before.map((b) => [b.le, b.count]));
  return after.map((b) => ({ le: b.le, count: b.count - (was.get(b.le) ?? 0) }));
};

/** What happened between two readings of the same process. */
export function batchesBetween(before: BatchCounts, after: BatchCounts): BatchCounts {
  return {
    requests: after.requests - before.requests,
    batches: after.batches - before.batches,
    items: after.items - before.items,
    seconds: after.seconds - before.seconds,
    buckets: bucketsBetween(before.buckets, after.buckets),
    answers: bucketsBetween(before.answers, after.answers),
  };
}

/** The upper bound (seconds) of the bucket that holds the q-th fraction of a histogram's observations. */
export function quantileBound(buckets: Buckets, q: number): number {
  const total = buckets.at(-1)?.count ?? 0;
  const want = Math.ceil(total * q);
  for (const b of buckets) if (b.count >= want) return b.le;
  return Infinity;
}

/** Share (0..1) of a histogram's observations above a bound; undefined when the bound is not one of its buckets. */
export function shareAbove(buckets: Buckets, le: number): number | undefined {
  const total = buckets.at(-1)?.count ?? 0;
  const at = buckets.find((b) => b.le === le);
  if (at === undefined || total <= 0) return undefined;
  return (total - at.count) / total;
}

const bound = (s: number): string => (s === Infinity ? 'over the last bucket' : `within ${+(s * 1000).toFixed(1)} ms`);

/** One line for a step: "ledger: 5,012 batches, 8.0 items each, 1.52 ms mean, 99% within 5 ms, all within 20 ms". */
export function describeBatches(d: BatchCounts): string {
  if (d.batches <= 0) return 'ledger: no batch';
  return (
    `ledger: ${d.batches.toLocaleString('en-US')} batches, ${(d.items / d.batches).toFixed(1)} items each, ` +
    `${((d.seconds / d.batches) * 1000).toFixed(2)} ms mean, 99% ${bound(quantileBound(d.buckets, 0.99))}, all ${bound(quantileBound(d.buckets, 1))}`
  );
}

/** The answers above these bounds (ms) are counted in the line: the target's 10 ms, and half of it. */
const SHARE_BOUNDS_MS = [5, 10];

/**
 * One line for a step: how long answers spent inside the switch, e.g. "inside the switch: 99% of
 * 52,000 answers within 10 ms; over 5 ms 9.03%, over 10 ms 0.85%". What the simulator measures
 * beyond it (from the intended send time) is its own sending, the kernel's two trips, the wait
 * before the switch's event loop reads the request, and the simulator's reading: a step whose
 * simulator p99 misses while this line holds 99% within the target lost its time there.
 */
export function describeAnswers(d: BatchCounts): string {
  const total = d.answers.at(-1)?.count ?? 0;
  if (total <= 0) return 'inside the switch: no answer';
  const shares = SHARE_BOUNDS_MS.map((ms) => {
    const s = shareAbove(d.answers, ms / 1000);
    return s === undefined ? undefined : `over ${ms} ms ${(s * 100).toFixed(2)}%`;
  }).filter((s) => s !== undefined);
  return `inside the switch: 99% of ${total.toLocaleString('en-US')} answers ${bound(quantileBound(d.answers, 0.99))}${shares.length ? `; ${shares.join(', ')}` : ''}`;
}

/** Reads the switch's metrics endpoint; undefined when it does not answer or lacks the histograms. */
export async function scrapeBatches(port: number, host = '127.0.0.1'): Promise<BatchCounts | undefined> {
  try {
    const res = await fetch(`http://${host}:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    return parseBatchMetrics(await res.text());
  } catch {
    return undefined;
  }
}
