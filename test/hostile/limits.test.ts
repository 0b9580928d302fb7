// Limits of the TCP front: per-terminal rate, maximum connections, slow clients (a frame
// started and never finished, a client that never reads, many idle connections), TLS and
// mutual TLS. Each against a running switch; none of them stalls the other terminals.
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDb } from '../helpers/db.js';
import { makeWorld, type World } from '../helpers/world.js';
import { TestTerminal, de7, nextStan, testSwitch } from '../helpers/switch.js';
import { Codec, Framer, ascii87, buildDe48, frame, type IsoMessage } from '../../protocol/index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The kernel's TCP buffer size (bytes) of /proc/sys/net/ipv4/`name`: its default or its maximum. */
function tcpBuffer(name: 'tcp_wmem' | 'tcp_rmem', which: 'default' | 'max'): number {
  return Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[which === 'default' ? 1 : 2]);
}

/** The sign-on that opens `terminal`'s session on a connection. */
function signOn(terminal: string): IsoMessage {
  return { mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: terminal, 70: '001' } };
}

function buy(w: World, pan: string, terminal = w.terminal): IsoMessage {
  return {
    mti: '0200',
    fields: { 2: pan, 14: '9912', 3: '000000', 4: '000000000100', 7: de7(), 11: nextStan(), 41: terminal, 42: 'PS_SENOSOFT    ', 48: buildDe48({ SV: 'FUEL' }), 49: '952' },
  };
}

t.test('limits of the TCP front', async (t) => {
  const db = await testDb(t, { max: 20 });
  const w = await makeWorld(db.pool);
  await db.pool.query('UPDATE terminals SET initialized_at = now()');
  const card = await w.card(10_000_000);

  t.test('per-terminal rate limit: the noisy terminal gets 58, the others are served', async (t) => {
    const sw = await testSwitch(t, db, { SWITCH_TERMINAL_RATE: '20', SWITCH_TERMINAL_BURST: '10' });
    const noisy = await TestTerminal.signedOn(sw.port, w.terminal);
    const quiet = await TestTerminal.signedOn(sw.port, w.terminal2);
    t.teardown(() => [noisy, quiet].forEach((x) => x.close()));
    await sleep(100); // the sign-on's token back in the bucket
    const answers = await Promise.all(Array.from({ length: 60 }, () => noisy.send(buy(w, card.pan))));
    const codes = answers.map((a) => a.fields[39]);
    const approved = codes.filter((c) => c === '00').length;
    const limited = answers.filter((a) => a.fields[39] === '58' && String(a.fields[48]).includes('RATE LIMIT')).length;
    t.ok(approved >= 10 && approved <= 13, `the burst of 10 (and what refilled meanwhile) approved: ${approved}`);
    t.equal(approved + limited, 60, `the rest refused for the rate: ${limited}`);
    t.equal((await quiet.send(buy(w, card.pan, w.terminal2))).fields[39], '00', 'another terminal is served');
    await sleep(600);
    t.equal((await noisy.send(buy(w, card.pan))).fields[39], '00', 'the noisy terminal is served again after a pause');
    const metrics = await (await fetch(`http://127.0.0.1:${sw.metricsPort}/metrics`)).text();
    t.match(metrics, /switch_rate_limited_total [1-9]/);
  });

  t.test('a spoofed-DE41 flood from a connection without a session does not starve the real terminal', async (t) => {
    const sw = await testSwitch(t, db, { SWITCH_TERMINAL_RATE: '20', SWITCH_TERMINAL_BURST: '10' });
    const real = await TestTerminal.signedOn(sw.port, w.terminal);
    const spoofer = await TestTerminal.connect(sw.port);
    t.teardown(() => [real, spoofer].forEach((x) => x.close()));
    await sleep(100);
    const flood = await Promise.all(Array.from({ length: 200 }, () => spoofer.send(buy(w, card.pan))));
    t.same([...new Set(flood.map((a) => a.fields[39]))], ['58'], 'the flood: 58 for no session');
    const answers = await Promise.all(Array.from({ length: 5 }, () => real.send(buy(w, card.pan))));
    t.same(answers.map((a) => a.fields[39]), ['00', '00', '00', '00', '00'], 'the real terminal keeps its rate');
  });

  t.test('per connection and per peer address, before decoding: a flood is dropped unread, the others are served', async (t) => {
    const sw = await testSwitch(t, db, { SWITCH_CONNECTION_RATE: '20', SWITCH_CONNECTION_BURST: '10', SWITCH_PEER_RATE: '40', SWITCH_PEER_BURST: '30' });
    const flooder = await TestTerminal.connect(sw.port, { localAddress: '127.0.0.2' });
    const real = await TestTerminal.signedOn(sw.port, w.terminal2);
    t.teardown(() => [flooder, real].forEach((x) => x.close()));
    const codec = new Codec(ascii87);
    flooder.write(Buffer.concat(Array.from({ length: 100 }, () => frame(codec.encode(buy(w, card.pan))))));
    await sleep(300);
    t.ok(flooder.received.length <= 12, `the flooding connection: ${flooder.received.length} of 100 frames answered (burst 10)`);
    t.equal((await real.send(buy(w, card.pan, w.terminal2))).fields[39], '00', 'another connection, from another address, is served');
    // more connections from the flooding address share its peer bucket
    const more = await Promise.all(Array.from({ length: 5 }, () => TestTerminal.connect(sw.port, { localAddress: '127.0.0.2' })));
    t.teardown(() => more.forEach((x) => x.close()));
    for (const m of more) m.write(Buffer.concat(Array.from({ length: 10 }, () => frame(codec.encode(buy(w, card.pan))))));
    await sleep(300);
    const answered = more.reduce((n, m) => n + m.received.length, 0);
    t.ok(answered < 50, `the address's other connections: ${answered} of 50 answered (its bucket, not theirs)`);
    const metrics = await (await fetch(`http://127.0.0.1:${sw.metricsPort}/metrics`)).text();
    t.match(metrics, /switch_refused_total\{reason="connection_rate"\} [1-9]/);
    t.match(metrics, /switch_refused_total\{reason="peer_rate"\} [1-9]/);
    t.equal((await real.send(buy(w, card.pan, w.terminal2))).fields[39], '00', 'the real terminal is still served');
  });

  t.test('connections per peer address: beyond the maximum, a new one is closed', async (t) => {
    const sw = await testSwitch(t, db, { SWITCH_MAX_CONNECTIONS_PER_PEER: '3' });
    const three = await Promise.all(Array.from({ length: 3 }, () => TestTerminal.connect(sw.port, { localAddress: '127.0.0.3' })));
    t.teardown(() => three.forEach((x) => x.close()));
    await sleep(100);
    const fourth = await TestTerminal.connect(sw.port, { localAddress: '127.0.0.3' });
    t.ok(await fourth.waitClosed(2000), 'the fourth from that address is closed');
    const other = await TestTerminal.signedOn(sw.port, w.terminal);
    t.teardown(() => other.close());
    t.equal((await other.send(buy(w, card.pan))).fields[39], '00', 'another address is served');
    three[0].close();
    await sleep(100);
    const again = await TestTerminal.signedOn(sw.port, w.terminal2, { localAddress: '127.0.0.3' });
    t.teardown(() => again.close());
    t.equal((await again.send(buy(w, card.pan, w.terminal2))).fields[39], '00', 'once one closed, the address may connect again');
  });

  t.test('before sign-on the idle timeout is short', async (t) => {
    const sw = await testSwitch(t, db, { SWITCH_SIGN_ON_TIMEOUT_MS: '300', SWITCH_IDLE_TIMEOUT_MS: '60000' });
    const silent = await TestTerminal.connect(sw.port);
    const signedOn = await TestTerminal.signedOn(sw.port, w.terminal);
    t.teardown(() => [silent, signedOn].forEach((x) => x.close()));
    t.ok(await silent.waitClosed(3000), 'a connection that never signs on is closed');
    t.notOk(signedOn.closed, 'a signed-on one, as idle, is kept');
    t.equal((await signedOn.send(buy(w, card.pan))).fields[39], '00');
  });

  t.test('maximum connections: the one too many is closed, the others keep working', async (t) => {
    const sw = await testSwitch(t, db, { SWITCH_MAX_CONNECTIONS: '5' });
    const five = await Promise.all(Array.from({ length: 5 }, () => TestTerminal.signedOn(sw.port, w.terminal)));
    t.teardown(() => five.forEach((x) => x.close()));
    await sleep(100);
    const sixth = await TestTerminal.connect(sw.port);
    t.ok(await sixth.waitClosed(2000), 'the sixth connection is closed by the switch');
    const answers = await Promise.all(five.map((x) => x.send(buy(w, card.pan))));
    t.same(answers.map((a) => a.fields[39]), ['00', '00', '00', '00', '00'], 'the five are served');
  });

  t.test('slow clients do not stall the others', async (t) => {
    const sw = await testSwitch(t, db, { SWITCH_FRAME_TIMEOUT_MS: '300', SWITCH_IDLE_TIMEOUT_MS: '1500', SWITCH_MAX_IN_FLIGHT_PER_CONNECTION: '8' });
    // A frame started and never finished: closed after the frame timeout.
    const half = await TestTerminal.connect(sw.port);
    half.write(frame(new Codec(ascii87).encode(buy(w, card.pan))).subarray(0, 20));
    // A client that never reads its answers: it stops being read once its answers pile up. It
    // first sends echo tests whose answers are more than the kernel can hold for it (the switch's
    // send buffer grows up to tcp_wmem's maximum; the deaf side's receive buffer, never read,
    // stays at tcp_rmem's default), then 3,000 purchases that an unthrottled switch would all
    // handle. Fewer echoes made this depend on how far the send buffer had grown.
    // only this test's rows count (the schema holds the other tests' purchases too)
    const before = (await db.pool.query<{ m: number }>('SELECT coalesce(max(id), 0)::bigint AS m FROM journal')).rows[0].m;
    const deaf = net.connect(sw.port, '127.0.0.1');
    deaf.pause();
    // the switch may close it (its unread frame times out while the switch does not read it)
    deaf.on('error', () => {});
    await new Promise((r) => deaf.once('connect', r));
    const codec = new Codec(ascii87);
    const echo = frame(codec.encode({ mti: '0800', fields: { 7: de7(), 11: '000001', 41: w.terminal, 70: '301' } }));
    const kernelHolds = tcpBuffer('tcp_wmem', 'max') + tcpBuffer('tcp_rmem', 'default') + 65_536;
    const echoes = Math.ceil((2 * kernelHolds) / echo.length);
    const big = Buffer.concat([
      frame(codec.encode(signOn(w.terminal))),
      ...Array.from({ length: echoes }, () => echo),
      ...Array.from({ length: 3000 }, () => frame(codec.encode(buy(w, card.pan)))),
    ]);
    deaf.write(big);
    // Many idle connections.
    const idle = await Promise.all(Array.from({ length: 1000 }, () => new Promise<net.Socket>((r) => {
      const s = net.connect(sw.port, '127.0.0.1', () => r(s));
      s.on('error', () => {});
    })));
    t.teardown(() => {
      idle.forEach((s) => s.destroy());
      deaf.destroy();
      half.close();
    });
    const active = await TestTerminal.signedOn(sw.port, w.terminal2);
    t.teardown(() => active.close());
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 50 }, () => active.send(buy(w, card.pan, w.terminal2))));
    t.same([...new Set(answers.map((a) => a.fields[39]))], ['00'], `another terminal is served (${Math.round(performance.now() - started)} ms for 50)`);
    t.ok(await half.waitClosed(2000), 'the unfinished frame was timed out');
    const journal = await db.pool.query("SELECT count(*)::int AS n FROM journal WHERE terminal_id = $1 AND outcome = 'approved' AND id > $2", [w.terminal, before]);
    t.ok(journal.rows[0].n < 3000, `the deaf client was throttled (${journal.rows[0].n} of its 3000 handled)`);
    await sleep(2000);
    t.ok(idle.filter((s) => s.destroyed || s.readyState === 'closed').length > 990, 'idle connections closed after the idle timeout');
  });

  t.test('TLS, and mutual TLS', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'cynod-tls-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=cynod test CA');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2');
    // client certificates: one naming the terminal by its CN, one by a DNS SAN, one naming another
    const client = (name: string, subject: string, san?: string): void => {
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
      if (san !== undefined) writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
      ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', ...(san !== undefined ? ['-extfile', `${name}.ext`] : []));
    };
    client('client', `/CN=${w.terminal}`);
    client('bysan', '/CN=pump 3, station PS_SENOSOFT', `DNS:${w.terminal}`);
    client('other', '/CN=TPX99999');
    const file = (n: string): Buffer => readFileSync(join(dir, n));
    const ask = (port: number, opts: tls.ConnectionOptions): Promise<IsoMessage> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ port, host: '127.0.0.1', ca: file('ca.crt'), servername: 'localhost', ...opts }, () =>
          s.write(Buffer.concat([frame(codec.encode(signOn(w.terminal))), frame(codec.encode(buy(w, card.pan)))])),
        );
        const codec = new Codec(ascii87);
        const f = new Framer();
        s.on('data', (d) => f.push(d, (body) => {
          const m = codec.decode(body);
          if (m.mti === '0810' && m.fields[39] === '00') return; // the sign-on's answer
          resolve(m);
          s.destroy();
        }));
        s.on('error', reject);
        s.on('close', () => reject(new Error('closed without an answer')));
      });
    const plain = await testSwitch(t, db, { SWITCH_LISTENERS: 'tls:127.0.0.1:0/binary2/ascii87', SWITCH_TLS_CERT: join(dir, 'server.crt'), SWITCH_TLS_KEY: join(dir, 'server.key') });
    t.equal((await ask(plain.port, {})).fields[39], '00', 'a purchase over TLS');
    const mutual = await testSwitch(t, db, {
      SWITCH_LISTENERS: 'tls:127.0.0.1:0/binary2/ascii87',
      SWITCH_TLS_CERT: join(dir, 'server.crt'),
      SWITCH_TLS_KEY: join(dir, 'server.key'),
      SWITCH_TLS_CLIENT_CA: join(dir, 'ca.crt'),
    });
    await t.rejects(ask(mutual.port, {}), 'mutual TLS: no client certificate, no service');
    t.equal((await ask(mutual.port, { cert: file('client.crt'), key: file('client.key') })).fields[39], '00', "mutual TLS with the terminal's certificate (CN)");
    t.equal((await ask(mutual.port, { cert: file('bysan.crt'), key: file('bysan.key') })).fields[39], '00', '... or one naming it in a DNS SAN');
    const refused = await ask(mutual.port, { cert: file('other.crt'), key: file('other.key') });
    t.same([refused.mti, refused.fields[39]], ['0810', '58'], "another terminal's certificate: its sign-on as this terminal gets 58");
    t.equal((await ask(plain.port, { cert: file('other.crt'), key: file('other.key') })).fields[39], '00', 'a listener without a client CA names no terminal: the session rule alone');
    // SWITCH_AUTH=mac: a mutual-TLS listener's certificate proves the terminal; a plain TCP
    // listener beside it requires the MAC
    const both = await testSwitch(t, db, {
      SWITCH_AUTH: 'mac',
      SWITCH_LISTENERS: 'tls:127.0.0.1:0/binary2/ascii87,127.0.0.1:0/binary2/ascii87',
      SWITCH_TLS_CERT: join(dir, 'server.crt'),
      SWITCH_TLS_KEY: join(dir, 'server.key'),
      SWITCH_TLS_CLIENT_CA: join(dir, 'ca.crt'),
    });
    t.equal((await ask(both.port, { cert: file('client.crt'), key: file('client.key') })).fields[39], '00', 'SWITCH_AUTH=mac: mutual TLS needs no MAC');
    const tcp = await TestTerminal.connect(both.listeners[1].port);
    t.teardown(() => tcp.close());
    t.equal(await tcp.signOn(w.terminal), '00');
    t.equal((await tcp.send(buy(w, card.pan))).fields[39], '63', '... while plain TCP beside it does: no MAC, 63');
    const rawPlain = await TestTerminal.connect(plain.port);
    rawPlain.write(frame(new Codec(ascii87).encode(buy(w, card.pan))));
    t.ok(await rawPlain.waitClosed(3000), 'plain TCP to the TLS listener is closed');
  });
});
