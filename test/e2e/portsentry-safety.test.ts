// End to end: the two safety promises of blocking, proven with real packets in the scan lab.
// (a) A scan spoofed "from" the target's default gateways (IPv4 and IPv6) and from a name server of its
//     resolv.conf is neither logged as an attack nor blocked (not by portsentry, not by the kernel fast
//     path), while a spoofed source that is none of them, and a real scanner, are blocked.
// (b) With RESOLVE_HOST on and hostile PTR names for the scanners' addresses (shell metacharacters,
//     quotes, a space, a newline and other control bytes inside a label, a name of 300+ characters),
//     served by a small DNS server of this test inside the target namespace, every KILL_* template runs
//     exactly the intended command with the address, port and mode, and every log, hosts.deny and
//     history line stays one line with a plain name or the address; no injected command runs.
// The target's resolv.conf is /etc/netns/ts-sf-target/resolv.conf, which `ip netns exec` bind-mounts
// over /etc/resolv.conf for every process started in that namespace; it is removed afterwards.
// Lab: prefix 'ts-sf', subnet 14 (198.18.14.0/24, 2001:db8:14::/64).
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labSkipReason, missingTools, tcpConnect, waitFor, withLab } from '../lab/lab.js';
import type { Lab } from '../lab/lab.js';
import { BUILT, LINE_RE, STEP_MS, escapeRe, startDaemon, writeConf, type Daemon } from './portsentry-daemon.js';

const PREFIX = 'ts-sf';
const SUBNET = 14;
const TOOLS = ['nmap', 'hping3', 'nc', 'nft'];
const skip = labSkipReason() ?? (missingTools(TOOLS).length > 0 ? `needs ${missingTools(TOOLS).join(', ')}` : undefined);

type L = Lab<'gw' | 'ns'>;
const SERVICE = 41400; // a real TCP service on the target
const WATCHED = 41411; // the port every scan here goes to
const NETNS_ETC = '/etc/netns';
const NETNS_DIR = `${NETNS_ETC}/${PREFIX}-target`;
/** The DNS server of part (b): an extra address on the target's bridge. */
const DNS4 = `198.18.${SUBNET}.53`;
/** Sources of part (a)'s control scan and part (b)'s scanners: no host has them, hping3 spoofs them. */
const CONTROL4 = `198.18.${SUBNET}.77`;
const scannerSource = (i: number): string => `198.18.${SUBNET}.${100 + i}`;

/**
 * A DNS server small enough to read in one go: UDP, one question per query, a PTR answer (TTL 0) for
 * the names it was given, NXDOMAIN for anything else. Argument 1 is the address to bind (port 53),
 * argument 2 a JSON object from reverse name (`4.3.2.1.in-addr.arpa`) to the answer's labels, each
 * base64, so a label can hold any byte (a newline, a dot, a NUL). It prints `ready` once bound, then
 * `query NAME TYPE` for every question it answers.
 */
const DNS_SERVER = `
const dgram = require('node:dgram');
const [addr, json] = process.argv.slice(-2);
const names = new Map(Object.entries(JSON.parse(json)));
const sock = dgram.createSocket('udp4');
sock.on('message', (q, peer) => {
  if (q.length < 17 || (q[2] & 0x80) !== 0) return;
  const labels = [];
  let o = 12;
  while (o < q.length && q[o] !== 0) {
    if ((q[o] & 0xc0) !== 0) return;
    labels.push(q.subarray(o + 1, o + 1 + q[o]).toString('latin1'));
    o += q[o] + 1;
  }
  if (o + 5 > q.length) return;
  const qname = labels.join('.').toLowerCase();
  const qtype = q.readUInt16BE(o + 1);
  const answer = qtype === 12 ? names.get(qname) : undefined;
  const head = Buffer.alloc(12);
  q.copy(head, 0, 0, 2);
  head[2] = 0x84 | (q[2] & 0x01);
  head[3] = answer === undefined ? 0x83 : 0x80;
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(answer === undefined ? 0 : 1, 6);
  const parts = [head, q.subarray(12, o + 5)];
  if (answer !== undefined) {
    const rdata = Buffer.concat([...answer.map((b64) => {
      const l = Buffer.from(b64, 'base64');
      return Buffer.concat([Buffer.from([l.length]), l]);
    }), Buffer.from([0])]);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(12, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(0, 6);
    rr.writeUInt16BE(rdata.length, 10);
    parts.push(rr, rdata);
  }
  process.stdout.write('query ' + qname + ' ' + qtype + '\\n');
  sock.send(Buffer.concat(parts), peer.port, peer.address);
});
sock.bind(53, addr, () => process.stdout.write('ready\\n'));
`;

function reverseName(ipv4: string): string {
  return `${ipv4.split('.').reverse().join('.')}.in-addr.arpa`;
}

/** Elements of the named sets of the portsentry table, as one text (empty when the table is absent). */
async function setText(lab: L, sets: readonly string[]): Promise<string> {
  let out = '';
  for (const set of sets) {
    const r = await lab.run('target', ['nft', 'list', 'set', 'inet', 'portsentry', set], { timeoutMs: 3_000, allowFail: true });
    out += `${set}: ${/elements = \{([^}]*)\}/.exec(r.stdout)?.[1]?.replace(/\s+/g, ' ').trim() ?? ''}\n`;
  }
  return out;
}

/** True when `addr` is an element of the set text (a whole address, not a prefix of a longer one). */
function inSet(text: string, addr: string): boolean {
  return new RegExp(`(^|[\\s{,])${escapeRe(addr)}([\\s,}]|$)`, 'm').test(text.replace(/^\w+: /gm, ' '));
}

async function spoofSyn(lab: L, source: string, count: number): Promise<void> {
  const { target } = lab.hosts;
  await lab.run('scan', ['hping3', '-q', '-c', String(count), '-i', 'u20000', '-S', '-a', source, '-p', String(WATCHED), target.ipv4], { timeoutMs: 5_000, allowFail: true });
}

/** Every stderr line of the daemon is one whole syslog line: nothing a name carried split one. */
function assertOneLineEach(d: Daemon): void {
  const bad = d.lines().filter((l) => !LINE_RE.test(l));
  assert.deepEqual(bad, [], `every stderr line of portsentry is one syslog line:\n${d.lines().join('\n')}`);
}

test('portsentry blocking safety: gateways and name servers, hostile reverse names', { skip: skip ?? false, timeout: 120_000 }, async (t: TestContext) => {
  assert.ok(existsSync(BUILT), `portsentry is not built (${BUILT} missing)`);
  const madeNetnsEtc = !existsSync(NETNS_ETC);
  // A leftover of a crashed run would only be overwritten; removing it first keeps this run's own.
  rmSync(NETNS_DIR, { recursive: true, force: true });
  try {
    await withLab({ prefix: PREFIX, subnet: SUBNET, hosts: ['gw', 'ns'] }, async (lab) => {
      const { target, scan, gw, ns } = lab.hosts;
      // The target's default routes go through the gw host; its resolver knows the test's DNS server
      // (a local address) first and the ns host second.
      await lab.run('target', ['ip', 'addr', 'add', `${DNS4}/32`, 'dev', target.ifname], { timeoutMs: 3_000 });
      await lab.run('target', ['ip', 'route', 'add', 'default', 'via', gw.ipv4, 'dev', target.ifname], { timeoutMs: 3_000 });
      await lab.run('target', ['ip', '-6', 'route', 'add', 'default', 'via', gw.ipv6, 'dev', target.ifname], { timeoutMs: 3_000 });
      mkdirSync(NETNS_DIR, { recursive: true });
      writeFileSync(join(NETNS_DIR, 'resolv.conf'), `# ${PREFIX} lab test\nnameserver ${DNS4}\nnameserver ${ns.ipv4}\noptions timeout:1 attempts:1\n`);
      const seen = await lab.run('target', ['cat', '/etc/resolv.conf'], { timeoutMs: 3_000 });
      assert.match(seen.stdout, new RegExp(`^nameserver ${escapeRe(ns.ipv4)}$`, 'm'), 'ip netns exec shows the lab resolv.conf in the target namespace');

      // OpenBSD nc listens on one family: one listener each.
      const svc = lab.spawn('target', ['nc', '-4', '-l', '-k', '-n', String(SERVICE)], { timeoutMs: 110_000 });
      const svc6 = lab.spawn('target', ['nc', '-6', '-l', '-k', '-n', String(SERVICE)], { timeoutMs: 110_000 });
      try {
        await waitFor(async () => tcpConnect(lab, 'gw', target.ipv4, SERVICE, 1_000), { timeoutMs: STEP_MS, intervalMs: 100, what: 'the real service' });
        await waitFor(async () => tcpConnect(lab, 'gw', target.ipv6, SERVICE, 1_000), { timeoutMs: STEP_MS, intervalMs: 100, what: 'the real service (IPv6)' });

        await t.test('(a) a scan spoofed from the gateways or a name server blocks nothing; a real scanner is blocked', async () => {
          const dir = mkdtempSync(join(tmpdir(), 'ts-sf-a-'));
          let d: Daemon | undefined;
          try {
            const conf = writeConf(dir, 'portsentry.conf', [
              ['TCP_PORTS', String(WATCHED)],
              ['HISTORY_FILE', join(dir, 'portsentry.history')],
              ['BLOCKED_FILE', join(dir, 'portsentry.blocked')],
              ['BLOCK_TCP', '1'],
              ['BLOCK_UDP', '0'],
              ['BLOCK_BACKEND', 'nftables'],
              ['SCAN_TRIGGER', '0'],
            ]);
            d = await startDaemon(lab, conf, ['-stcp']);
            assert.ok(d.messages().some((m) => m.startsWith('adminalert: kernel fast path on:')), `the kernel fast path is on:\n${d.messages().join('\n')}`);
            // The kernel's allow list holds them before any probe arrives.
            const allow = await setText(lab, ['allow4', 'allow6']);
            for (const a of [gw.ipv4, gw.ipv6, ns.ipv4]) assert.ok(inSet(allow, a), `${a} is in the fast path's allow sets:\n${allow}`);

            // Spoofed from the IPv4 gateway and the name server (hping3), and the IPv6 gateway (nmap -S).
            await spoofSyn(lab, gw.ipv4, 2);
            await spoofSyn(lab, ns.ipv4, 2);
            await lab.run('scan', ['nmap', '-6', '-n', '-Pn', '-sS', '--max-retries', '0', '-e', scan.ifname, '-S', gw.ipv6, '-p', String(WATCHED), target.ipv6], { timeoutMs: 20_000, allowFail: true });
            // A spoofed source that is none of them goes through the same path and is blocked: the
            // capture is read in order, so once it is logged the spoofed probes before it were read.
            await spoofSyn(lab, CONTROL4, 1);
            await d.waitMessage(`attackalert: Host ${CONTROL4} has been blocked via nftables until unblocked`, 'the control source blocked');

            const special = [gw.ipv4, gw.ipv6, ns.ipv4];
            const named = d.messages().filter((m) => special.some((a) => new RegExp(`(^|[^0-9a-f:.])${escapeRe(a)}([^0-9a-f:.]|$)`).test(m)));
            assert.deepEqual(named, [], 'the gateways and the name server appear in no log line');
            let sets = await setText(lab, ['blocked4', 'blocked6', 'fast4', 'fast6']);
            for (const a of special) assert.ok(!inSet(sets, a), `${a} is blocked neither by portsentry nor by the kernel:\n${sets}`);
            assert.ok(inSet(sets, CONTROL4), `the control source is blocked:\n${sets}`);

            // A real scanner is blocked; the gateway and the name server still reach the service.
            await lab.run('scan', ['nmap', '-n', '-Pn', '-sS', '--max-retries', '0', '-p', String(WATCHED), target.ipv4], { timeoutMs: 20_000 });
            await d.waitMessage(`attackalert: Host ${scan.ipv4} has been blocked via nftables until unblocked`, 'the scanner blocked');
            assert.equal(await tcpConnect(lab, 'scan', target.ipv4, SERVICE, 1_000), false, 'the scanner lost the service');
            assert.equal(await tcpConnect(lab, 'gw', target.ipv4, SERVICE, 1_000), true, 'the gateway still reaches the service (IPv4)');
            // nmap's spoofed neighbour solicitation taught the target that the gateway's IPv6 address is
            // at the scanner's MAC (a link-layer trick no host firewall sees); forget that entry so the
            // check below is about portsentry's blocks only.
            await lab.run('target', ['ip', '-6', 'neigh', 'flush', 'to', gw.ipv6, 'dev', target.ifname], { timeoutMs: 3_000, allowFail: true });
            assert.equal(await tcpConnect(lab, 'gw', target.ipv6, SERVICE, 1_000), true, 'the gateway still reaches the service (IPv6)');
            assert.equal(await tcpConnect(lab, 'ns', target.ipv4, SERVICE, 1_000), true, 'the name server still reaches the service');
            sets = await setText(lab, ['blocked4', 'blocked6', 'fast4', 'fast6']);
            for (const a of special) assert.ok(!inSet(sets, a), `${a} is still not blocked:\n${sets}`);
            const history = readFileSync(join(dir, 'portsentry.history'), 'utf8');
            assert.equal(history.trim().split('\n').length, 2, `two blocks recorded (control, scanner):\n${history}`);

            d.child.kill('SIGTERM');
            assert.deepEqual(await d.exitWithin(STEP_MS), { code: 0, signal: null }, d.lines().join('\n'));
            // The probes were seen and dropped as ignored, not lost on the way.
            const stats = d.messages().find((m) => m.startsWith('adminalert: Detector statistics:')) ?? '';
            const ignored = Number(/\bignored (\d+)/.exec(stats)?.[1] ?? -1);
            assert.ok(ignored >= 5, `the 5 spoofed probes were counted as ignored: ${stats}`);
            assertOneLineEach(d);
          } finally {
            await d?.kill();
            await lab.run('target', ['nft', 'delete', 'table', 'inet', 'portsentry'], { timeoutMs: 3_000, allowFail: true });
            rmSync(dir, { recursive: true, force: true });
          }
        });

        await t.test('(b) hostile reverse names never reach a command, and every line stays one line', async () => {
          const dir = mkdtempSync(join(tmpdir(), 'ts-sf-b-'));
          const calls = join(dir, 'calls');
          mkdirSync(calls);
          const rec = join(dir, 'rec.sh');
          // One file per call, its arguments one per line: concurrent calls cannot interleave.
          writeFileSync(rec, `#!/bin/sh\nprintf '%s\\n' "$@" > "$(mktemp '${calls}/call.XXXXXX')"\n`);
          chmodSync(rec, 0o755);
          const history = join(dir, 'portsentry.history');
          const blocked = join(dir, 'portsentry.blocked');
          const hostsDeny = join(dir, 'hosts.deny');
          const shellLog = join(dir, 'shell.log');
          const pwn = (what: string): string => join(dir, `pwn-${what}`);
          const long = 'a'.repeat(63);
          // Each scanner's PTR answer, as labels. The first is a plain name: it proves the lookups work.
          const answers: readonly (readonly string[])[] = [
            ['scanner-1', 'lab', 'example'],
            [`x;touch ${pwn('semi')};y`, 'lab', 'example'],
            [`$(touch ${pwn('dollar')})`, 'lab'],
            [`\`touch ${pwn('tick')}\``, 'lab'],
            [`q'uo"te`, 'lab'],
            ['two words', 'lab'],
            [`ok\nattackalert: Host 198.18.${SUBNET}.66 has been blocked via wrappers`, 'lab'],
            [`cr\rnul\0tab\tdel\x7f`, 'lab'],
            ['a_b/c*d', 'lab'],
            [long, long, long, long, long],
            [`$(touch ${pwn('long')})`, long, long, long, long],
          ];
          const expectedName = (i: number): string => (i === 0 ? 'scanner-1.lab.example' : scannerSource(i));
          const map: Record<string, string[]> = {};
          answers.forEach((labels, i) => {
            map[reverseName(scannerSource(i))] = labels.map((l) => {
              const b = Buffer.from(l, 'latin1');
              // A longer label would not be a label (its length byte would read as a pointer); a long TMPDIR could do that.
              assert.ok(b.length >= 1 && b.length <= 63, `DNS label of 1..63 bytes: ${JSON.stringify(l)}`);
              return b.toString('base64');
            });
          });
          const dns = lab.spawn('target', [process.execPath, '-e', DNS_SERVER, DNS4, JSON.stringify(map)], { timeoutMs: 60_000 });
          let dnsOut = '';
          dns.stdout?.setEncoding('utf8');
          dns.stdout?.on('data', (s: string) => {
            dnsOut += s;
          });
          let dnsErr = '';
          dns.stderr?.setEncoding('utf8');
          dns.stderr?.on('data', (s: string) => {
            dnsErr += s;
          });
          let d: Daemon | undefined;
          try {
            await waitFor(() => dnsOut.includes('ready\n'), { timeoutMs: STEP_MS, intervalMs: 20, what: `the lab DNS server (${dnsErr})` });
            const conf = writeConf(dir, 'portsentry.conf', [
              ['TCP_PORTS', String(WATCHED)],
              ['HISTORY_FILE', history],
              ['BLOCKED_FILE', blocked],
              ['HOSTS_DENY_FILE', hostsDeny],
              ['RESOLVE_HOST', '1'],
              ['BLOCK_TCP', '1'],
              ['BLOCK_UDP', '0'],
              // Only 1.2's three responses, so each block is exactly these templates.
              ['BLOCK_BACKEND', 'none'],
              ['SCAN_TRIGGER', '0'],
              ['KILL_HOSTS_DENY', 'ALL: $TARGET$ : DENY'],
              // Plain words: run straight from an argv, no shell.
              ['KILL_ROUTE', `${rec} route $TARGET$ $PORT$ $MODE$`],
              // Written for /bin/sh (&&, a quoted placeholder, a redirection): runs under sh -c.
              ['KILL_RUN_CMD', `${rec} run $TARGET$ $PORT$ $MODE$ && echo ran $TARGET$ '$MODE$' >> ${shellLog}`],
            ]);
            d = await startDaemon(lab, conf, ['-stcp']);
            const daemon = d;
            await Promise.all(answers.map((_, i) => spoofSyn(lab, scannerSource(i), 1)));
            await daemon.waitUntil(
              (m) => answers.every((_, i) => m.some((x) => x.startsWith(`attackalert: External command run for host: ${scannerSource(i)} using command:`))),
              'every scanner dealt with',
            );

            // The DNS server was asked about every scanner, so each hostile answer reached the daemon.
            for (let i = 0; i < answers.length; i++) {
              assert.match(dnsOut, new RegExp(`^query ${escapeRe(reverseName(scannerSource(i)))} 12$`, 'm'), `PTR query for ${scannerSource(i)}`);
            }

            // The log: one syslog line each, the plain name used, every hostile one replaced by the address.
            assertOneLineEach(daemon);
            const msgs = daemon.messages();
            for (let i = 0; i < answers.length; i++) {
              const ip = scannerSource(i);
              const name = expectedName(i);
              const cmdRun = `${rec} run ${ip} ${WATCHED} stcp && echo ran ${ip} 'stcp' >> ${shellLog}`;
              for (const line of [
                `attackalert: TCP SYN/Normal scan from host: ${name}/${ip} to TCP port: ${WATCHED}`,
                `attackalert: Host ${ip} has been blocked via wrappers with string: "ALL: ${ip} : DENY"`,
                `attackalert: Host ${ip} has been blocked via dropped route using command: "${rec} route ${ip} ${WATCHED} stcp"`,
                `attackalert: External command run for host: ${ip} using command: "${cmdRun}"`,
              ]) {
                assert.ok(msgs.includes(line), `logged: ${line}\n--- messages ---\n${msgs.join('\n')}`);
              }
              const names = msgs.flatMap((m) => [...m.matchAll(new RegExp(`host: (\\S*)/${escapeRe(ip)}\\b`, 'gi'))].map((x) => x[1]));
              assert.deepEqual([...new Set(names)], [name], `${ip} is logged as ${name} only`);
            }
            const leaked = msgs.filter((m) => /pwn-|touch|q'uo|two words|a_b\/c|aaaaaaaaaa|\.66\b|ERROR/.test(m));
            assert.deepEqual(leaked, [], 'no part of a hostile name and no error reached the log');

            // The commands got exactly the address, port and mode; nothing else ran.
            const got = readdirSync(calls).map((f) => readFileSync(join(calls, f), 'utf8')).sort();
            const want = answers.flatMap((_, i) => ['route', 'run'].map((w) => `${w}\n${scannerSource(i)}\n${WATCHED}\nstcp\n`)).sort();
            assert.deepEqual(got, want, 'each template ran once per scanner with exactly its values');
            const shellLines = readFileSync(shellLog, 'utf8').split('\n').filter((l) => l !== '').sort();
            assert.deepEqual(shellLines, answers.map((_, i) => `ran ${scannerSource(i)} stcp`).sort(), 'the shell template got the values as data');

            // The files: one line per block, the name plain or the address.
            const deny = readFileSync(hostsDeny, 'utf8');
            assert.deepEqual(deny.split('\n').filter((l) => l !== '').sort(), answers.map((_, i) => `ALL: ${scannerSource(i)} : DENY`).sort(), deny);
            assert.ok(deny.endsWith('\n'));
            const hist = readFileSync(history, 'utf8');
            const histLines = hist.split('\n');
            assert.equal(histLines.pop(), '', 'the history ends with a newline');
            assert.equal(histLines.length, answers.length, hist);
            for (let i = 0; i < answers.length; i++) {
              const ip = scannerSource(i);
              const re = new RegExp(`^\\d+ - \\d\\d/\\d\\d/\\d{4} \\d\\d:\\d\\d:\\d\\d Host: ${escapeRe(expectedName(i))}/${escapeRe(ip)} Port: ${WATCHED} TCP Blocked$`);
              assert.equal(histLines.filter((l) => re.test(l)).length, 1, `one history line for ${ip}:\n${hist}`);
            }
            // Concurrent blocks append to the two files independently, so only the order may differ.
            const blockedText = readFileSync(`${blocked}.stcp`, 'utf8');
            assert.ok(blockedText.endsWith('\n'));
            assert.deepEqual(blockedText.split('\n').sort(), hist.split('\n').sort(), 'the blocked file has the same lines');

            // No injected command ran: no marker file, and nothing in the directory that we did not make.
            for (const w of ['semi', 'dollar', 'tick', 'long']) assert.equal(existsSync(pwn(w)), false, `${pwn(w)} was not created`);
            const files = readdirSync(dir).sort();
            const known = ['calls', 'hosts.deny', 'portsentry.blocked.stcp', 'portsentry.conf', 'portsentry.history', 'portsentry.state.json', 'portsentry.state.json.lock', 'portsentry.state.json.sock', 'rec.sh', 'shell.log'];
            assert.deepEqual(files.filter((f) => !known.includes(f)), [], `only the expected files in ${dir}`);

            daemon.child.kill('SIGTERM');
            assert.deepEqual(await daemon.exitWithin(STEP_MS), { code: 0, signal: null }, daemon.lines().join('\n'));
            assertOneLineEach(daemon);
          } finally {
            await d?.kill();
            dns.kill('SIGKILL');
            rmSync(dir, { recursive: true, force: true });
          }
        });
      } finally {
        svc.kill('SIGKILL');
        svc6.kill('SIGKILL');
      }
    });
  } finally {
    rmSync(NETNS_DIR, { recursive: true, force: true });
    if (madeNetnsEtc) {
      try {
        rmdirSync(NETNS_ETC);
      } catch {
        // Another lab test put its own namespace's files there meanwhile: leave the directory.
      }
    }
  }
});
