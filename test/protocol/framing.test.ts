import t from 'tap';
import { Framer, FrameError, frame, framePrefixBytes, tpduReply, writeFramePrefix, type FramingOptions, type LengthHeader } from '../../protocol/index.js';

const HEADERS: LengthHeader[] = ['binary2', 'bcd2', 'ascii4'];
const TPDU = Buffer.from([0x60, 0x00, 0x01, 0x00, 0x02]);

function collect(framer: Framer, chunks: Buffer[]): { messages: string[]; tpdus: string[] } {
  const messages: string[] = [];
  const tpdus: string[] = [];
  for (const c of chunks) {
    framer.push(c, (m, tp) => {
      messages.push(m.toString('hex'));
      if (tp) tpdus.push(tp.toString('hex'));
    });
  }
  return { messages, tpdus };
}

t.test('headers match other implementations (moov-io network/ headers)', async (t) => {
  t.equal(frame(Buffer.alloc(319), { header: 'binary2' }).subarray(0, 2).toString('hex'), '013f');
  t.equal(frame(Buffer.alloc(115), { header: 'bcd2' }).subarray(0, 2).toString('hex'), '0115');
  t.equal(frame(Buffer.alloc(115), { header: 'ascii4' }).subarray(0, 4).toString(), '0115');
  const withTpdu = frame(Buffer.from('ABC'), { header: 'binary2', tpdu: true }, TPDU);
  t.equal(withTpdu.toString('hex'), '0008' + TPDU.toString('hex') + '414243', 'the length counts the TPDU');
  t.equal(framePrefixBytes({ header: 'ascii4', tpdu: true }), 9);
});

t.test('every split point of a multi-frame stream gives the same frames', async (t) => {
  for (const header of HEADERS) {
    for (const tpdu of [false, true]) {
      const opts: FramingOptions = { header, tpdu };
      const bodies = [Buffer.from('0800first'), Buffer.alloc(300, 0x41), Buffer.from('x'), Buffer.from('0210' + 'z'.repeat(40))];
      const stream = Buffer.concat(bodies.map((b) => frame(b, opts, tpdu ? TPDU : undefined)));
      const want = bodies.map((b) => b.toString('hex'));
      let splits = 0;
      for (let i = 0; i <= stream.length; i++) {
        const got = collect(new Framer(opts), [stream.subarray(0, i), stream.subarray(i)]);
        if (JSON.stringify(got.messages) !== JSON.stringify(want)) t.fail(`${header}/${tpdu}: split at ${i}`);
        if (tpdu && got.tpdus.length !== bodies.length) t.fail('tpdu missing');
        splits++;
      }
      // Three pieces at a stride, and one byte at a time.
      for (let i = 0; i < stream.length; i += 7) {
        for (let j = i; j <= stream.length; j += 13) {
          const got = collect(new Framer(opts), [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
          if (JSON.stringify(got.messages) !== JSON.stringify(want)) t.fail(`${header}/${tpdu}: splits at ${i},${j}`);
          splits++;
        }
      }
      const bytes = [...stream].map((b) => Buffer.from([b]));
      t.same(collect(new Framer(opts), bytes).messages, want, `${header} tpdu=${tpdu}: one byte at a time`);
      t.ok(splits > stream.length, `${header} tpdu=${tpdu}: ${splits} splittings`);
    }
  }
});

t.test('a frame within one chunk is a view, not a copy', async (t) => {
  const chunk = frame(Buffer.from('hello'));
  let view: Buffer | undefined;
  new Framer().push(chunk, (m) => (view = m));
  t.equal(view?.buffer, chunk.buffer);
});

t.test('pending counts a started frame', async (t) => {
  const f = new Framer();
  const whole = frame(Buffer.from('hello world'));
  f.push(whole.subarray(0, 1), () => {});
  t.equal(f.pending, 1);
  f.push(whole.subarray(1, 6), () => {});
  t.equal(f.pending, 6);
  let done = 0;
  f.push(whole.subarray(6), () => done++);
  t.equal(done, 1);
  t.equal(f.pending, 0);
});

t.test('bad headers are typed errors, and nothing is allocated for them', async (t) => {
  const cases: [FramingOptions, Buffer, RegExp][] = [
    [{}, Buffer.from([0xff, 0xff, 1, 2, 3]), /65535 bytes exceeds the maximum of 4096/],
    [{ maxFrame: 100 }, Buffer.from([0x00, 0x65]), /101 bytes exceeds the maximum of 100/],
    [{}, Buffer.from([0x00, 0x00]), /zero-length/],
    [{ header: 'ascii4' }, Buffer.from('00x1abc'), /not 4 digits/],
    [{ header: 'ascii4' }, Buffer.from('9999'), /exceeds the maximum/],
    [{ header: 'bcd2' }, Buffer.from([0x0a, 0x00]), /not BCD/],
    [{ tpdu: true }, Buffer.from([0x00, 0x05, 0x60, 0, 0, 0, 0]), /cannot hold a TPDU/],
  ];
  for (const [opts, bytes, re] of cases) {
    const f = new Framer(opts);
    const err = t.throws(() => f.push(bytes, () => t.fail('no frame expected')), FrameError) as unknown as FrameError;
    t.match(err.message, re);
    t.equal(f.pending, 0, 'nothing buffered for a rejected header');
    t.throws(() => f.push(Buffer.from([0, 1, 0x41]), () => {}), FrameError, 'the framer stays failed');
  }
  // Frames before the bad header are delivered; the offset names where the stream broke.
  const f = new Framer();
  const good = frame(Buffer.from('ok'));
  const got: string[] = [];
  const err = t.throws(() => f.push(Buffer.concat([good, Buffer.from([0xff, 0xff])]), (m) => got.push(m.toString()))) as unknown as FrameError;
  t.same(got, ['ok']);
  t.equal(err.offset, good.length);
});

t.test('writeFramePrefix fills a reserved prefix; TPDU answers swap the NIIs', async (t) => {
  const buf = Buffer.alloc(9 + 3);
  buf.write('abc', 9);
  writeFramePrefix(buf, { header: 'ascii4', tpdu: true }, TPDU);
  t.equal(buf.toString('hex', 0, 4), Buffer.from('0008').toString('hex'));
  t.equal(buf.toString('hex', 4, 9), TPDU.toString('hex'));
  t.equal(tpduReply(TPDU).toString('hex'), '6000020001');
  t.throws(() => writeFramePrefix(Buffer.alloc(10), { tpdu: true }), /needs a 5-byte TPDU/);
  t.throws(() => frame(Buffer.alloc(5000), { maxFrame: 4096 }), /exceeds the maximum/);
  t.throws(() => frame(Buffer.alloc(10000), { header: 'bcd2' }), /does not fit/);
});
