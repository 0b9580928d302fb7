#!/usr/bin/env node
/**
 * terminal-sim: a TPE firmware model and load generator for the cynod switch.
 *   terminal-sim send ...            one message, the answer as a field table
 *   terminal-sim scenario FILE ...   steps with expected response codes
 *   terminal-sim load ...            many terminals, open-loop load, reports, SLO
 * `terminal-sim VERB --help` for each verb.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT, UsageError } from './args.js';
import { FleetError } from './fleet.js';
import { load } from './load/cli.js';
import { scenario } from './scenario.js';
import { send } from './send.js';

export const HELP = `terminal-sim: a TPE (fuel-station payment terminal) simulator for the cynod switch

Usage: terminal-sim VERB [options]      (or: npm run sim -- VERB [options])

Verbs:
  send       send one message built from flags; print the answer as a field table
  scenario   run a scenario file (JSON or YAML) step by step; fail on the first mismatch
  load       many terminals over many connections at a target rate; reports and SLO

terminal-sim VERB --help tells more. Exit codes: 0 ok, 1 declined / mismatch / SLO missed,
2 switch unreachable or no answer, 64 bad usage.
`;

const VERBS: Record<string, (argv: string[], out: (s: string) => void) => Promise<number>> = { send, scenario, load };

export async function main(argv: string[], out: (s: string) => void = (s) => console.log(s)): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    out(HELP);
    return verb === undefined ? EXIT.usage : EXIT.ok;
  }
  const run = VERBS[verb];
  if (!run) {
    console.error(`terminal-sim: unknown verb ${JSON.stringify(verb)}\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await run(rest, out);
  } catch (e) {
    if (e instanceof UsageError || e instanceof FleetError) {
      console.error(`terminal-sim ${verb}: ${e.message}\n(terminal-sim ${verb} --help)`);
      return EXIT.usage;
    }
    console.error(`terminal-sim ${verb}: ${(e as Error).stack ?? String(e)}`);
    return EXIT.unreachable;
  }
}

const invoked = process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invoked) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      console.error(e);
      process.exitCode = EXIT.unreachable;
    },
  );
}
