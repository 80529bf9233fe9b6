// `logsentry -c logcheck.conf`: Debian's own logcheck.conf (from the extracted package when present,
// else its text as shipped) becomes logsentry settings; shell it would need to run is refused with
// file:line, never guessed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigErrors, loadCheckedConfig } from '@trisentry/shared';
import { logcheckConfFlags, parseShellAssignments } from '../src/logcheckconf.js';
import { logsentryConfigProblems, logsentrySchema } from '../src/config.js';

const DEBIAN = '/opt/trisentry-ref/logcheck/etc/logcheck/logcheck.conf';
const SHIPPED_YAML = new URL('../../../etc/logsentry.yaml', import.meta.url).pathname;

function tmp(name: string, text: string): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ls-conf-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return { dir, path };
}

test("Debian's logcheck.conf maps onto logsentry settings", () => {
  const text = existsSync(DEBIAN)
    ? undefined
    : '# Controls the level of filtering\nREPORTLEVEL="server"\nSENDMAILTO="logcheck"\nMAILASATTACH=0\nFQDN=1\nTMP="/tmp"\n';
  const { dir, path } = text === undefined ? { dir: undefined, path: DEBIAN } : tmp('logcheck.conf', text);
  try {
    const flags = logcheckConfFlags(path);
    const byPath = Object.fromEntries(flags.map((f) => [f.path, f.value]));
    assert.equal(byPath['report.level'], 'server');
    assert.equal(byPath['mail.to'], 'logcheck');
    assert.equal(byPath['mail.attach'], 'none');
    assert.equal(byPath['report.subject.fqdn'], 'true');
    // And the shipped YAML with these overrides is a valid config.
    const cfg = loadCheckedConfig(logsentrySchema, SHIPPED_YAML, logsentryConfigProblems, flags).config;
    assert.deepEqual(cfg.mail.to, ['logcheck']);
    assert.equal(cfg.report.level, 'server');
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

test('quoting forms, comments, last assignment wins, and the DATE idiom', () => {
  const a = parseShellAssignments("# c\nA=1\n  B='x y'\nC=\"z\" # note\nA=2\nDATE=\"$(date +'%Y-%m-%d %H:%M')\"\n", 'f');
  assert.deepEqual(
    a.map((x) => [x.key, x.value]),
    [['A', '1'], ['B', 'x y'], ['C', 'z'], ['A', '2'], ['DATE', '%Y-%m-%d %H:%M']],
  );
  const { dir, path } = tmp('l.conf', 'REPORTLEVEL=paranoid\nREPORTLEVEL=workstation\nSENDMAILTO="root admin@example.org"\nADDTAG="yes"\n');
  try {
    const byPath = Object.fromEntries(logcheckConfFlags(path).map((f) => [f.path, f.value]));
    assert.equal(byPath['report.level'], 'workstation');
    assert.equal(byPath['mail.to'], 'root, admin@example.org');
    assert.equal(byPath['report.subject.add_tag'], 'true');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what needs a shell, unknown keys and bad values are errors with file:line, all at once', () => {
  const { dir, path } = tmp('bad.conf', 'SENDMAILTO="$USER"\nREPORTLEVEL=loud\nMAILASATTACH=7\nRULEDIR=`pwd`\nREPROTLEVEL=server\n');
  try {
    assert.throws(
      () => logcheckConfFlags(path),
      (e: unknown) => {
        assert.ok(e instanceof ConfigErrors);
        const m = e.message;
        assert.match(m, new RegExp(`${path}:1:1: SENDMAILTO: expansion`));
        assert.match(m, new RegExp(`${path}:4:1: RULEDIR: unexpected`));
        return true;
      },
    );
    const { dir: d2, path: p2 } = tmp('bad2.conf', 'REPORTLEVEL=loud\nMAILASATTACH=7\nREPROTLEVEL=server\n');
    try {
      assert.throws(
        () => logcheckConfFlags(p2),
        (e: unknown) => {
          assert.ok(e instanceof ConfigErrors);
          assert.match(e.message, /:1:\d+: REPORTLEVEL: expected workstation, server or paranoid/);
          assert.match(e.message, /:2:\d+: MAILASATTACH: expected 0, 1 or 2/);
          assert.match(e.message, /:3:\d+: REPROTLEVEL: unknown logcheck.conf key/);
          return true;
        },
      );
    } finally {
      rmSync(d2, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
