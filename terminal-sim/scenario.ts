/**
 * `terminal-sim scenario FILE`: steps run in order by one terminal (the firmware model),
 * each with the response code it expects; stops at the first step that differs.
 *
 * A scenario file (JSON, or YAML for .yaml/.yml) is a list of steps, or an object:
 *   { "terminal": { "id": "TPE00001", "servicePoint": "PS_SENOSOFT", "pin": "1234" },
 *     "host"?, "port"?, "framing"?, "spec"?, "tpdu"?, "timeoutMs"?,
 *     "steps": [ ... ] }
 * A step is an action or a message:
 *   { "name": "fill up", "action": "pump", "pan": "628...", "amount": 20000, "dispensed": 15250, "expect": "00" }
 *   { "name": "raw", "message": { "mti": "0200", "fields": { "3": "000000", "2": "628...", "4": "000000001000" } }, "expect": ["00", "51"] }
 * Actions: signOn, signOff, echo, purchase, redeem, inquiry, preauth, complete, pump, reverse,
 * reconcile. `card: N` takes the Nth card (from 0) of the --fleet file instead of `pan`;
 * `complete` and `reverse` name an earlier step with `of` (its name, or its number from 1);
 * in a message, a field whose value is "@<step>" is that step's DE90 (e.g. "90": "@fill up").
 * `expect` is a code or a list of codes (default "00"); `expectBalance` checks DE54.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { IsoFields } from '../protocol/index.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, EXIT, UsageError, duration, parse, target } from './args.js';
import { describeCode } from './codes.js';
import { fieldTable } from './display.js';
import { fleetTerminal, type Fleet } from './fleet.js';
import { originalField } from './messages.js';
import { Terminal, type Tx } from './terminal.js';
import { FRAMINGS, SPECS } from './wire.js';

export const SCENARIO_HELP = `terminal-sim scenario: run a scenario file, step by step, on one terminal

Usage: terminal-sim scenario FILE [options]

FILE is JSON (or YAML: .yaml, .yml): a list of steps, or { terminal, steps, host?, port? ... }.
Each step: { name?, action | message, pan? | card?, expiry?, code?, amount?, dispensed?,
service?, of?, expect?, expectBalance? }
  actions: signOn signOff echo purchase redeem inquiry preauth complete pump reverse reconcile
  message: { mti, fields: { "3": "000000", ... } }  (7, 11, 41, 42, 49 are filled in);
           a field "@<step>" is the DE90 naming that step
  of:      the step a complete/reverse refers to (its name, or its number from 1)
  card:    index of a card of the --fleet file (instead of pan)
  expiry:  the card's YYMM (DE14, track 2); default: the fleet's for a card it lists
  expect:  "00" (default) or a list of accepted codes

Options:
  --terminal ID            terminal (default: the file's, else the fleet's first)
  --service-point CODE     its service point
  --pin PIN                its security PIN (first initialisation)
  --verbose                print each answer as a field table
${CONNECTION_HELP} (default 5000 ms)

Exit codes: 0 every step answered as expected; 1 a step differed (what differed is printed);
2 the switch could not be reached; 64 bad flags or scenario file.
`;

const ACTIONS = ['signOn', 'signOff', 'echo', 'purchase', 'redeem', 'inquiry', 'preauth', 'complete', 'pump', 'reverse', 'reconcile'] as const;
const code2 = z.string().regex(/^[0-9A-Z]{2}$/, 'a response code is 2 characters');

const stepSchema = z
  .object({
    name: z.string().min(1).optional(),
    action: z.enum(ACTIONS).optional(),
    message: z.object({ mti: z.string().regex(/^[0-9]{4}$/), fields: z.record(z.string().regex(/^[0-9]{1,3}$/), z.string()) }).strict().optional(),
    pan: z.string().regex(/^[0-9]{12,19}$/).optional(),
    expiry: z.string().regex(/^[0-9]{2}(0[1-9]|1[0-2])$/, 'an expiry is YYMM').optional(),
    card: z.number().int().nonnegative().optional(),
    code: z.string().regex(/^[0-9]{4,16}$/).optional(),
    amount: z.number().int().nonnegative().optional(),
    dispensed: z.number().int().nonnegative().optional(),
    service: z.enum(['FUEL', 'DOTATION', 'TICKET']).optional(),
    of: z.union([z.string(), z.number().int().positive()]).optional(),
    expect: z.union([code2, z.array(code2).min(1)]).default('00'),
    expectBalance: z.number().int().optional(),
  })
  .strict()
  .refine((s) => (s.action === undefined) !== (s.message === undefined), 'a step has either an action or a message');

const scenarioSchema = z.union([
  z.array(stepSchema).min(1),
  z
    .object({
      terminal: fleetTerminal.optional(),
      host: z.string().optional(),
      port: z.number().int().min(1).max(65535).optional(),
      framing: z.enum(FRAMINGS as unknown as [string, ...string[]]).optional(),
      spec: z.enum(Object.keys(SPECS) as [string, ...string[]]).optional(),
      tpdu: z.string().optional(),
      timeoutMs: z.number().int().positive().optional(),
      steps: z.array(stepSchema).min(1),
    })
    .strict(),
]);

export type Step = z.infer<typeof stepSchema>;
export type Scenario = Exclude<z.infer<typeof scenarioSchema>, unknown[]>;

export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let data: unknown;
  try {
    data = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path} does not parse: ${(e as Error).message}`);
  }
  const r = scenarioSchema.safeParse(data);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 10).map((i) => `  ${i.path.length ? i.path.join('.') : '(top)'}: ${i.message}`);
    throw new UsageError(`${path} is not a valid scenario:\n${lines.join('\n')}`);
  }
  return Array.isArray(r.data) ? { steps: r.data } : r.data;
}

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  terminal: { type: 'string' },
  'service-point': { type: 'string' },
  pin: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
} as const;

export async function scenario(argv: string[], out: (s: string) => void): Promise<number> {
  const { values: v, positionals } = parse(argv, OPTIONS, true);
  if (v.help) {
    out(SCENARIO_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('one scenario FILE is needed');
  const sc = loadScenario(positionals[0]);
  const tg = target(v, sc);
  const who = terminalOf(v, sc, tg.fleet);
  const timeoutMs = v.timeout !== undefined ? duration(v.timeout, 'timeout') : (sc.timeoutMs ?? 5000);
  let term: Terminal;
  try {
    term = await Terminal.connect({ host: tg.host, port: tg.port, wire: tg.wire, terminalId: who.id, servicePoint: who.servicePoint, pin: who.pin, timeoutMs, retry: { firstMs: 500, maxMs: 4000, attempts: 4 } });
  } catch (e) {
    console.error(`terminal-sim scenario: ${(e as Error).message}`);
    return EXIT.unreachable;
  }
  try {
    const done: { step: Step; tx: Tx }[] = [];
    for (let i = 0; i < sc.steps.length; i++) {
      const step = sc.steps[i];
      const label = `${i + 1} ${step.name ?? step.action ?? step.message?.mti}`;
      const tx = await runStep(term, step, done, tg.fleet);
      done.push({ step, tx });
      const expected = Array.isArray(step.expect) ? step.expect : [step.expect];
      const problems: string[] = [];
      if (tx.code === undefined || !expected.includes(tx.code)) problems.push(`expected ${expected.join(' or ')}, got ${describeCode(tx.code)}`);
      if (step.expectBalance !== undefined && tx.balance !== step.expectBalance) problems.push(`expected balance ${step.expectBalance}, got ${tx.balance ?? 'none'}`);
      const took = tx.latencyMs === undefined ? '' : ` (${tx.latencyMs} ms)`;
      if (problems.length === 0) {
        out(`ok   ${label}: ${describeCode(tx.code)}${took}`);
        if (v.verbose && tx.response) out(fieldTable(tx.response, tg.wire.spec));
        continue;
      }
      out(`FAIL ${label}: ${problems.join('; ')}${took}`);
      out(fieldTable(tx.request, tg.wire.spec, '  request:'));
      if (tx.response) out(fieldTable(tx.response, tg.wire.spec, '  answer:'));
      return EXIT.failed;
    }
    out(`scenario passed: ${sc.steps.length} steps`);
    return EXIT.ok;
  } finally {
    await term.close();
  }
}

function terminalOf(v: { terminal?: string; 'service-point'?: string; pin?: string }, sc: Scenario, fleet: Fleet | undefined): { id: string; servicePoint: string; pin?: string } {
  const base = sc.terminal ?? (v.terminal === undefined ? fleet?.terminals[0] : fleet?.terminals.find((t) => t.id === v.terminal));
  const id = v.terminal ?? base?.id;
  const servicePoint = v['service-point'] ?? base?.servicePoint;
  if (id === undefined || servicePoint === undefined) throw new UsageError('which terminal? give --terminal and --service-point, a "terminal" in the scenario, or a --fleet file');
  return { id, servicePoint, pin: v.pin ?? base?.pin };
}

async function runStep(term: Terminal, step: Step, done: { step: Step; tx: Tx }[], fleet: Fleet | undefined): Promise<Tx> {
  const ref = (of: string | number | undefined): Tx => {
    const hit = typeof of === 'number' ? done[of - 1] : done.find((d) => d.step.name === of);
    if (!hit) throw new UsageError(`step ${done.length + 1} refers to ${JSON.stringify(of)}, which is not an earlier step`);
    return hit.tx; // for a pump step: its completion (its pre-authorization when declined)
  };
  /** The step's card: its pan (and expiry, or the fleet's for a card it lists), or the fleet's card N. */
  const card = (): { pan: string; expiry?: string } => {
    if (step.pan !== undefined) return { pan: step.pan, expiry: step.expiry ?? fleet?.cards.find((c) => c.pan === step.pan)?.expiry };
    if (step.card !== undefined) {
      const c = fleet?.cards[step.card];
      if (!c) throw new UsageError(`step ${done.length + 1}: card ${step.card} is not in the fleet file`);
      return { pan: c.pan, expiry: step.expiry ?? c.expiry };
    }
    throw new UsageError(`step ${done.length + 1} (${step.action}) needs a pan or a card`);
  };
  const amount = (): number => {
    if (step.amount === undefined) throw new UsageError(`step ${done.length + 1} (${step.action}) needs an amount`);
    return step.amount;
  };
  if (step.message) {
    const fields: IsoFields = {};
    for (const [k, val] of Object.entries(step.message.fields)) {
      fields[Number(k)] = val.startsWith('@') ? originalField(refOf(ref(val.slice(1)))) : val;
    }
    return term.send({ mti: step.message.mti, fields });
  }
  switch (step.action) {
    case 'signOn':
      return term.signOn();
    case 'signOff':
      return term.signOff();
    case 'echo':
      return term.echo();
    case 'purchase':
      return step.code !== undefined ? term.redeem({ code: step.code, amount: amount(), service: step.service }) : term.purchase({ ...card(), amount: amount(), service: step.service });
    case 'redeem':
      if (step.code === undefined) throw new UsageError(`step ${done.length + 1} (redeem) needs a code`);
      return term.redeem({ code: step.code, amount: amount(), service: step.service });
    case 'inquiry':
      return term.inquiry({ ...card(), service: step.service });
    case 'preauth':
      return term.preauth({ ...card(), amount: amount(), service: step.service });
    case 'complete':
      return term.complete(ref(step.of), amount());
    case 'pump': {
      const s = await term.pumpSession({ ...card(), amount: amount(), dispensed: step.dispensed ?? amount(), service: step.service });
      return s.completion ?? s.preauth;
    }
    case 'reverse':
      return term.reverse(ref(step.of));
    case 'reconcile':
      return term.reconcile();
    default:
      throw new UsageError('a step has either an action or a message');
  }
}

function refOf(tx: Tx): { mti: string; stan: string; transmissionDateTime: string } {
  const m = tx.request.mti;
  return { mti: m[3] === '1' ? m.slice(0, 3) + '0' : m, stan: tx.stan, transmissionDateTime: tx.transmissionDateTime };
}
