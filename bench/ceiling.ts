/**
 * Benchmark-only: the switch's own TCP server and codec (switch/server.ts, protocol/) with
 * a handler that answers every request 00 at once — no cache, no ledger. What the front of
 * the switch can do on this machine is the ceiling the real switch is compared with.
 * Started by bench/switch.ts as a child process; prints {"port": N} when listening.
 */
import { ascii87, expectsResponse } from '../protocol/index.js';
import { SwitchServer } from '../switch/server.js';
import { answer } from '../switch/authorize/response.js';

const server = new SwitchServer(
  [{ name: 'ceiling', host: '127.0.0.1', port: Number(process.env.PORT ?? 0), framing: { header: 'binary2', maxFrame: 4096 }, spec: ascii87 }],
  {
    maxConnections: 20_000,
    maxInFlightPerConnection: 64,
    maxInFlightTotal: 20_000,
    idleTimeoutMs: 300_000,
    frameTimeoutMs: 10_000,
    // no sessions here (nothing signs on), and the load comes from one address, as for the switch under test
    signOnTimeoutMs: 300_000,
    maxConnectionsPerPeer: 0,
    connectionRate: 0,
    connectionBurst: 1,
    peerRate: 0,
    peerBurst: 1,
  },
  async (msg) => (expectsResponse(msg.mti) ? answer(msg, { code: '00', rrnOf: 1, approvalCode: '000001', available: 100_000 }) : null),
);
const [l] = await server.listen();
process.stdout.write(JSON.stringify({ port: l.port }) + '\n');
process.on('SIGTERM', () => void server.close(1000).then(() => process.exit(0)));
