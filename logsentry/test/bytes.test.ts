// Log lines travel as bytes end to end, as in Debian's logcheck (grep/sed/sort in the C locale on
// the raw bytes, which it mails as they are): valid UTF-8, latin1 and broken UTF-8 in real log files,
// through runOnce's -o output (compared byte for byte with the real logcheck -o -t), a real SMTP
// server (the body part decoded back to bytes), a spooled report across a failed delivery, the
// journal reader and `logsentry check`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../src/cli.js';
import { dropJournalDuplicates, parseJournalJson, readNew, renderJournalEntry } from '../src/inputs/index.js';
import { createMailer, MailError } from '../src/mail.js';
import { escapeControlByteLines, escapeControlBytes, renderPsionicReport, renderReport, underline } from '../src/report.js';
import { runOnce } from '../src/run.js';
import { pendingSpooled, spoolDirOf } from '../src/spool.js';
import { prng, REF, runLogcheck, type Case } from './logcheck-ref.js';

const CLI = fileURLToPath(new URL('../../bin/logsentry.js', import.meta.url));

/** A byte string (one char per byte) from text pieces and raw bytes. */
function b(...parts: (string | number[])[]): string {
  return parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8').toString('latin1') : Buffer.from(p).toString('latin1'))).join('');
}

const T = 'Nov 21 10:00:0';
// Rules: a latin1 rule byte (0xe9) and UTF-8 rules (é as C3 A9); `x.y` shows `.` is one byte.
const RULES: Record<string, string> = {
  'cracking.d/local-bytes': b('rootkit\n'),
  'cracking.ignore.d/.keep': '',
  'violations.d/local-bytes': b('Failed password\nbadg', [0xe9], '\n'),
  'violations.ignore.d/.keep': '',
  'ignore.d.paranoid/.keep': '',
  'ignore.d.server/local-bytes': b('user café logged in$\none-dot x.y$\n'),
  'ignore.d.workstation/.keep': '',
};

// No control characters: logsentry escapes them on purpose (tested separately below).
const LINES: string[] = [
  b(`${T}1 host evil[1]: rootkit caf`, [0xe9], ' ', [0xff, 0xfe], ' end'),
  b(`${T}2 host evil[2]: rootkit 日本語 🙂 €`),
  b(`${T}3 host sshd[3]: Failed password for josé from 198.18.0.1`),
  b(`${T}3 host sshd[3]: Failed password for jos`, [0xe9], ' from 198.18.0.1'),
  b(`${T}4 host app[4]: badg`, [0xe9], ' latin1 rule hit'),
  b(`${T}4 host app[4]: badgé not a latin1 rule hit`),
  b(`${T}5 host login[5]: user café logged in`),
  b(`${T}5 host login[5]: user caf`, [0xe9], ' logged in'),
  b(`${T}6 host app[6]: one-dot x`, [0xe9], 'y'),
  b(`${T}6 host app[6]: one-dot xéy`),
  b(`${T}7 host app[7]: x`, [0xe9]),
  b(`${T}7 host app[7]: x`, [0xea]),
  b(`${T}7 host app[7]: x`, [0xe2, 0x82]),
  b(`${T}7 host app[7]: x`, [0xe9]),
  b(`${T}8 host app[8]: lone `, [0x80, 0xbf], ' continuation ', [0x85], ' and truncated ', [0xf0, 0x9f, 0x99]),
  b(`${T}8 host app[8]: overlong `, [0xc0, 0xaf], ' surrogate ', [0xed, 0xa0, 0x80], ' fine ü'),
  b(`${T}9 host app[9]: euro € cjk 中文 emoji 🙂 ∑`),
];

interface Setup {
  readonly dir: string;
  readonly log: string;
  readonly rules: string;
  readonly config: string;
}

/** A rule tree, a log file holding `lines` and a logsentry.yaml using them; `report` adds YAML lines under `report:`. */
function setup(lines: readonly string[], opts: { sortUnique?: boolean; port?: number; report?: readonly string[]; attach?: string; rules?: Record<string, string> } = {}): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'ls-bytes-'));
  chmodSync(dir, 0o755);
  const rules = join(dir, 'rules');
  for (const [path, text] of Object.entries(opts.rules ?? RULES)) {
    mkdirSync(join(rules, path, '..'), { recursive: true });
    writeFileSync(join(rules, path), Buffer.from(text, 'latin1'), { mode: 0o644 });
  }
  const log = join(dir, 'syslog');
  writeFileSync(log, Buffer.from(lines.map((l) => `${l}\n`).join(''), 'latin1'), { mode: 0o644 });
  const config = join(dir, 'logsentry.yaml');
  writeFileSync(
    config,
    [
      'report:',
      '  level: server',
      '  intro: false',
      `  sort_unique: ${opts.sortUnique === true}`,
      '  subject:',
      '    hostname: testhost',
      ...(opts.report ?? []),
      'rules:',
      `  dir: ${rules}`,
      'inputs:',
      '  list_files: []',
      '  list_dirs: []',
      `  files: [${log}]`,
      '  journal: "off"',
      '  normalize_timestamps: false',
      'mail:',
      '  transport: smtp',
      '  to: [admin@example.org]',
      '  from: logsentry@testhost',
      `  attach: ${opts.attach ?? 'none'}`,
      '  smtp:',
      '    host: 127.0.0.1',
      `    port: ${opts.port ?? 25}`,
      `state_dir: ${join(dir, 'state')}`,
      // Not `lock`: runLogcheck makes a directory of that name for logcheck.
      `lock_file: ${join(dir, 'logsentry.lock')}`,
      '',
    ].join('\n'),
  );
  return { dir, log, rules, config };
}

/** runOnce with -o (and -t unless `commit`): the bytes it printed. */
async function printed(s: Setup, dryRun = true): Promise<Buffer> {
  const out: Buffer[] = [];
  await runOnce(loadConfig(s.config, []), { stdout: true, test: dryRun, reboot: false, write: (x) => out.push(x) });
  return Buffer.concat(out);
}

function logcheckSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (to run logcheck as the unprivileged user nobody)';
  if (!existsSync(REF)) return 'reference logcheck not extracted: run scripts/install-reference-tools';
  for (const x of ['/usr/sbin/runuser', '/usr/bin/lockfile-create', '/usr/bin/run-parts', '/usr/bin/grep', '/usr/bin/sort']) {
    if (!existsSync(x)) return `${x} is missing`;
  }
  return undefined;
}

test('runOnce -o prints the same bytes as Debian logcheck -o -t (LC_ALL=C) for UTF-8, latin1 and broken UTF-8', async (t) => {
  const why = logcheckSkipReason();
  if (why !== undefined) return t.skip(why);
  for (const sortUnique of [false, true]) {
    await t.test(`SORTUNIQ=${sortUnique ? 1 : 0}`, async () => {
      const s = setup(LINES, { sortUnique });
      try {
        const c: Case = { name: 'bytes', level: 'server', sortUnique, supportCrackingIgnore: false, custom: true };
        const theirs = Buffer.from(await runLogcheck(s.dir, s.rules, s.log, c), 'latin1');
        const ours = await printed(s);
        if (!ours.equals(theirs)) {
          const a = theirs.toString('latin1').split('\n');
          const o = ours.toString('latin1').split('\n');
          const k = Math.max(0, a.findIndex((l, j) => l !== o[j]));
          assert.fail(`reports differ at line ${k + 1}:\n logcheck: ${JSON.stringify(a[k])}\n ours:     ${JSON.stringify(o[k])}`);
        }
        // The cases the test is about really occur in the report.
        const text = ours.toString('latin1');
        assert.ok(text.includes(b('badg', [0xe9], ' latin1 rule hit')) && text.includes(b('login[5]: user caf', [0xe9])));
        assert.ok(!text.includes(b('user café logged in')), 'the UTF-8 ignore rule matches the UTF-8 line');
        assert.ok(text.includes(b('one-dot xéy')) && !text.includes(b('one-dot x', [0xe9], 'y')), '`.` matches one byte');
      } finally {
        rmSync(s.dir, { recursive: true, force: true });
      }
    });
  }
});

test('sort_unique keeps x\\xe9, x\\xea and x\\xe2\\x82 apart and orders them by byte; -o writes the raw bytes', async () => {
  const s = setup(LINES, { sortUnique: true });
  try {
    const out = (await printed(s)).toString('latin1');
    const xs = out.split('\n').filter((l) => l.startsWith(`${T}7 `));
    assert.deepEqual(xs, [b(`${T}7 host app[7]: x`, [0xe2, 0x82]), b(`${T}7 host app[7]: x`, [0xe9]), b(`${T}7 host app[7]: x`, [0xea])]);
    // Unchanged bytes, never U+FFFD (EF BF BD).
    assert.ok(!out.includes(b('\ufffd')));
    assert.ok(out.includes(b(`${T}8 host app[8]: lone `, [0x80, 0xbf], ' continuation ', [0x85], ' and truncated ', [0xf0, 0x9f, 0x99])));
    assert.ok(out.includes(b('rootkit 日本語 🙂 €')));
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('bytes mode escapes C0 (not TAB), DEL and UTF-8 C1 controls, and no other byte', async () => {
  assert.equal(escapeControlBytes(b('a\tb', [0x1b], '[31m', [0x7f], ' ', [0xc2, 0x85], ' ', [0xc2, 0x9f], ' ', [0xc2, 0xa0], ' ', [0x85], ' é ', [0xe2, 0x80, 0xa8])), b('a\tb#033[31m#177 #205 #237 ', [0xc2, 0xa0], ' ', [0x85], ' é ', [0xe2, 0x80, 0xa8]));
  assert.equal(escapeControlBytes(b('\r\n', [0]) ), '#015#012#000');
  // Through a real run: the same escaping reaches the printed report.
  const s = setup([b(`${T}1 host evil[1]: rootkit `, [0x1b], ']0;pwned', [0x07], ' ', [0xc2, 0x9b], '2J tab\there ', [0x7f], ' ', [0xe9])]);
  try {
    const out = (await printed(s)).toString('latin1');
    assert.ok(out.includes(b(`${T}1 host evil[1]: rootkit #033]0;pwned#007 #2332J tab\there #177 `, [0xe9], '\n')), JSON.stringify(out));
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

test('bytes mode: titles, errors and notices are UTF-8 text; the underline counts characters; max_size counts bytes', () => {
  const WORDS = { attack: 'Alertes de sécurité', security: 'S', events: 'E' };
  const line = b(`${T}1 host a[1]: caf`, [0xe9], ' café');
  const r = renderReport({
    sections: [{ kind: 'attack', title: 'Alertes de sécurité', lines: [line] }],
    host: 'h', date: 'd', reboot: false, intro: true, header: b('Tête ', [0xff], '\n'), footer: b('pied\n'), maxSize: 1_000_000,
    subjectWords: WORDS, notices: ['notice: ünï'], errors: ['E: fichier illisible: /var/log/ç'], bytes: true,
  });
  assert.ok(r !== null);
  assert.equal(
    r.body,
    b('notice: ünï\nTête ', [0xff], '\n\nE: fichier illisible: /var/log/ç\n\nAlertes de sécurité\n=-=-=-=-=-=-=-=-=-=\n') + line + b('\n\npied\n'),
  );
  assert.equal(r.subject, 'h d Alertes de sécurité');
  // The same in text mode keeps text (the old behaviour, for other callers).
  const text = renderReport({ sections: [{ kind: 'unusual', title: 'E', lines: ['é'] }], host: 'h', date: 'd', reboot: false, intro: false, maxSize: 1000, subjectWords: WORDS });
  assert.equal(text?.body, 'E\n=\né\n\n');
  // 10 lines of 20 bytes: 215 bytes of body in all (counted as UTF-8 of chars, 0xe9 would take 2).
  const lines = Array.from({ length: 10 }, (_, i) => b(`line${i} `, Array(14).fill(0xe9)));
  const full = renderReport({ sections: [{ kind: 'unusual', title: 'E', lines }], host: 'h', date: 'd', reboot: false, intro: false, maxSize: 215, subjectWords: WORDS, bytes: true });
  assert.equal(full?.cut, undefined);
  assert.equal(full?.body.length, 4 + 10 * 21 + 1);
  const cut = renderReport({ sections: [{ kind: 'unusual', title: 'E', lines }], host: 'h', date: 'd', reboot: false, intro: false, maxSize: 214, subjectWords: WORDS, bytes: true });
  assert.ok(cut !== null && cut.cut !== undefined);
  assert.ok(cut.body.length <= 214);
  const kept = cut.body.slice(0, cut.body.lastIndexOf('[logsentry:'));
  assert.equal(cut.cut.bytes + kept.length, 215);
  const ps = renderPsionicReport({ sections: [{ kind: 'attack', title: 'Active System Attack Alerts', lines: [line] }], host: 'h', date: 'd', reboot: false, maxSize: 1000, errors: ['E: ç'], bytes: true });
  assert.equal(ps?.body, `${b(`\nE: ç\n\nActive System Attack Alerts\n${underline('Active System Attack Alerts')}\n`)}${line}\n`);
});

test('a header.txt with UTF-8 and latin1 bytes is copied as those bytes (INTRO)', async () => {
  const s = setup([b(`${T}1 host evil[1]: rootkit`)]);
  try {
    writeFileSync(s.config, readFileSync(s.config, 'utf8').replace('intro: false', 'intro: true'));
    writeFileSync(join(s.rules, 'header.txt'), Buffer.from(b('Rapport généré ', [0xe9], '\n'), 'latin1'));
    const out = await printed(s);
    assert.ok(out.subarray(0, 20).equals(Buffer.from(b('Rapport généré ', [0xe9], '\n'), 'latin1')));
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

// --- mail ------------------------------------------------------------------------------------

interface Server {
  readonly port: number;
  readonly received: Buffer[];
  reject: boolean;
  close(): Promise<void>;
}

async function startServer(): Promise<Server> {
  const state = { reject: false };
  const received: Buffer[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (state.reject) return callback(Object.assign(new Error('4.3.0 try later'), { responseCode: 451 }));
        received.push(Buffer.concat(chunks));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    get reject() {
      return state.reject;
    },
    set reject(v) {
      state.reject = v;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A MIME entity (byte string) split into lower-cased unfolded headers and its raw body. */
function entity(raw: string): { headers: Map<string, string>; body: string } {
  const cut = raw.indexOf('\r\n\r\n');
  const headers = new Map<string, string>();
  for (const l of raw.slice(0, cut).replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = l.indexOf(':');
    headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
  }
  return { headers, body: raw.slice(cut + 4) };
}

/** The body's bytes, decoded by its Content-Transfer-Encoding, with CRLF back to LF. */
function decoded(e: { headers: Map<string, string>; body: string }): Buffer {
  const cte = (e.headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  let bytes: Buffer;
  if (cte === 'base64') bytes = Buffer.from(e.body, 'base64');
  else if (cte === 'quoted-printable') {
    const soft = e.body.replace(/=\r\n/g, '');
    const out: number[] = [];
    for (let i = 0; i < soft.length; i++) {
      if (soft[i] === '=' && /^[0-9A-F]{2}$/.test(soft.slice(i + 1, i + 3))) {
        out.push(parseInt(soft.slice(i + 1, i + 3), 16));
        i += 2;
      } else out.push(soft.charCodeAt(i));
    }
    bytes = Buffer.from(out);
  } else bytes = Buffer.from(e.body, 'latin1');
  return cte === 'base64' && !/^text\//i.test(e.headers.get('content-type') ?? '') ? bytes : Buffer.from(bytes.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}

/** The parts of a multipart message (byte string), else the message itself. */
function parts(raw: string): { headers: Map<string, string>; body: string }[] {
  const top = entity(raw);
  const boundary = /boundary="?([^";]+)"?/i.exec(top.headers.get('content-type') ?? '')?.[1];
  if (boundary === undefined) return [top];
  return top.body.split(`--${boundary}`).slice(1, -1).map((p) => entity(p.replace(/^\r\n/, '').replace(/\r\n$/, '')));
}

test('the mailed report carries the raw bytes intact (plain, QP and base64, attached, gzipped)', async () => {
  const server = await startServer();
  try {
    for (const attach of ['none', 'text', 'gzip'] as const) {
      const s = setup(LINES, { port: server.port, attach });
      try {
        const expected = await printed(s);
        const before = server.received.length;
        const r = await runOnce(loadConfig(s.config, []), { stdout: false, test: false, reboot: false });
        assert.equal(r.delivered, 1);
        const raw = server.received[before]!.toString('latin1');
        const ps = parts(raw);
        const main = entity(raw);
        assert.match(main.headers.get('subject') ?? '', /^testhost .* Security Alerts$/);
        if (attach === 'none') {
          assert.match(main.headers.get('content-type') ?? '', /^text\/plain; charset=utf-8$/i);
          assert.ok(decoded(main).equals(expected), `${attach}: body bytes differ`);
        } else {
          const file = ps.find((p) => /attachment/i.test(p.headers.get('content-disposition') ?? ''));
          assert.ok(file !== undefined, 'an attachment');
          const got = attach === 'gzip' ? gunzipSync(decoded(file)) : decoded(file);
          assert.ok(got.equals(expected), `${attach}: attachment bytes differ`);
        }
      } finally {
        rmSync(s.dir, { recursive: true, force: true });
      }
    }
    // An all-ASCII bytes report goes out as before (7bit), and a text report (hostsentry) as UTF-8.
    const mailer = createMailer(
      { to: ['a@example.org'], from: 'l@h', attach: 'none', encoding: 'auto', transport: 'smtp', sendmail_path: '/usr/sbin/sendmail', smtp: { host: '127.0.0.1', port: server.port, security: 'none', user: '', password_file: '' } },
      { host: 'h' },
    );
    try {
      await mailer.send({ subject: 's', body: 'plain ascii\n', bytes: true });
      await mailer.send({ subject: 's', body: 'texte: é €\n' });
      const ascii = entity(server.received.at(-2)!.toString('latin1'));
      assert.equal(ascii.headers.get('content-transfer-encoding'), '7bit');
      assert.equal(decoded(ascii).toString('latin1'), 'plain ascii\n');
      assert.equal(decoded(entity(server.received.at(-1)!.toString('latin1'))).toString('utf8'), 'texte: é €\n');
    } finally {
      mailer.close();
    }
  } finally {
    await server.close();
  }
});

test('a spooled bytes report survives a failed delivery and the next run delivers it byte for byte', async () => {
  const server = await startServer();
  const s = setup(LINES, { port: server.port });
  try {
    const expected = await printed(s);
    server.reject = true;
    await assert.rejects(runOnce(loadConfig(s.config, []), { stdout: false, test: false, reboot: false }), (e: unknown) => e instanceof MailError && e.code === 'LS_SMTP_REJECTED');
    const spooled = pendingSpooled(spoolDirOf(join(s.dir, 'state'))).entries;
    assert.equal(spooled.length, 1);
    assert.equal(spooled[0]!.bytes, true);
    assert.ok(Buffer.from(spooled[0]!.body, 'latin1').equals(expected));
    server.reject = false;
    // The log gained nothing, so this run only delivers the spooled report.
    const r = await runOnce(loadConfig(s.config, []), { stdout: false, test: false, reboot: false });
    assert.equal(r.delivered, 1);
    assert.equal(r.subject, undefined);
    assert.equal(server.received.length, 1);
    assert.ok(decoded(entity(server.received[0]!.toString('latin1'))).equals(expected));
    assert.deepEqual(readdirSync(spoolDirOf(join(s.dir, 'state'))).filter((n) => n.endsWith('.json')), []);
  } finally {
    await server.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
});

// --- journal ---------------------------------------------------------------------------------

test('journal: a byte-array MESSAGE keeps its bytes, string fields become UTF-8 bytes, escaping is rsyslog\'s per byte', () => {
  const msg = [...Buffer.from('caf'), 0xe9, 0x20, 0xe2, 0x82, 0x0a, 0x09, 0x7f, 0xc2, 0x85, ...Buffer.from(' josé')];
  const when = new Date(2026, 10, 21, 10, 0, 1).getTime();
  const json = JSON.stringify({ __CURSOR: 's=1', __REALTIME_TIMESTAMP: String(when * 1000), _HOSTNAME: 'hôte', SYSLOG_IDENTIFIER: 'app é', _PID: '42', MESSAGE: msg });
  const e = parseJournalJson(json, 'latin1');
  assert.ok(e !== undefined);
  // rsyslog escapes bytes below 0x20 only; DEL, C1 and 8-bit bytes stay (the report escapes DEL and C1 later).
  assert.equal(e.message, b('caf', [0xe9], ' ', [0xe2, 0x82], '#012#011', [0x7f, 0xc2, 0x85], ' josé'));
  assert.equal(e.host, b('hôte'));
  assert.equal(e.ident, b('app_é'));
  assert.equal(renderJournalEntry(e, 'local'), b('Nov 21 10:00:01 hôte app_é[42]: caf', [0xe9], ' ', [0xe2, 0x82], '#012#011', [0x7f, 0xc2, 0x85], ' josé'));
  // A string MESSAGE (valid UTF-8 to journalctl) becomes its UTF-8 bytes.
  const s = parseJournalJson(JSON.stringify({ __CURSOR: 's=2', __REALTIME_TIMESTAMP: '1', MESSAGE: 'euro € 🙂\u001b' }), 'latin1');
  assert.equal(s?.message, b('euro € 🙂#033'));
  // Default (text, as hostsentry uses it): unchanged behaviour.
  const text = parseJournalJson(json);
  assert.equal(text?.message, 'caf#351 #342#202#012#011#177#302#205 josé');
  assert.equal(text?.host, 'hôte');
  // The same event written by rsyslog to a file (bytes) cancels the journal entry: like with like.
  const fileLine = b('Nov 21 10:00:01 hôte app_é[42]: caf', [0xe9], ' ', [0xe2, 0x82], '#012#011', [0x7f, 0xc2, 0x85], ' josé');
  assert.deepEqual(dropJournalDuplicates([fileLine], [e], when + 3_600_000), []);
  assert.deepEqual(dropJournalDuplicates([b('Nov 21 10:00:01 hôte app_é[42]: caf', [0xe9])], [e], when + 3_600_000), [e]);
});

// --- check -----------------------------------------------------------------------------------

test('`logsentry check` prints the log lines as their bytes (no mojibake)', async () => {
  const s = setup([b(`${T}3 host sshd[3]: Failed password for josé`), b(`${T}3 host sshd[3]: Failed password for jos`, [0xe9])]);
  try {
    const out = await new Promise<Buffer>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'check', '-c', s.config, s.log], { stdio: ['ignore', 'pipe', 'inherit'], timeout: 30_000 });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.on('close', () => resolve(Buffer.concat(chunks)));
    });
    const text = out.toString('latin1');
    assert.ok(text.includes(b('Failed password for josé\n')), JSON.stringify(text));
    assert.ok(text.includes(b('Failed password for jos', [0xe9], '\n')));
    assert.ok(!text.includes(b('josÃ©')));
  } finally {
    rmSync(s.dir, { recursive: true, force: true });
  }
});

// --- the shared file reader ------------------------------------------------------------------

test('readNew: encoding latin1 gives byte strings, across a rotation too; the default stays UTF-8 text', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-bytes-read-'));
  try {
    const log = join(dir, 'syslog');
    const state = join(dir, 'state');
    mkdirSync(state);
    writeFileSync(log, Buffer.from([...Buffer.from('one '), 0xe9, 0x0a]));
    (await readNew(log, state, { encoding: 'latin1' })).commit();
    writeFileSync(log, Buffer.from([...Buffer.from('two '), 0xe2, 0x82, 0x0a]), { flag: 'a' });
    renameSync(log, `${log}.1`);
    writeFileSync(log, Buffer.from([...Buffer.from('three é '), 0xff, 0x0a]));
    const r = await readNew(log, state, { encoding: 'latin1' });
    assert.deepEqual(r.lines, [b('two ', [0xe2, 0x82]), b('three é ', [0xff])]);
    const text = await readNew(log, state);
    assert.deepEqual(text.lines, ['two \ufffd', 'three é \ufffd']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a section escaped at once equals every line escaped alone (controls, DEL, C1 in UTF-8, a lone or final 0xC2, a newline inside a line)', () => {
  const rnd = prng(77);
  // Bytes weighted toward the ones that matter: controls, DEL, 0xC2, C1 continuation bytes, tab.
  const special = [0x00, 0x01, 0x08, 0x09, 0x0b, 0x1b, 0x1f, 0x7f, 0xc2, 0x80, 0x85, 0x9f, 0xa0, 0xc3, 0xa9, 0xff];
  const line = (): string => {
    const n = Math.floor(rnd() * 12);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(rnd() < 0.5 ? special[Math.floor(rnd() * special.length)]! : 0x20 + Math.floor(rnd() * 95));
    return s;
  };
  for (let round = 0; round < 300; round++) {
    const lines = Array.from({ length: 1 + Math.floor(rnd() * 20) }, line);
    if (round % 50 === 0) lines.push('ends with \xc2');
    if (round % 60 === 0) lines.push('a\nb');
    const want = lines.map((l) => `${escapeControlBytes(l)}\n`).join('');
    assert.equal(escapeControlByteLines(lines), want, JSON.stringify(lines));
  }
  assert.equal(escapeControlByteLines([]), '');
  // A 0xC2 ending a line never pairs with the next line's first byte.
  assert.equal(escapeControlByteLines(['x\xc2', '\x85y']), 'x\xc2\n\x85y\n');
});
