/**
 * A switch as a child process (node dist/switch/main.js), for the tests that kill it, restart
 * it, or run two of them: fixed port (terminals reconnect to it), JSON logs parsed for its
 * listening line, stopped at teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { DATABASE_URL } from './db.js';
import { HASH_SECRET, KEK_HEX, REDIS_URL, dropPrefix } from './switch.js';
import { ROOT } from './paths.js';
import { freePort } from '../../tools/free-port.js';
import type { TestContext } from './tap.js';

export interface SwitchProcess {
  child: ChildProcess;
  port: number;
  metricsPort: number;
  logs: string[];
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

export { freePort } from '../../tools/free-port.js';

export async function spawnSwitch(t: TestContext, env: Record<string, string>): Promise<SwitchProcess> {
  const port = Number(env.PORT ?? (await freePort()));
  const child = spawn(process.execPath, [join(ROOT, 'dist/switch/main.js')], {
    env: {
      ...process.env,
      DATABASE_URL,
      REDIS_URL,
      HASH_SECRET,
      KEY_ENCRYPTION_KEY: KEK_HEX,
      SWITCH_LISTENERS: `127.0.0.1:${port}/binary2/ascii87`,
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
      SWITCH_TERMINAL_RATE: '0',
      SWITCH_CONNECTION_RATE: '0',
      SWITCH_PEER_RATE: '0',
      SWITCH_MAX_CONNECTIONS_PER_PEER: '0',
      // Most tests speak for terminals without keys; the MAC's own tests set SWITCH_AUTH=mac.
      SWITCH_AUTH: 'none',
      CYNOD_DEV: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | string>((r) => child.once('exit', (code, signal) => r(code ?? signal ?? 'unknown')));
  let metricsPort = 0;
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`switch did not start: ${logs.slice(-5).join('\n')}`)), 20_000);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        if (line.includes('metrics and health')) {
          metricsPort = Number(/"port":(\d+)/.exec(line)?.[1] ?? 0);
          clearTimeout(timer);
          resolve();
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
    void exited.then((code) => reject(new Error(`switch exited (${code}) before listening: ${logs.slice(-5).join('\n')}`)));
  });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    // Its last cache write-backs may land after the test's own cleanup: clean again once it is gone.
    if (env.REDIS_PREFIX) await dropPrefix(env.REDIS_PREFIX);
  });
  return { child, port, metricsPort, logs, exited };
}
