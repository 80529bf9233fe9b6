import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHostsentryConfig } from '../src/config.js';
import { emptyHistory, type History, type LoginRecord } from '../src/core/history.js';
import { formatAnomaly, runModules, step, type Anomaly, type ModuleContext, type ModulesConfig, type PasswdEntry } from '../src/core/modules.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const SHIPPED = checkHostsentryConfig(join(ROOT, 'etc', 'hostsentry.yaml'));
const DAY = 86400_000;
const HOUR = 3600_000;
const T0 = Date.UTC(2026, 10, 9, 0, 0); // Monday 00:00Z
const USERS: Record<string, PasswdEntry> = {
  alice: { uid: 1000, shell: '/bin/bash' },
  bob: { uid: 1001, shell: '/bin/bash' },
  www: { uid: 33, shell: '/usr/sbin/nologin' },
  svc: { uid: 1500, shell: '/bin/false' },
  root: { uid: 0, shell: '/bin/bash' },
};
const CTX: ModuleContext = { passwd: (u) => USERS[u] };

type Mods = ModulesConfig['modules'];
function config(over: { [K in keyof Mods]?: Partial<Mods[K]> } = {}, learning = 7 * 86400): ModulesConfig {
  const m = SHIPPED.modules;
  return {
    learning_period: learning,
    modules: {
      first_login: { ...m.first_login, ...over.first_login },
      foreign_domain: { ...m.foreign_domain, ...over.foreign_domain },
      new_source: { ...m.new_source, ...over.new_source },
      odd_login_time: { ...m.odd_login_time, ...over.odd_login_time },
      multiple_logins: { ...m.multiple_logins, ...over.multiple_logins },
      system_account_login: { ...m.system_account_login, ...over.system_account_login },
    },
  };
}

let pid = 1000;
function rec(over: Partial<LoginRecord>): LoginRecord {
  return { user: 'alice', tty: 'pts/0', host: '', address: '192.0.2.10', time: T0, kind: 'login', pid: ++pid, session: pid, origin: 'wtmp', ...over };
}

/** Feeds records through step(), collecting every anomaly. */
function feed(h: History, recs: LoginRecord[], c: ModulesConfig): { history: History; anomalies: Anomaly[] } {
  const all: Anomaly[] = [];
  for (const r of recs) {
    const out = step(h, r, c, CTX);
    h = out.history;
    all.push(...out.anomalies);
  }
  return { history: h, anomalies: all };
}

/** Ten days of office logins (09:00-17:00 UTC) from 192.0.2.0/24, each with its logout. */
function officeWeeks(): LoginRecord[] {
  const out: LoginRecord[] = [];
  for (let d = 0; d < 10; d++) {
    const login = rec({ time: T0 + d * DAY + 9 * HOUR, address: `192.0.2.${10 + (d % 3)}` });
    out.push(login, rec({ user: '', kind: 'logout', pid: login.pid, time: T0 + d * DAY + 17 * HOUR }));
  }
  return out;
}

test('a week of office logins: no anomaly (learning, then habits)', () => {
  const { anomalies } = feed(emptyHistory(), officeWeeks(), config());
  assert.deepEqual(anomalies, []);
});

test('a new network at 03:00 while logged in elsewhere: NewSource, OddLoginTime, MultipleLogins, each once per session', () => {
  const c = config();
  let { history } = feed(emptyHistory(), officeWeeks(), c);
  const day = T0 + 11 * DAY;
  // Still logged in from the office since yesterday 09:00 (no logout yet) ...
  const office = feed(history, [rec({ time: day - 15 * HOUR, tty: 'pts/0' })], c);
  assert.deepEqual(office.anomalies, []);
  history = office.history;
  // ... and a login from a new network at 03:00: wtmp, then sshd line and utmp of the same session.
  const intruder = rec({ time: day + 3 * HOUR, tty: 'pts/5', address: '198.51.100.7' });
  const { anomalies } = feed(history, [intruder, { ...intruder, origin: 'sshd', time: intruder.time + 500 }, { ...intruder, origin: 'utmp' }], c);
  assert.deepEqual(anomalies.map((a) => a.module).sort(), ['MultipleLogins', 'NewSource', 'OddLoginTime']);
  const ns = anomalies.find((a) => a.module === 'NewSource')!;
  assert.equal(
    formatAnomaly(ns),
    'securityalert: hostsentry: NewSource: user alice on pts/5 from 198.51.100.7 at 2026-11-20T03:00:00Z: first login from 198.51.100.0/24 (known: 192.0.2.0/24)',
  );
  assert.match(anomalies.find((a) => a.module === 'MultipleLogins')!.evidence, /192\.0\.2\.10 on pts\/0/);
});

test('multiple_logins.allow exempts a jump host; a disabled module is silent', () => {
  const c = config({ multiple_logins: { allow: ['192.0.2.0/24'] }, new_source: { enabled: false } });
  let { history } = feed(emptyHistory(), officeWeeks(), c);
  ({ history } = feed(history, [rec({ time: T0 + 11 * DAY + 10 * HOUR })], c));
  const { anomalies } = feed(history, [rec({ time: T0 + 11 * DAY + 11 * HOUR, tty: 'pts/5', address: '198.51.100.7' })], c);
  assert.deepEqual(anomalies.map((a) => a.module), []);
});

test('learning period suppresses NewSource, OddLoginTime and FirstLogin; FirstLogin fires after it', () => {
  const c = config();
  let { history } = feed(emptyHistory(), [rec({ time: T0 + 9 * HOUR }), rec({ user: '', kind: 'logout', time: T0 + 10 * HOUR })], c);
  const during = feed(history, [rec({ user: 'bob', time: T0 + DAY + 3 * HOUR, address: '203.0.113.9' }), rec({ time: T0 + 2 * DAY + 3 * HOUR, address: '203.0.113.9' })], c);
  assert.deepEqual(during.anomalies, []);
  history = during.history;
  const after = feed(history, [rec({ user: 'carol', time: T0 + 8 * DAY + 10 * HOUR, address: '192.0.2.99' })], c);
  assert.deepEqual(after.anomalies.map((a) => a.module), ['FirstLogin']);
  // With learning_period 0 the very first login already alerts.
  assert.deepEqual(runModules(emptyHistory(), rec({}), config({}, 0), CTX).map((a) => a.module), ['FirstLogin']);
});

test('ForeignDomain: CIDR and domain suffix allow; local logins pass', () => {
  const c = config({ foreign_domain: { enabled: true, allow: ['192.0.2.0/24', '.corp.example', 'bastion.example.net'] }, first_login: { enabled: false }, system_account_login: { enabled: false } }, 0);
  const mods = (r: LoginRecord): string[] => runModules(emptyHistory(), r, c, CTX).map((a) => a.module);
  assert.deepEqual(mods(rec({ address: '192.0.2.200' })), []);
  assert.deepEqual(mods(rec({ address: undefined, host: 'WS7.Corp.Example.' })), []);
  assert.deepEqual(mods(rec({ address: undefined, host: 'bastion.example.net' })), []);
  assert.deepEqual(mods(rec({ address: undefined, host: '', tty: 'tty1' })), []);
  assert.deepEqual(mods(rec({ address: '198.51.100.1' })), ['ForeignDomain']);
  assert.deepEqual(mods(rec({ address: undefined, host: 'evilcorp.example' })), ['ForeignDomain']);
  const a = runModules(emptyHistory(), rec({ address: '198.51.100.1' }), c, CTX)[0]!;
  assert.match(formatAnomaly(a), /^attackalert: hostsentry: ForeignDomain: /);
});

test('SystemAccountLogin via an injected passwd function', () => {
  const c = config({ first_login: { enabled: false }, system_account_login: { allow_users: ['root'] } }, 0);
  const mods = (user: string): Anomaly[] => runModules(emptyHistory(), rec({ user }), c, CTX);
  assert.deepEqual(mods('www').map((a) => a.module), ['SystemAccountLogin']);
  assert.match(mods('www')[0]!.evidence, /uid 33 is below 1000, shell \/usr\/sbin\/nologin/);
  assert.deepEqual(mods('svc').map((a) => a.module), ['SystemAccountLogin']);
  assert.deepEqual(mods('alice'), []);
  assert.deepEqual(mods('root'), []);
  assert.deepEqual(mods('ghost'), []);
});

test('odd_login_time windows wrap past midnight', () => {
  const c = config({ odd_login_time: { learned_hours: false, windows: ['22:00-06:00'] }, first_login: { enabled: false } }, 0);
  const at = (h: number): string[] => runModules(emptyHistory(), rec({ time: T0 + h * HOUR }), c, CTX).map((a) => a.module);
  assert.deepEqual(at(23), []);
  assert.deepEqual(at(3), []);
  assert.deepEqual(at(12), ['OddLoginTime']);
});

test('a hostile host name with control characters stays one line', () => {
  const c = config({ foreign_domain: { enabled: true, allow: ['192.0.2.0/24'] } }, 0);
  const evil = 'x.example\nJan  1 00:00:00 host sshd[1]: Accepted password for root\r\x1b[2J';
  const out = runModules(emptyHistory(), rec({ address: undefined, host: evil, user: 'al\nice' }), c, CTX);
  assert.ok(out.length >= 2);
  for (const a of out) {
    const line = formatAnomaly(a);
    assert.doesNotMatch(line, /[\x00-\x1f\x7f]/);
    assert.match(line, /#012/);
  }
});
