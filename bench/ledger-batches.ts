/**
 * The switch's ledger batches over one bench step, read from its Prometheus endpoint
 * (`switch_ledger_batch_size` and `switch_ledger_batch_seconds`, switch/metrics.ts) before and
 * after the step. An approval waits for the batch in flight, then for its own: a step's p99 is
 * about twice its slowest batches plus the trip through the switch, so the bench prints these
 * beside each step to say whether the ledger decided its p99.
 */

/**
 * Counters of the two histograms; `buckets` cumulative, by upper bound in seconds (+Inf last);
 * `requests`: messages the switch answered (switch_requests_total, all labels).
 */
export interface BatchCounts {
  requests: number;
  batches: number;
  items: number;
  seconds: number;
  buckets: { le: number; count: number }[];
}

const SIZE = 'switch_ledger_batch_size';
const SECONDS = 'switch_ledger_batch_seconds';
const REQUESTS = 'switch_requests_total';

/** The two histograms out of a Prometheus text exposition; undefined when it has neither. */
export function parseBatchMetrics(text: string): BatchCounts | undefined {
  let batches: number | undefined;
  let items: number | undefined;
  let seconds: number | undefined;
  let requests = 0;
  const buckets: { le: number; count: number }[] = [];
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
      const le = /le="([^"]+)"/.exec(name)?.[1];
      if (le !== undefined) buckets.push({ le: le === '+Inf' ? Infinity : Number(le), count: value });
    }
  }
  if (batches === undefined || items === undefined || seconds === undefined) return undefined;
  buckets.sort((a, b) => a.le - b.le);
  return { requests, batches, items, seconds, buckets };
}

/** What happened between two readings of the same process. */
export function batchesBetween(before: BatchCounts, after: BatchCounts): BatchCounts {
  const was = new Map(before.buckets.map((b) => [b.le, b.count]));
  return {
    requests: after.requests - before.requests,
    batches: after.batches - before.batches,
    items: after.items - before.items,
    seconds: after.seconds - before.seconds,
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - (was.get(b.le) ?? 0) })),
  };
}

/** The upper bound (seconds) of the bucket that holds the q-th fraction of the batches. */
export function bucketQuantile(d: BatchCounts, q: number): number {
  const want = Math.ceil(d.batches * q);
  for (const b of d.buckets) if (b.count >= want) return b.le;
  return Infinity;
}

const bound = (s: number): string => (s === Infinity ? 'over the last bucket' : `within ${+(s * 1000).toFixed(1)} ms`);

/** One line for a step: "ledger: 5,012 batches, 8.0 items each, 1.52 ms mean, 99% within 5 ms, all within 20 ms". */
export function describeBatches(d: BatchCounts): string {
  if (d.batches <= 0) return 'ledger: no batch';
  return (
    `ledger: ${d.batches.toLocaleString('en-US')} batches, ${(d.items / d.batches).toFixed(1)} items each, ` +
    `${((d.seconds / d.batches) * 1000).toFixed(2)} ms mean, 99% ${bound(bucketQuantile(d, 0.99))}, all ${bound(bucketQuantile(d, 1))}`
  );
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
