// `hostsentry --replay`: the real CLI over a real wtmp built by util-linux's utmpdump -r. Ten days of
// office logins from one network, then a 03:00 login from a new network while the user is still
// logged in from the office: NewSource, OddLoginTime and MultipleLogins, each once, and nothing
// during the ordinary days; a zeroed record is counted, not a crash; nothing is kept without --save.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasUtmpdump, utmpdumpR, utmpLine } from './utmpdump.js';

const CLI = fileURLToPath(new URL('../../bin/hostsentry.js', import.meta.url));

const rec = utmpLine;

test('a replay of a real wtmp names the intruder once per module', { skip: hasUtmpdump() ? false : 'needs utmpdump (util-linux)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hs-replay-'));
  try {
    let text = '';
    let pid = 2000;
    for (let day = 1; day <= 10; day++) {
      text += rec(7, pid, 'alice', 'pts/1', '192.0.2.10', day, 9, 5);
      text += rec(8, pid, '', 'pts/1', '', day, 17, 30);
      pid++;
    }
    // Day 11: at the office at 09:00 and not logged out, then 03:00 the next night from elsewhere.
    text += rec(7, 3000, 'alice', 'pts/1', '192.0.2.10', 11, 9, 0);
    text += rec(7, 3001, 'alice', 'pts/2', '198.51.100.7', 12, 3, 0);
    const wtmp = join(dir, 'wtmp');
    writeFileSync(wtmp, utmpdumpR(text));
    appendFileSync(wtmp, Buffer.alloc(384)); // a zeroed record
    const conf = join(dir, 'hostsentry.yaml');
    writeFileSync(conf, `database: ${join(dir, 'history')}\n`);
    const r = spawnSync(process.execPath, [CLI, '-c', conf, '--replay', wtmp], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').filter(Boolean);
    const modules = lines.map((l) => /hostsentry: (\w+):/.exec(l)?.[1]);
    assert.deepEqual([...modules].sort(), ['MultipleLogins', 'NewSource', 'OddLoginTime', 'RecordTamper'], r.stdout);
    const wiped = lines.filter((l) => l.includes('RecordTamper'));
    assert.match(wiped[0] ?? '', /^attackalert: hostsentry: RecordTamper: at 2026-11-12T03:00:00Z: .*wtmp: 1 record zeroed, the first at offset 8448/);
    for (const l of lines.filter((x) => !x.includes('RecordTamper'))) {
      assert.match(l, /^(securityalert|attackalert): hostsentry: \w+: user alice on pts\/2 from 198\.51\.100\.7 at 2026-11-12T03:00:00Z: /);
    }
    assert.match(r.stderr, /22 login records, 4 anomalies; bad records: 1 zeroed/);
    assert.equal(existsSync(join(dir, 'history')), false, 'nothing kept without --save');

    const saved = spawnSync(process.execPath, [CLI, '-c', conf, '--replay', wtmp, '--save'], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    assert.equal(saved.status, 0, saved.stderr);
    const stat = spawnSync(process.execPath, [CLI, '-c', conf, 'stat', 'alice'], { encoding: 'utf8' });
    assert.equal(stat.status, 0, stat.stderr);
    assert.match(stat.stdout, /alice/);
    assert.match(stat.stdout, /192\.0\.2\.10/);
    assert.match(stat.stdout, /198\.51\.100\.7/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
