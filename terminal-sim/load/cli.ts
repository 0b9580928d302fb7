/**
 * `terminal-sim load`: the load generator's command line: flags, live progress line (stderr),
 * final table (stdout), JSON and HTML reports, SLO verdict as the exit code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import v8 from 'node:v8';
import { CONNECTION_HELP, CONNECTION_OPTIONS, EXIT, UsageError, duration, int, parse, target } from '../args.js';
import { keepKeys, type FleetCard, type FleetTerminal } from '../fleet.js';
import { LoadEngine } from './engine.js';
import { htmlReport } from './html.js';
import { Schedule, parseMix } from './plan.js';
import { achievedPercent, makeReport, summaryTable } from './report.js';
import { checkSlo, parseSlo } from './slo.js';
import type { LoadStats, SecondPoint } from './stats.js';

export const LOAD_HELP = `terminal-sim load: many terminals, open-loop load at a target rate

Usage: terminal-sim load --fleet FILE --rate N [options]

Who:
  --fleet FILE             terminals, cards and codes to use (see README: fleet file)
  --terminal ID --service-point CODE --pan PAN --expiry YYMM
                           one terminal and card(s) instead of a fleet (--pan repeatable;
                           --expiry is theirs, sent in DE14 and track 2)
  --terminals N            use the first N terminals of the fleet (default: all)
  --connections N          TCP connections, one terminal each (a connection carries the session of
                           the terminal that signed on over it): N terminals of the fleet, spread
                           evenly, are used (default: one per terminal)
What:
  --rate N                 transactions started per second (constant), or
  --ramp FROM:TO           a rate ramp from FROM/s to TO/s over the duration
  --duration D             how long to send (default 10s; e.g. 2s, 500ms, 1m)
  --warmup D               send at the starting rate for D first, counted nowhere (default 0)
  --mix SPEC               transaction mix by weight (default purchase=100), types:
                           purchase, preauth (a pump session: 0100 then 0220), inquiry,
                           redeem (one fleet code each, single use)
  --amount N               amount of each purchase / pre-authorization (default 100)
  --dispensed R            completion amount = R x pre-authorized amount (default 0.8)
  --timeout D              answer timeout (default 5s)
  --no-sign-on             do not sign the terminals on first (the switch then refuses them: 58)
  --no-mac                 send no MAC (DE64/DE128), even for terminals that hold working keys
  --no-pin                 send no cardholder PIN (DE52), even for cards that have one
  --no-key-change          keep the working keys the fleet file holds (default: a terminal with a
                           master key renews them after its sign-on, and they are written back
                           to the fleet file, which is the terminals' memory)
  --seed N                 seed of the mix draw (default 1)
Output:
  --json FILE              JSON report (counts, codes, percentiles, per-second series)
  --html FILE              HTML report (latency percentile chart, throughput and latency over time)
  --slo RULES              e.g. p99=10ms,errors=0 — exit 1 when missed. Rules: pNN=D, max=D, mean=D,
                           errors=N or N%, timeouts=N, achieved=P% (answered share of the target)
  --quiet                  no progress line
${CONNECTION_HELP}

Latency is measured from each message's intended send time (no coordinated omission) into
an HdrHistogram; a timed-out message counts at the timeout. Errors: timeouts, messages lost
with a connection or unanswered at the end, and answers 30, 91, 94, 96; business declines
(51, 61, 14, ...) are not errors.

Exit codes: 0 done (and the SLO met); 1 the SLO was missed; 2 the switch could not be
reached; 64 bad flags or fleet file.
`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  terminal: { type: 'string' },
  'service-point': { type: 'string' },
  pan: { type: 'string', multiple: true },
  expiry: { type: 'string' },
  terminals: { type: 'string' },
  connections: { type: 'string' },
  rate: { type: 'string' },
  ramp: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  mix: { type: 'string' },
  amount: { type: 'string' },
  dispensed: { type: 'string' },
  'no-sign-on': { type: 'boolean' },
  'no-mac': { type: 'boolean' },
  'no-pin': { type: 'boolean' },
  'no-key-change': { type: 'boolean' },
  seed: { type: 'string' },
  json: { type: 'string' },
  html: { type: 'string' },
  slo: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

/** The switch's default per-terminal rate limit (SWITCH_TERMINAL_RATE). */
const TERMINAL_RATE_NOTE = 50;

export async function load(argv: string[], out: (s: string) => void, err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  const { values: v } = parse(argv, OPTIONS);
  if (v.help) {
    out(LOAD_HELP);
    return EXIT.ok;
  }
  // Allocation-site pretenuring off, as in the switch (switch/gc.ts) and for the same reason: a
  // young collection always finds the messages in flight alive; when V8 then allocates frames
  // and pending entries in the old generation, a full collection follows every 3 s, each a
  // pause (3-10 ms, and as much again in incremental steps) in every latency being measured.
  // At 4,000/s for 30 s against the switch: one full collection in each of five runs with it
  // off (p99 8.5-11.1 ms); with it on, one in some runs and eight or nine in others (p99 10.6
  // and 15.0 ms in those).
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
  const tg = target(v);
  let terminals: FleetTerminal[] = tg.fleet?.terminals ?? [];
  let cards: FleetCard[] = tg.fleet?.cards ?? [];
  if (v.terminal !== undefined) {
    const sp = v['service-point'] ?? tg.fleet?.terminals.find((t) => t.id === v.terminal)?.servicePoint;
    if (sp === undefined) throw new UsageError('--service-point is needed with --terminal');
    terminals = [{ id: v.terminal, servicePoint: sp }];
  }
  if (v.pan !== undefined) {
    const expiry = v.expiry;
    if (expiry === undefined || !/^[0-9]{2}(0[1-9]|1[0-2])$/.test(expiry)) throw new UsageError("--expiry YYMM is needed with --pan: the cards' expiry, which a terminal sends");
    for (const pan of v.pan) if (!/^[0-9]{12,19}$/.test(pan)) throw new UsageError(`--pan ${JSON.stringify(pan)} is not 12 to 19 digits`);
    cards = v.pan.map((pan) => ({ pan, expiry }));
  }
  if (terminals.length === 0) throw new UsageError('no terminals: give --fleet FILE, or --terminal and --service-point');
  if (v.terminals !== undefined) terminals = terminals.slice(0, int(v.terminals, 'terminals', 1, terminals.length));
  const connections = Math.min(terminals.length, v.connections === undefined ? terminals.length : int(v.connections, 'connections', 1, 100_000));
  if (v.rate !== undefined && v.ramp !== undefined) throw new UsageError('--rate or --ramp, not both');
  const durationMs = duration(v.duration ?? '10s', 'duration', 's');
  let from: number;
  let to: number;
  if (v.ramp !== undefined) {
    const m = /^([0-9]+(?:\.[0-9]+)?):([0-9]+(?:\.[0-9]+)?)$/.exec(v.ramp);
    if (!m) throw new UsageError('--ramp is FROM:TO, e.g. 1000:10000');
    from = Number(m[1]);
    to = Number(m[2]);
  } else {
    if (v.rate === undefined) throw new UsageError('--rate N or --ramp FROM:TO is needed');
    from = to = Number(v.rate);
    if (!(from > 0)) throw new UsageError('--rate is a positive number of transactions per second');
  }
  const schedule = new Schedule(from, to, durationMs);
  const warmupMs = v.warmup === undefined ? 0 : duration(v.warmup, 'warmup', 's');
  const mix = parseMix(v.mix ?? 'purchase=100');
  const codes = tg.fleet?.codes ?? [];
  if (mix.redeem > 0 && codes.length === 0) throw new UsageError('--mix has redeem but the fleet file lists no codes');
  if (cards.length === 0 && mix.purchase + mix.preauth + mix.inquiry > 0) throw new UsageError('no cards: the fleet file lists none (or give --pan)');
  const amount = v.amount === undefined ? 100 : int(v.amount, 'amount', 1, 999_999_999_999);
  const dispensed = v.dispensed === undefined ? 0.8 : Number(v.dispensed);
  if (!(dispensed > 0 && dispensed <= 1)) throw new UsageError('--dispensed is a ratio in (0, 1]');
  const timeoutMs = v.timeout === undefined ? 5000 : duration(v.timeout, 'timeout');
  const slo = v.slo === undefined ? undefined : parseSlo(v.slo);
  const quiet = v.quiet === true;
  const tty = process.stderr.isTTY === true && !quiet;

  const total = mix.purchase + mix.preauth + mix.inquiry + mix.redeem;
  const perTerminal = (Math.max(from, to) * (1 + mix.preauth / total)) / connections;
  if (perTerminal > TERMINAL_RATE_NOTE && !quiet) {
    err(`load: note: about ${Math.round(perTerminal)} messages/s per terminal; a switch limits each terminal (SWITCH_TERMINAL_RATE, default ${TERMINAL_RATE_NOTE}/s) and answers 58 beyond: use more terminals\n`);
  }
  const engine = new LoadEngine({
    host: tg.host,
    port: tg.port,
    wire: tg.wire,
    terminals,
    connections,
    cards,
    codes,
    schedule,
    mix,
    amount,
    dispensed,
    timeoutMs,
    signOn: v['no-sign-on'] !== true,
    mac: v['no-mac'] !== true,
    pin: v['no-pin'] !== true,
    keyChange: v['no-key-change'] !== true,
    seed: v.seed === undefined ? 1 : int(v.seed, 'seed', 0, 2 ** 32 - 1),
    onSecond: quiet ? undefined : (p, s) => err(tty ? `\r\x1b[2K${progressLine(p, s)}` : `${progressLine(p, s)}\n`),
    onProblem: quiet ? undefined : (line) => err(`${tty ? '\n' : ''}load: ${line}\n`),
  });
  try {
    await engine.open();
  } catch (e) {
    err(`terminal-sim load: ${(e as Error).message}\n`);
    await engine.close();
    return EXIT.unreachable;
  }
  if (typeof v.fleet === 'string') keepKeys(v.fleet, engine.keys());
  let result;
  try {
    if (warmupMs > 0) {
      const w = await engine.run(new Schedule(from, from, warmupMs), () => {});
      if (!quiet) err(`warm-up: ${w.stats.sent} sent, ${w.stats.answered} answered in ${(w.elapsedMs / 1000).toFixed(1)} s (not counted)\n`);
    }
    // A parent that started this process with an IPC channel (make bench) reads its own counters
    // now, so that they cover the measured run alone: not the sign-ons, not the warm-up.
    process.send?.({ measuring: true });
    result = await engine.run();
  } finally {
    await engine.close();
  }
  if (tty) err('\n');
  const checks = slo && checkSlo(slo, result.stats, achievedPercent(result, schedule));
  const report = makeReport(
    result,
    { host: tg.host, port: tg.port, framing: tg.wire.header + (tg.wire.tpdu ? '+tpdu' : ''), spec: tg.wire.spec.name, schedule, mix, terminals: connections, connections, amount, timeoutMs },
    checks,
  );
  out(summaryTable(report));
  if (v.json !== undefined) writeReport(v.json, JSON.stringify(report, null, 2) + '\n', out);
  if (v.html !== undefined) writeReport(v.html, htmlReport(report), out);
  return report.slo && !report.slo.ok ? EXIT.failed : EXIT.ok;
}

function writeReport(path: string, text: string, out: (s: string) => void): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  out(`  report: ${path}`);
}

/** The live line: rate achieved, p50/p99 of the last second, answers by code, errors. */
export function progressLine(p: SecondPoint, s: LoadStats): string {
  const codes = Object.entries(s.byCode)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([c, n]) => `${c}:${n}`)
    .join(' ');
  return `[${String(p.t).padStart(4)}s] ${p.answered}/s answered (target ${p.targetRate}/s, sent ${p.sent}) p50 ${p.p50Ms}ms p99 ${p.p99Ms}ms | ${codes || 'no answers'} | errors ${s.errors}`;
}
