/**
 * The switch process: `node dist/switch/main.js` (make start). Configuration from the
 * environment (switch/config.ts); SIGTERM/SIGINT shut it down gracefully.
 */
import { ConfigError } from '../db/config.js';
import { loadSwitchConfig } from './config.js';
import { startSwitch } from './app.js';
import { tuneGc } from './gc.js';

async function main(): Promise<void> {
  tuneGc();
  let config;
  try {
    config = loadSwitchConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`cynod switch: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const running = await startSwitch(config);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    running.logger.info({ signal }, 'signal received');
    running.close().then(
      () => process.exit(0),
      (e) => {
        running.logger.error({ err: (e as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(`cynod switch: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
