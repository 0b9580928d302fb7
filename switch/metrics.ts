/**
 * Prometheus metrics of the switch, and the HTTP endpoint that serves them with liveness
 * (/healthz: the process answers) and readiness (/readyz: PostgreSQL and Redis reachable).
 */
import http from 'node:http';
import client from 'prom-client';
import type { CacheMetrics } from './cache.js';
import type { SecurityLog } from './session.js';

export class SwitchMetrics implements CacheMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({ name: 'switch_requests_total', help: 'Answered messages by request MTI and response code', labelNames: ['mti', 'code'], registers: [this.registry] });
  readonly latency = new client.Histogram({
    name: 'switch_request_duration_seconds',
    help: 'From a decoded request to its answer',
    labelNames: ['mti'],
    buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly batchSize = new client.Histogram({ name: 'switch_ledger_batch_size', help: 'Items per ledger batch', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], registers: [this.registry] });
  readonly batchSeconds = new client.Histogram({
    name: 'switch_ledger_batch_seconds',
    help: 'Ledger batch round trip',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly batchErrors = new client.Counter({ name: 'switch_ledger_batch_errors_total', help: 'Ledger batches that failed', registers: [this.registry] });
  readonly ledgerLocks = new client.Counter({
    name: 'switch_ledger_locks_total',
    help: "Ledger batch attempts by how they found the accounts they locked: hint (the ids the cache gave), hint_missed (the read named an account the hints left out: the batch started over), cards (through the cards and service points)",
    labelNames: ['by'],
    registers: [this.registry],
  });
  readonly cacheLookups = new client.Counter({ name: 'switch_cache_lookups_total', help: 'Cache lookups by layer and result', labelNames: ['layer', 'result'], registers: [this.registry] });
  readonly redisErrors = new client.Counter({ name: 'switch_redis_errors_total', help: 'Redis commands that failed (the switch went on with PostgreSQL)', registers: [this.registry] });
  readonly redisUpGauge = new client.Gauge({ name: 'switch_redis_up', help: '1 while the Redis connection is ready', registers: [this.registry] });
  readonly dbUp = new client.Gauge({ name: 'switch_db_up', help: '1 when the last ledger batch reached PostgreSQL', registers: [this.registry] });
  readonly connections = new client.Gauge({ name: 'switch_connections', help: 'Open terminal connections', labelNames: ['listener'], registers: [this.registry] });
  readonly inFlight = new client.Gauge({ name: 'switch_in_flight', help: 'Requests being handled', registers: [this.registry] });
  readonly rateLimited = new client.Counter({ name: 'switch_rate_limited_total', help: 'Messages refused (58) because their terminal exceeded its rate', registers: [this.registry] });
  readonly codeGuessBlocks = new client.Counter({
    name: 'switch_code_guess_blocks_total',
    help: 'Terminals whose code redemptions were blocked for too many unknown transaction codes',
    registers: [this.registry],
  });
  readonly refused = new client.Counter({
    name: 'switch_refused_total',
    help: 'Terminal messages refused before they were parsed (no journal row), by reason: no_session, session_terminal_mismatch',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly protocolErrors = new client.Counter({ name: 'switch_protocol_errors_total', help: 'Frames and messages that could not be handled', labelNames: ['listener', 'kind'], registers: [this.registry] });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
  }

  // Label children are looked up once and kept: prom-client hashes the labels object at every
  // call otherwise, which was a visible share of the switch's allocations per message.
  private readonly requestChildren = new Map<string, Map<string, client.Counter.Internal>>();
  private readonly refusedChildren = new Map<string, client.Counter.Internal>();
  private readonly latencyChildren = new Map<string, client.Histogram.Internal<'mti'>>();
  private readonly lookupChildren = {
    near: [this.cacheLookups.labels({ layer: 'near', result: 'miss' }), this.cacheLookups.labels({ layer: 'near', result: 'hit' })],
    redis: [this.cacheLookups.labels({ layer: 'redis', result: 'miss' }), this.cacheLookups.labels({ layer: 'redis', result: 'hit' })],
    db: [this.cacheLookups.labels({ layer: 'db', result: 'miss' }), this.cacheLookups.labels({ layer: 'db', result: 'hit' })],
  };

  /** One answered message (or one left unanswered), by request MTI and response code. */
  countRequest(mti: string, code: string): void {
    let byCode = this.requestChildren.get(mti);
    if (byCode === undefined) {
      byCode = new Map();
      this.requestChildren.set(mti, byCode);
    }
    let child = byCode.get(code);
    if (child === undefined) {
      child = this.requests.labels({ mti, code });
      byCode.set(code, child);
    }
    child.inc();
  }

  /** A message refused before it was parsed. */
  countRefused(reason: string): void {
    let child = this.refusedChildren.get(reason);
    if (child === undefined) {
      child = this.refused.labels({ reason });
      this.refusedChildren.set(reason, child);
    }
    child.inc();
  }

  observeLatency(mti: string, seconds: number): void {
    let child = this.latencyChildren.get(mti);
    if (child === undefined) {
      child = this.latency.labels({ mti });
      this.latencyChildren.set(mti, child);
    }
    child.observe(seconds);
  }

  lookup(layer: 'near' | 'redis' | 'db', hit: boolean): void {
    this.lookupChildren[layer][hit ? 1 : 0].inc();
  }
  redisError(): void {
    this.redisErrors.inc();
  }
  redisUp(up: boolean): void {
    this.redisUpGauge.set(up ? 1 : 0);
  }
}

export interface Probe {
  name: string;
  check(): Promise<void>;
}

/**
 * Serves /metrics, /healthz, /readyz and /security (the latest refused terminal messages as
 * JSON, oldest first: PANs masked, on the metrics address, which is local by default).
 */
export function startMetricsServer(metrics: SwitchMetrics, probes: Probe[], host: string, port: number, security?: SecurityLog): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.url === '/metrics') {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(await metrics.registry.metrics());
      } else if (req.url === '/security' && security) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ total: security.total, capacity: security.capacity, events: security.entries() }));
      } else if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"ok"}');
      } else if (req.url === '/readyz') {
        const results = await Promise.all(
          probes.map(async (p) => {
            try {
              await withTimeout(p.check(), 1000);
              return [p.name, 'ok'] as const;
            } catch (e) {
              return [p.name, (e as Error).message || 'down'] as const;
            }
          }),
        );
        const ready = results.every(([, r]) => r === 'ok');
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results) }));
      } else {
        res.writeHead(404).end();
      }
    })().catch(() => res.writeHead(500).end());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
