import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressFromBytes } from '@trisentry/shared';
import { formatIp } from '../src/core/addr.js';

test("core's address printer agrees with the shared canonical printer (RFC 5952)", () => {
  let seed = 0x2545f491;
  const rnd = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) & 0xff;
  };
  const cases: Uint8Array[] = [
    new Uint8Array(16),
    Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 1]),
    Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]),
    Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]),
  ];
  for (let i = 0; i < 20_000; i++) {
    const b = new Uint8Array(i % 2 ? 16 : 4);
    // Many zero groups, so the zero-run compression rules are exercised.
    for (let j = 0; j < b.length; j++) b[j] = rnd() < 128 ? 0 : rnd();
    cases.push(b);
  }
  for (const b of cases) assert.equal(formatIp(b), addressFromBytes(b).toString(), Buffer.from(b).toString('hex'));
});
