// rules.locale's adapters (locale.ts): what `auto` resolves to, the start-up check of the host, and
// the system's sort under en_US.UTF-8 (the real sort, run as the run runs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConfigErrors } from '@trisentry/shared';
import { checkLocale, localeAvailable, resolveLocale, ruleFileOrder, systemSort } from '../src/locale.js';
import { sortOrder } from '../src/core/rules.js';
import { generateLog, mutateLog } from './logcheck-ref.js';

const CLI = fileURLToPath(new URL('../../bin/logsentry.js', import.meta.url));
const SHIPPED = fileURLToPath(new URL('../../../etc/logsentry.yaml', import.meta.url));
const EN = localeAvailable('en_US.UTF-8') ? false : 'en_US.UTF-8 is not generated (scripts/setup: locales, localedef -i en_US -f UTF-8 en_US.UTF-8)';
const SORT = spawnSync('sort', ['--version'], { env: { PATH: '/usr/bin:/bin' } }).status === 0 ? false : 'no sort(1) on this host';

test('auto: LC_ALL, else the category, else LANG; unknown locales go to the nearest with a warning', () => {
  const r = (env: Record<string, string>): string => {
    const x = resolveLocale('auto', env);
    return x.warning === undefined ? x.locale : `${x.locale} (warned)`;
  };
  assert.equal(r({}), 'C');
  assert.equal(r({ LANG: 'C' }), 'C');
  assert.equal(r({ LANG: 'POSIX' }), 'C');
  assert.equal(r({ LANG: 'C.UTF-8' }), 'C.UTF-8');
  assert.equal(r({ LANG: 'C.utf8' }), 'C.UTF-8');
  assert.equal(r({ LANG: 'en_US.UTF-8' }), 'en_US.UTF-8');
  assert.equal(r({ LANG: 'en_US.utf8' }), 'en_US.UTF-8');
  assert.equal(r({ LANG: 'en_US.UTF-8', LC_ALL: 'C' }), 'C');
  assert.equal(r({ LANG: 'C', LC_ALL: 'C.UTF-8' }), 'C.UTF-8');
  assert.equal(r({ LANG: 'en_US.UTF-8', LC_ALL: '' }), 'en_US.UTF-8', 'an empty variable is unset');
  // Characters from LC_CTYPE, ranges and the sort from LC_COLLATE.
  assert.equal(r({ LANG: 'C', LC_CTYPE: 'C.UTF-8' }), 'C.UTF-8');
  assert.equal(r({ LANG: 'C.UTF-8', LC_COLLATE: 'en_US.UTF-8' }), 'en_US.UTF-8');
  assert.equal(r({ LANG: 'en_US.UTF-8', LC_COLLATE: 'C' }), 'C.UTF-8');
  assert.equal(r({ LANG: 'C', LC_COLLATE: 'en_US.UTF-8' }), 'C');
  // Other locales: the nearest, said so.
  assert.equal(r({ LANG: 'de_DE.UTF-8' }), 'en_US.UTF-8 (warned)');
  assert.equal(r({ LANG: 'en_US.ISO-8859-1' }), 'C (warned)');
  assert.equal(r({ LANG: 'en_US' }), 'C (warned)');
  assert.match(resolveLocale('auto', { LANG: 'sv_SE.UTF-8' }).warning ?? '', /LANG=sv_SE\.UTF-8 is not a locale logsentry models; matching as en_US\.UTF-8/);
  // A set value is itself, whatever the environment.
  assert.deepEqual(resolveLocale('C.UTF-8', { LANG: 'en_US.UTF-8' }), { locale: 'C.UTF-8', warning: undefined });
});

test('the start-up check: en_US.UTF-8 must be loadable by glibc, else a config error naming rules.locale', () => {
  assert.equal(localeAvailable('C.UTF-8'), true);
  assert.equal(localeAvailable('xx_XX.UTF-8'), false);
  // C and C.UTF-8 need nothing of the host.
  checkLocale({ locale: 'C.UTF-8', warning: undefined }, 'C.UTF-8', () => false);
  let err: unknown;
  try {
    checkLocale({ locale: 'en_US.UTF-8', warning: undefined }, 'auto', () => false);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigErrors);
  assert.equal(err.errors[0]!.key, 'rules.locale');
  assert.equal(err.errors[0]!.code, 'CFG_BAD_VALUE');
  assert.match(err.message, /rules\.locale: auto resolved to en_US\.UTF-8, but the en_US\.UTF-8 locale is not generated.*localedef -i en_US -f UTF-8 en_US\.UTF-8/);
});

test('systemSort under C.UTF-8 is byte order, as the core sorts (invalid bytes included)', { skip: SORT }, async () => {
  const input = mutateLog(generateLog(1500, 41), 3, 2);
  const sorted = await systemSort(input, 'C.UTF-8', 'keys');
  assert.deepEqual(sorted, Array.from(sortOrder(input), (k) => input[k]!));
  assert.deepEqual(await systemSort([], 'C.UTF-8', 'keys'), []);
});

test("systemSort under en_US.UTF-8: glibc's collation, bytes kept, sort -u merging only what en_US calls equal", { skip: EN || SORT }, async () => {
  const lines = [
    'Nov 10 00:00:00 gw app[1]: after midnight',
    'Nov  9 23:59:58 gw app[1]: before midnight',
    '2026-11-22T01:02:03.000000+00:00 web1 app[1]: x',
    '2026-11-22T01:02:03.000000+00:00 Web2 app[1]: y',
    '  Nov 10 00:00:00 gw leading blanks',
  ];
  assert.deepEqual(await systemSort(lines, 'en_US.UTF-8', 'keys'), [lines[2], lines[3], lines[4], lines[0], lines[1]]);
  // Each bad byte weighs the same under en_US: lines differing only in which one they hold are one for sort -u.
  const u = await systemSort(['user x\xe9', 'user x\xea', 'user x\xe2\x82', 'caf\xc3\xa9'], 'en_US.UTF-8', 'unique');
  assert.equal(u.length, 3);
  assert.ok(u.includes('caf\xc3\xa9'), 'bytes come back as they went');
  // The rule files' glob order (the report's sections): punctuation counts last under en_US.
  const tree = { layout: 'debian' as const, violations: [{ name: 'su-extra', text: '' }, { name: 'sudo', text: '' }, { name: 'Kernel', text: '' }, { name: 'apache', text: '' }, { name: 'x.dpkg-old', text: '' }], ignore: {} };
  assert.deepEqual(await ruleFileOrder(tree, 'en_US.UTF-8'), ['apache', 'Kernel', 'sudo', 'su-extra']);
  assert.deepEqual(await ruleFileOrder(tree, 'C.UTF-8'), ['Kernel', 'apache', 'su-extra', 'sudo']);
});

test('`logsentry check --set rules.locale=...` decides in that locale; auto warns on a locale it does not model', { skip: EN }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-locale-cli-'));
  try {
    for (const d of ['cracking.d', 'violations.d', 'violations.ignore.d', 'ignore.d.server']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'violations.d/su'), 'su\\[[0-9]+\\]: \\(to root\\) .*$\n');
    writeFileSync(join(dir, 'violations.ignore.d/su'), 'su\\[[0-9]+\\]: \\(to root\\) [[:alnum:]]+ on pts/[0-9]+$\n');
    const log = join(dir, 'log');
    writeFileSync(log, Buffer.from('Nov 22 01:02:03 gw su[1]: (to root) jos\xc3\xa9 on pts/1\nNov 22 01:02:03 gw su[2]: (to root) m\xfcller on pts/1\n', 'latin1'));
    const check = async (extra: string[], env: Record<string, string> = {}): Promise<{ verdicts: string[]; stderr: string }> => {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, 'check', '-c', SHIPPED, '-r', dir, ...extra, log], { encoding: 'latin1', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } });
      return { verdicts: stdout.split('\n').filter((l) => /^[a-z]+ +\S+\t/.test(l)).map((l) => l.split(' ')[0]!), stderr };
    };
    assert.deepEqual((await check([])).verdicts, ['violation', 'violation']);
    // UTF-8: é is [[:alnum:]] (the ignore rule drops josé), the latin1 byte stops `.*$` (m\xfcller is no violation).
    assert.deepEqual((await check(['--set', 'rules.locale=C.UTF-8'])).verdicts, ['ignored', 'unusual']);
    const auto = await check(['--set', 'rules.locale=auto'], { LANG: 'de_DE.UTF-8' });
    assert.deepEqual(auto.verdicts, ['ignored', 'unusual']);
    assert.match(auto.stderr, /logsentry: warning: rules\.locale auto: LANG=de_DE\.UTF-8 is not a locale logsentry models; matching as en_US\.UTF-8/);
    assert.deepEqual((await check(['--set', 'rules.locale=auto'], { LANG: 'C.UTF-8' })).verdicts, ['ignored', 'unusual']);
    assert.deepEqual((await check(['--set', 'rules.locale=auto'])).verdicts, ['violation', 'violation']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
