// The patched `cap` binding (patches/cap+0.2.1.patch): packet timestamps, pcap_stats, the optional
// promisc flag, and that misuse throws instead of aborting the process. Real captures on `lo`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type CapNs from 'cap';

type CapExports = typeof CapNs;

// Loaded dynamically so a missing native build skips these tests instead of failing the file; the
// `.default` is the same CommonJS interop a static `import cap from 'cap'` relies on.
let capModule: CapExports | undefined;
let skip: string | false = false;
if (process.getuid?.() !== 0) {
  skip = 'needs root: opening a pcap handle needs CAP_NET_RAW';
} else {
  try {
    capModule = (await import('cap')).default;
  } catch (e) {
    skip = `the cap module did not load: ${(e as Error).message} (run scripts/setup)`;
  }
}

function loadedCap(): CapExports {
  assert.ok(capModule, 'cap is loaded when the test is not skipped');
  return capModule;
}

function bindLoopback(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

function send(s: Socket, payload: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => s.send(payload, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

interface Seen {
  readonly frame: Buffer;
  readonly truncated: boolean;
  readonly tsSec: number;
  readonly tsUsec: number;
}

const SENT = 5;

test('captured packets carry their capture time and are counted by stats()', { skip }, async () => {
  const { Cap } = loadedCap();
  const receiver = await bindLoopback();
  const sender = createSocket('udp4');
  const cap = new Cap();
  try {
    const port = receiver.address().port;
    const buf = Buffer.alloc(65_536);
    const linkType = cap.open('lo', `udp and dst port ${port}`, 1 << 20, buf);
    assert.equal(linkType, 'ETHERNET');

    const seen: Seen[] = [];
    const all = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${SENT} packets captured`)), 5000);
      cap.on('packet', (nbytes, truncated, tsSec, tsUsec) => {
        // the buffer is reused for the next frame, so keep a copy
        seen.push({ frame: Buffer.from(buf.subarray(0, nbytes)), truncated, tsSec, tsUsec });
        if (seen.length === SENT) {
          clearTimeout(timer);
          resolve();
        }
      });
    });

    const before = Date.now();
    for (let i = 0; i < SENT; i++) await send(sender, Buffer.from(`trisentry-cap-test-${i}`), port);
    await all;
    const after = Date.now();

    for (const [i, p] of seen.entries()) {
      assert.equal(p.truncated, false);
      assert.ok(p.frame.includes(`trisentry-cap-test-${i}`), `frame ${i} holds its own payload`);
      assert.ok(Number.isInteger(p.tsSec) && Number.isInteger(p.tsUsec), 'integral seconds and microseconds');
      assert.ok(p.tsUsec >= 0 && p.tsUsec < 1_000_000, `tsUsec ${p.tsUsec} is a microsecond count`);
      const ms = p.tsSec * 1000 + p.tsUsec / 1000;
      assert.ok(ms >= before - 2000 && ms <= after + 2000, `timestamp ${ms} lies within 2 s of [${before}, ${after}]`);
    }
    const times = seen.map((p) => p.tsSec * 1e6 + p.tsUsec);
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'timestamps do not go backwards');

    const stats = cap.stats();
    assert.deepEqual(Object.keys(stats).sort(), ['dropped', 'ifdropped', 'received']);
    // on lo the kernel counts each packet once per direction, so at least SENT, usually 2 * SENT
    assert.ok(stats.received >= SENT, `received ${stats.received} >= ${SENT}`);
    assert.ok(Number.isInteger(stats.dropped) && stats.dropped >= 0, `dropped ${stats.dropped}`);
    assert.ok(Number.isInteger(stats.ifdropped) && stats.ifdropped >= 0, `ifdropped ${stats.ifdropped}`);
  } finally {
    cap.close();
    sender.close();
    receiver.close();
  }
});

test('stats() throws instead of crashing on a handle that is not open', { skip }, () => {
  const { Cap } = loadedCap();
  const never = new Cap();
  assert.throws(() => never.stats(), /not currently capturing/i);

  const cap = new Cap();
  cap.open('lo', 'udp and dst port 9', 1 << 20, Buffer.alloc(65_536));
  assert.equal(cap.stats().dropped, 0);
  assert.equal(cap.close(), true);
  assert.throws(() => cap.stats(), /not currently capturing/i);
  assert.equal(cap.close(), false, 'a second close has nothing to close');
});

test('a failed open leaves a closed handle that can be closed and reused', { skip }, () => {
  const { Cap } = loadedCap();
  const cap = new Cap();
  const buf = Buffer.alloc(65_536);
  assert.throws(() => cap.open('lo', 'not a bpf expression (', 1 << 20, buf), /syntax error|parse/i);
  // unpatched, this close() aborted the process in uv_poll_stop on a never-initialised handle
  assert.equal(cap.close(), false);
  assert.throws(() => cap.stats(), /not currently capturing/i);
  assert.throws(() => cap.open('no-such-if0', '', 1 << 20, buf), Error);
  assert.equal(cap.open('lo', 'udp and dst port 9', 1 << 20, buf), 'ETHERNET');
  assert.equal(cap.close(), true);
});

test('open takes an optional promisc flag and refuses a second open', { skip }, () => {
  const { Cap } = loadedCap();
  const buf = Buffer.alloc(65_536);
  const wrongFlag = new Cap();
  assert.throws(() => (wrongFlag.open as (...a: unknown[]) => string)('lo', '', 1 << 20, buf, 'yes'), TypeError);

  const cap = new Cap();
  try {
    assert.equal(cap.open('lo', 'udp and dst port 9', 1 << 20, buf, false), 'ETHERNET');
    assert.throws(() => cap.open('lo', '', 1 << 20, buf), /already opened/);
    assert.ok(cap.stats().received >= 0, 'the first handle is still open after the refused reopen');
  } finally {
    cap.close();
  }
});

test('close() from inside a packet listener stops the capture without crashing', { skip }, async () => {
  const { Cap } = loadedCap();
  const receiver = await bindLoopback();
  const sender = createSocket('udp4');
  const cap = new Cap();
  try {
    const port = receiver.address().port;
    cap.open('lo', `udp and dst port ${port}`, 1 << 20, Buffer.alloc(65_536));
    let calls = 0;
    const first = new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no packet captured')), 5000);
      cap.on('packet', () => {
        calls++;
        clearTimeout(timer);
        resolve(cap.close());
      });
    });
    // a burst, so more frames may still be queued when the listener closes the handle
    for (let i = 0; i < SENT; i++) await send(sender, Buffer.from(`burst-${i}`), port);
    assert.equal(await first, true);
    await send(sender, Buffer.from('after-close'), port);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(calls, 1, 'no packet is emitted after close()');
    assert.throws(() => cap.stats(), /not currently capturing/i);
    assert.equal(cap.close(), false);
  } finally {
    cap.close();
    sender.close();
    receiver.close();
  }
});

test('collected Cap objects, open or never opened, do not crash the process', { skip }, async () => {
  const { Cap } = loadedCap();
  // node --test gives no --expose-gc; this is the documented way to get gc() at run time
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const buf = Buffer.alloc(65_536);
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 10; i++) {
      new Cap();
      const failed = new Cap();
      assert.throws(() => failed.open('lo', 'not a bpf expression (', 1 << 20, buf));
      const used = new Cap();
      used.open('lo', 'udp and dst port 9', 1 << 20, buf);
      used.close();
    }
    // libuv's close callbacks release the closed handles on the next loop turn; then collect them
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  // the loop's handle list must still be sound: a fresh capture works end to end
  const receiver = await bindLoopback();
  const sender = createSocket('udp4');
  const cap = new Cap();
  try {
    const port = receiver.address().port;
    cap.open('lo', `udp and dst port ${port}`, 1 << 20, buf);
    const got = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no packet captured after the collections')), 5000);
      cap.on('packet', (nbytes) => {
        clearTimeout(timer);
        resolve(nbytes);
      });
    });
    await send(sender, Buffer.from('after-gc'), port);
    assert.ok((await got) > 0);
  } finally {
    cap.close();
    sender.close();
    receiver.close();
  }
});

test('setFilter replaces the filter of an open handle in place', { skip }, async () => {
  const { Cap } = loadedCap();
  const a = await bindLoopback();
  const b = await bindLoopback();
  const sender = createSocket('udp4');
  const cap = new Cap();
  const buf = Buffer.alloc(65_536);
  const seen: string[] = [];
  try {
    const pa = a.address().port;
    const pb = b.address().port;
    cap.open('lo', `udp and dst port ${pa}`, 1 << 20, buf, false, 1024);
    cap.on('packet', (n: number) => seen.push(buf.subarray(0, n).toString('latin1').replace(/^[\s\S]*?(to-\w+-\d)$/, '$1')));
    await send(sender, Buffer.from('to-a-1'), pa);
    await new Promise((r) => setTimeout(r, 100));
    cap.setFilter(`udp and dst port ${pb}`);
    await send(sender, Buffer.from('to-a-2'), pa);
    await send(sender, Buffer.from('to-b-1'), pb);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen, ['to-a-1', 'to-b-1']);
    assert.throws(() => cap.setFilter('not a filter ((('), /syntax|parse|error/i);
    cap.close();
    assert.throws(() => cap.setFilter('udp'), /not currently capturing/i);
  } finally {
    cap.close();
    sender.close();
    a.close();
    b.close();
  }
});
