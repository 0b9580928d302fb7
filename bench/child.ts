/**
 * The processes `make bench` and the CI check measure (the switch, the ceiling server), started
 * from dist/ with the given environment and known by the ports their start-up log lines give:
 * the terminals' port and, for the switch, the metrics port (its two lines come in either order).
 * stderr goes to ours; stdout is read for as long as the process runs. And the simulator that
 * loads them (runSimulator).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { LoadReport } from '../terminal-sim/load/report.js';

export interface Proc {
  child: ChildProcess;
  port: number;
  metricsPort?: number;
}

export async function startChild(script: string, extraEnv: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [script], { env: { CYNOD_DEV: '1', ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start: ${out}`)), 20_000);
    let port = 0;
    let metricsPort: number | undefined;
    const onLine = (line: string): void => {
      try {
        const j = JSON.parse(line) as { port?: number; msg?: string };
        if (j.msg === 'listening for terminals' && j.port) port = j.port;
        else if (j.msg?.startsWith('metrics') && j.port) metricsPort = j.port;
        else if (j.port && !j.msg) port = j.port;
      } catch {
        /* not JSON */
      }
      if (port && (script.endsWith('ceiling.js') || metricsPort !== undefined)) {
        clearTimeout(timer);
        resolve({ child, port, metricsPort });
      }
    };
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      lines.forEach(onLine);
    });
    child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
    child.on('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

/** SIGTERM (the switch's graceful shutdown), then its exit. */
export async function stop(p: Proc): Promise<void> {
  p.child.kill('SIGTERM');
  await new Promise((r) => p.child.once('exit', r));
}

/**
 * One `terminal-sim load` run (`args` after `load`, writing its JSON report to `json`); returns
 * that report. `onMeasuring` is called when the simulator starts its measured run (its sign-ons
 * and warm-up done), which it says over an IPC channel (terminal-sim/load/cli.ts).
 */
export async function runSimulator(args: string[], json: string, onMeasuring?: () => void): Promise<LoadReport> {
  const child = spawn(process.execPath, ['dist/terminal-sim/cli.js', 'load', ...args, '--json', json], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  child.on('message', (m: { measuring?: boolean }) => {
    if (m.measuring) onMeasuring?.();
  });
  await new Promise((r) => child.once('exit', r));
  return JSON.parse(readFileSync(json, 'utf8')) as LoadReport;
}
