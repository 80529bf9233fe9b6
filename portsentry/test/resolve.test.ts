// RESOLVE_HOST against a real DNS server on loopback that answers PTR queries with whatever the test
// wants, hostile names included: only a plain host name is ever used, anything else (and silence)
// gives the address, within the time limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { resolveName } from '../src/adapters/resolve.js';

// PTR answers by the queried name's first label (the last octet of the IPv4 address).
const ANSWERS: Record<string, string | null> = {
  '1': 'scanner.example.net',
  '2': '$(touch /tmp/ts-pwned).example.net',
  '3': 'evil"; rm -rf / #',
  '4': 'line\nbreak.example.net',
  '5': `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`,
  '6': 'back`tick`.example.net',
  '7': null, // never answers
};

let server: Socket;
let resolver: Resolver;

function encodeName(name: string): Buffer {
  const parts = name.split('.').map((l) => Buffer.from(l, 'latin1'));
  return Buffer.concat([...parts.flatMap((p) => [Buffer.from([p.length]), p]), Buffer.from([0])]);
}

before(async () => {
  server = createSocket('udp4');
  server.on('message', (q, rinfo) => {
    // Question name starts at 12; the first label is the last octet of the address.
    const len = q[12]!;
    const label = q.subarray(13, 13 + len).toString('latin1');
    let end = 12;
    while (q[end] !== 0) end += q[end]! + 1;
    const question = q.subarray(12, end + 5);
    const answer = ANSWERS[label];
    if (answer === null) return;
    const header = Buffer.from([q[0]!, q[1]!, 0x81, 0x80, 0, 1, 0, answer === undefined ? 0 : 1, 0, 0, 0, 0]);
    if (answer === undefined) return void server.send(Buffer.concat([header, question]), rinfo.port, rinfo.address);
    const rdata = encodeName(answer);
    const rr = Buffer.concat([Buffer.from([0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, rdata.length >> 8, rdata.length & 0xff]), rdata]);
    server.send(Buffer.concat([header, question, rr]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
  resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([`127.0.0.1:${server.address().port}`]);
});

after(() => server.close());

const reverse = (ip: string): Promise<string[]> => resolver.reverse(ip);

test('a plain host name is used', async () => {
  assert.equal(await resolveName('198.18.99.1', 1000, reverse), 'scanner.example.net');
});

test('hostile names give the address: shell syntax, quotes, newline, backticks, over-long', async () => {
  for (const last of ['2', '3', '4', '5', '6']) {
    const ip = `198.18.99.${last}`;
    assert.equal(await resolveName(ip, 1000, reverse), ip, `PTR ${JSON.stringify(ANSWERS[last])}`);
  }
});

test('no answer within the limit gives the address, on time', async () => {
  const t0 = Date.now();
  assert.equal(await resolveName('198.18.99.7', 300, reverse), '198.18.99.7');
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  assert.equal(await resolveName('198.18.99.8', 1000, reverse), '198.18.99.8', 'no PTR record');
});
