import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TriggerEngine } from '../src/core/trigger.js';

test('SCAN_TRIGGER 0 and 1: the first probe triggers', () => {
  for (const trigger of [0, 1]) {
    const e = new TriggerEngine({ trigger, windowMs: 60_000, maxSources: 10 });
    assert.deepEqual(e.observe('198.18.1.2', 0), { triggered: true, count: 1 });
  }
});

test('SCAN_TRIGGER N: the Nth probe from one source triggers, counted per source', () => {
  const e = new TriggerEngine({ trigger: 3, windowMs: 60_000, maxSources: 10 });
  assert.equal(e.observe('a', 0).triggered, false);
  assert.equal(e.observe('b', 1).triggered, false);
  assert.equal(e.observe('a', 2).triggered, false);
  assert.equal(e.observe('b', 3).triggered, false);
  assert.deepEqual(e.observe('a', 4), { triggered: true, count: 3 });
  assert.equal(e.observe('a', 5).triggered, true, 'stays triggered');
});

test('probes outside the window no longer count', () => {
  const e = new TriggerEngine({ trigger: 2, windowMs: 1000, maxSources: 10 });
  e.observe('a', 0);
  assert.equal(e.observe('a', 5000).triggered, false);
  assert.equal(e.observe('a', 5500).triggered, true);
});

test('a flood of spoofed one-shot sources cannot evict an active scanner, and memory stays bounded', () => {
  const e = new TriggerEngine({ trigger: 5, windowMs: 3_600_000, maxSources: 1000 });
  let t = 0;
  let triggered = false;
  for (let i = 0; i < 100_000; i++) {
    e.observe(`spoof-${i}`, t++);
    if (i % 100 === 0) triggered = e.observe('scanner', t++).triggered || triggered;
  }
  assert.equal(triggered, true, 'the real scanner reached its trigger despite the flood');
  assert.ok(e.stats().tracked <= 1000);
  assert.ok(e.stats().evicted >= 99_000);
});

test('the window slides: the last N probes within the window trigger, whenever they come', () => {
  const e = new TriggerEngine({ trigger: 3, windowMs: 60_000, maxSources: 10 });
  assert.equal(e.observe('a', 0).triggered, false);
  assert.equal(e.observe('a', 50_000).triggered, false);
  assert.equal(e.observe('a', 70_000).triggered, false, 'the probe at 0 has left the window');
  assert.equal(e.observe('a', 80_000).triggered, true, '50 s, 70 s and 80 s are within one minute');
});
