#!/usr/bin/env node
// Live SYN flood in the scan lab: Debian's portsentry 1.2 and TriSentry's portsentry, each in stealth TCP
// mode (-stcp) with the same config, each in a fresh lab, in one run. For each tool: packets sent, how
// many reached the target's interface (tcpdump) and the IP layer above it (IpInDelivers), how many
// probes the tool logged, the kernel's own drop counters where the tool has them (libpcap's ps_recv /
// ps_drop / ps_ifdrop for ours; the raw socket's drop counter from /proc/net/raw for 1.2, which never
// reports it), CPU seconds, peak RSS and the time from a probe on the wire to its log line.
//
// usage (as root, after `npm run build` and `npx tsc -b test`, with scripts/install-reference-tools run):
//   node bench/portsentry-flood.mjs [--packets N] [--rate-us U] [--only ours|ref] [--keep]
// The lab is ts-bf-* / 198.18.40.0/24; no packet goes anywhere else (see /work/shared/LAB.md).
import { readTcpPackets } from './lib/pcap.mjs';
import { createRequire } from 'node:module';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LAB_JS = join(ROOT, 'test', 'dist', 'lab', 'lab.js');
const OURS_BIN = join(ROOT, 'portsentry', 'bin', 'portsentry.js');
const OURS_BUILT = join(ROOT, 'portsentry', 'dist', 'src', 'cli.js');
const REF_ROOT = '/opt/trisentry-ref/portsentry';
const REF_BIN = join(REF_ROOT, 'usr', 'sbin', 'portsentry');

const PREFIX = 'ts-bf';
const SUBNET = 40;
const PORTS = [1, 11, 15, 79, 111, 119, 143, 540, 635, 1080, 1524, 2000, 5742, 6667, 12345, 12346, 20034, 27665, 31337, 32771, 32772, 32773, 32774, 40421, 49724, 54320];
const CHECK_PORT = 111;
// The log counts as drained once no new line came for this long after the flood.
const IDLE_MS = 2_000;
// ...but no tool is waited on longer than this after the flood ends (1.2 re-reads its blocked file per
// probe, so its work grows with the square of what it logged).
const DRAIN_MAX_MS = 120_000;
const TOOL_LIFETIME_MS = 15 * 60_000;
const KEEP_MAX_MS = 30 * 60_000;
const PROBE_RE = /attackalert: TCP SYN\/Normal scan from host: [^\s/]*\/(\d{1,3}(?:\.\d{1,3}){3}) to TCP port: (\d+)/;
const STATS_RE = /adminalert: Capture statistics on (\S+): received (\d+), dropped (\d+), interface-dropped (\d+)/;
const SYSLOG_PID_RE = /portsentry\[(\d+)\]: /;
const READY_TEXT = 'adminalert: PortSentry is now active and listening.';

// ---------------------------------------------------------------------------------------------------
// Arguments

const USAGE = `usage: node bench/portsentry-flood.mjs [--packets N] [--rate-us U] [--only ours|ref] [--keep]
  --packets N   spoofed SYNs per tool (default 50000, at most 1000000)
  --rate-us U   aimed gap between packets in microseconds, all senders together (default 55, ~18,000/s)
  --only T      run only 'ref' (Debian's portsentry 1.2) or 'ours'
  --keep        keep the temp directories, and the last lab until Ctrl-C (at most 30 min), for debugging`;

function parseArgs(argv) {
  const o = { packets: 50_000, rateUs: 55, only: undefined, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (min, max) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < min || v > max) fail(`${a} needs an integer ${min}..${max}`);
      return v;
    };
    if (a === '--packets') o.packets = num(1, 1_000_000);
    else if (a === '--rate-us') o.rateUs = num(1, 1_000_000);
    else if (a === '--only') {
      const v = argv[++i];
      if (v !== 'ours' && v !== 'ref') fail('--only needs ours or ref');
      o.only = v;
    } else if (a === '--keep') o.keep = true;
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(a)}`);
  }
  return o;
}

function fail(msg) {
  console.error(`portsentry-flood: ${msg}\n${USAGE}`);
  process.exit(64);
}

// ---------------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Wall-clock milliseconds with sub-millisecond resolution, comparable with tcpdump's timestamps.
const nowMs = () => performance.timeOrigin + performance.now();

/** Resolves when the child has exited (at once when it already has). */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** utime+stime in seconds and VmHWM in MiB of a live process, or undefined once it is gone. */
function procUsage(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes comm (which may hold spaces): state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return { cpuS: ticks / clockTicks(), peakRssMb: hwm ? Number(hwm[1]) / 1024 : undefined };
  } catch {
    return undefined;
  }
}

let clk;
function clockTicks() {
  if (clk === undefined) {
    // USER_HZ is 100 on every Linux architecture node runs on; getconf confirms where it exists.
    clk = 100;
    try {
      const r = spawnSyncText(['getconf', 'CLK_TCK']);
      if (/^\d+$/.test(r.trim())) clk = Number(r.trim());
    } catch {
      // keep 100
    }
  }
  return clk;
}

function spawnSyncText(argv) {
  return execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 5_000 });
}

function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** IP-MIB InDelivers of the namespace the reader runs in, from /proc/net/snmp. */
function parseInDelivers(snmp) {
  const lines = snmp.split('\n').filter((l) => l.startsWith('Ip:'));
  if (lines.length < 2) return undefined;
  const keys = lines[0].split(/\s+/);
  const vals = lines[1].split(/\s+/);
  const i = keys.indexOf('InDelivers');
  return i > 0 ? Number(vals[i]) : undefined;
}

/** Sum of the drops column of /proc/net/raw for raw TCP sockets (protocol 6, shown as local port 6). */
function parseRawDrops(raw) {
  let drops = 0;
  let found = false;
  for (const line of raw.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st ... ; local_address is ADDR:PROTO in hex for raw sockets.
    if (f.length < 13 || !/:0006$/i.test(f[1] ?? '')) continue;
    found = true;
    drops += Number(f[f.length - 1]);
  }
  return found ? drops : undefined;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Packets of tcpdump's file (bench/lib/pcap.mjs), each marked `syn` when it is a SYN/Normal probe. */
function readPcap(file) {
  // SYN set, ACK and RST clear: what both tools call a SYN/Normal scan.
  return readTcpPackets(file).map((p) => ({ ...p, syn: (p.flags & 0x16) === 0x02 }));
}

// ---------------------------------------------------------------------------------------------------
// One tool in one fresh lab

function configText(dir, iface) {
  return [
    '# portsentry-flood benchmark: the same file for 1.2 and for TriSentry',
    `TCP_PORTS="${PORTS.join(',')}"`,
    'UDP_PORTS="1"',
    `IGNORE_FILE="${join(dir, 'portsentry.ignore')}"`,
    `HISTORY_FILE="${join(dir, 'portsentry.history')}"`,
    `BLOCKED_FILE="${join(dir, 'portsentry.blocked')}"`,
    'RESOLVE_HOST="0"',
    'BLOCK_TCP="0"',
    'BLOCK_UDP="0"',
    'SCAN_TRIGGER="0"',
    // 1.2 never asks for this key (it looks keys up by name), so it changes nothing there; ours then
    // captures on the bridge alone instead of "any", where each frame would be seen twice.
    `INTERFACES="${iface}"`,
    '',
  ].join('\n');
}

// Runs inside `unshare --mount` (a private mount namespace inside the target's network namespace):
// lays the benchmark's config over 1.2's compiled-in path and our datagram socket over /dev/log, then
// execs 1.2. /etc gets a throwaway overlay because /etc/portsentry does not exist on this machine, and
// /dev a small tmpfs with the few device nodes bound in, for /dev/log; nothing is visible outside.
// Every value arrives as a positional parameter.
const REF_WRAPPER = `set -eu
work=$1 conf=$2 sock=$3
shift 3
mount -t overlay ts-bf-etc -o "lowerdir=/etc,upperdir=$work/etc-upper,workdir=$work/etc-work" /etc
mkdir -p /etc/portsentry
: > /etc/portsentry/portsentry.conf
mount --bind "$conf" /etc/portsentry/portsentry.conf
mount --bind /dev "$work/realdev"
mount -t tmpfs -o mode=0755,size=1m ts-bf-dev /dev
for n in null zero full random urandom tty; do
  : > "/dev/$n"
  mount --bind "$work/realdev/$n" "/dev/$n"
done
umount -l "$work/realdev"
: > /dev/log
mount --bind "$sock" /dev/log
exec "$@"
`;

/**
 * Runs the flood against one tool ('ref' or 'ours') in a fresh lab and resolves with its figures;
 * a tool that cannot start resolves with `error` set rather than throwing.
 */
async function measureTool(kind, opts, labMod, keepLab) {
  const who = kind === 'ref' ? '1.2' : 'ours';
  const res = { tool: kind, name: kind === 'ref' ? 'portsentry 1.2 (Debian)' : 'trisentry portsentry', sent: 0 };
  const tmp = mkdtempSync(join(tmpdir(), `ts-bf-${process.pid}-`));
  res.tmpDir = tmp;
  const lab = await labMod.createLab({ prefix: PREFIX, subnet: SUBNET });
  let keepThis = false;
  let log;
  try {
    const { target, scan } = lab.hosts;
    const conf = join(tmp, 'portsentry.conf');
    writeFileSync(conf, configText(tmp, target.ifname));
    writeFileSync(join(tmp, 'portsentry.ignore'), '');
    const dump = (lines) => lines.map((l) => `  ${l.text}`).join('\n') || '  (nothing)';

    // Independent count: every TCP frame to the target as it crosses the bridge.
    const pcapFile = join(tmp, 'flood.pcap');
    const tcpdump = lab.spawn('target', ['tcpdump', '-i', target.ifname, '-n', '-s', '96', '-B', '32768', '-w', pcapFile, 'tcp and dst host', target.ipv4], { timeoutMs: TOOL_LIFETIME_MS });
    let tcpdumpErr = '';
    tcpdump.stderr.setEncoding('utf8');
    tcpdump.stderr.on('data', (d) => (tcpdumpErr += d));
    tcpdump.stdout.resume();
    await labMod.waitFor(() => /listening on/.test(tcpdumpErr) || tcpdump.exitCode !== null, { timeoutMs: 10_000, what: 'tcpdump listening' });
    if (!/listening on/.test(tcpdumpErr)) throw new Error(`tcpdump did not start: ${tcpdumpErr.trim()}`);

    // ---- start the tool; its log goes to a collector process that timestamps each line on arrival
    let pid;
    let toolChild;
    if (kind === 'ref') {
      res.version = readVersion(join(REF_ROOT, '.trisentry-ref'));
      for (const d of ['etc-upper', 'etc-work', 'realdev']) mkdirSync(join(tmp, d));
      if (!/^[A-Za-z0-9_./-]+$/.test(tmp)) throw new Error(`temp dir ${tmp} has characters an overlay option cannot carry`);
      const sockPath = join(tmp, 'log.sock');
      log = await Collector.start(join(tmp, 'log.txt'), sockPath);
      toolChild = lab.spawn('target', ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', REF_WRAPPER, 'ts-bf-ref', tmp, conf, sockPath, REF_BIN, '-stcp'], { timeoutMs: TOOL_LIFETIME_MS });
      let out = '';
      toolChild.stdout.on('data', (d) => (out += d));
      toolChild.stderr.on('data', (d) => (out += d));
      // 1.2 forks into the background; the foreground process exits 0 at once.
      await exited(toolChild);
      if (toolChild.exitCode !== 0) {
        res.error = `1.2 did not start (exit ${toolChild.exitCode ?? toolChild.signalCode}): ${out.trim()}`;
        return res;
      }
      await labMod.waitFor(() => log.find((l) => l.text.includes(READY_TEXT)) !== undefined, { timeoutMs: 10_000, what: '1.2 ready' }).catch(() => undefined);
      const ready = log.find((l) => l.text.includes(READY_TEXT));
      const m = ready && SYSLOG_PID_RE.exec(ready.text);
      pid = m ? Number(m[1]) : findPid(lab, 'portsentry');
      if (pid === undefined || comm(pid) !== 'portsentry') {
        res.error = `1.2 is not running in ${target.ns} after start; it logged:\n${dump(log.lines)}`;
        return res;
      }
    } else {
      res.version = readVersion(join(ROOT, 'portsentry', 'package.json'));
      log = await Collector.start(join(tmp, 'log.txt'));
      // Ours writes straight into the collector's stdin: this process never sits between them, so
      // nothing it does (spawning senders, parsing) can hold up the tool's stderr.
      toolChild = lab.spawn('target', [process.execPath, OURS_BIN, '-c', conf, '--foreground', '--syslog', 'stderr', '-stcp'], {
        timeoutMs: TOOL_LIFETIME_MS,
        stdio: ['ignore', 'ignore', log.input],
      });
      log.releaseInput();
      const readyOrGone = () => toolChild.exitCode !== null || toolChild.signalCode !== null || log.find((l) => l.text.includes(READY_TEXT)) !== undefined;
      await labMod.waitFor(readyOrGone, { timeoutMs: 20_000, what: 'ours ready' }).catch(() => undefined);
      if (toolChild.exitCode !== null || toolChild.signalCode !== null) {
        await sleep(200); // the collector may still be writing the last lines
        res.error = `ours exited with status ${toolChild.exitCode ?? toolChild.signalCode} before it was ready (failed to start):\n${dump(log.lines)}`;
        return res;
      }
      if (log.find((l) => l.text.includes(READY_TEXT)) === undefined) console.log('   ours printed no "now active and listening" line within 20 s; trying the check probe anyway');
      pid = toolChild.pid;
    }
    res.pid = pid;

    // ---- one real SYN first: proves the mode works here, and gives the latency of a probe at rest.
    const checkSent = nowMs();
    await lab.run('scan', ['timeout', '5', 'hping3', '-c', '1', '-S', '-p', String(CHECK_PORT), target.ipv4], { timeoutMs: 10_000, allowFail: true });
    const isCheck = (l) => {
      const m = PROBE_RE.exec(l.text);
      return m !== null && m[1] === scan.ipv4 && Number(m[2]) === CHECK_PORT;
    };
    await labMod.waitFor(() => log.find(isCheck) !== undefined, { timeoutMs: 5_000, what: 'the check probe logged' }).catch(() => undefined);
    const checkLine = log.find(isCheck);
    if (!checkLine) {
      res.error = `${who} logged nothing for a single SYN from ${scan.ipv4} to port ${CHECK_PORT} in ${target.ns}: its -stcp mode does not work here. It logged:\n${dump(log.lines)}`;
      return res;
    }

    // ---- the flood
    const snmp0 = parseInDelivers((await lab.run('target', ['cat', '/proc/net/snmp'], { timeoutMs: 5_000 })).stdout);
    const linesBefore = log.lines.length;
    const senders = planSenders(opts.packets, opts.rateUs);
    // Bounded twice: a fixed count per sender, and `timeout` at four times the planned time plus 10 s.
    const limitS = Math.ceil((Math.max(...senders.map((s) => s.count * s.intervalUs)) * 4) / 1e6) + 10;
    const sendArgs = senders.flatMap((s) => [String(s.port), String(s.intervalUs), String(s.count)]);
    const floodStart = nowMs();
    const sr = await lab.run('scan', ['sh', '-c', SENDERS, 'ts-bf-send', target.ipv4, String(limitS), tmp, ...sendArgs], { timeoutMs: (limitS + 10) * 1000, allowFail: true });
    const floodEnd = nowMs();
    let timedOut = 0;
    for (const s of senders) {
      let out = '';
      try {
        out = readFileSync(join(tmp, `hping3.${s.port}.txt`), 'utf8');
      } catch {
        // no output file: count what was asked for
      }
      const m = /(\d+) packets transmitted/.exec(out);
      res.sent += m ? Number(m[1]) : s.count;
      if (!m) timedOut++;
    }
    if (sr.timedOut || timedOut) res.note = `${timedOut} of ${senders.length} senders printed no statistics (killed by their time limit?)`;
    res.senders = senders.length;
    res.floodWallS = (floodEnd - floodStart) / 1000;

    // ---- wait for the log to go quiet
    let lastSize = -1;
    let lastChange = nowMs();
    for (;;) {
      const size = log.size();
      if (size !== lastSize) {
        lastSize = size;
        lastChange = nowMs();
      }
      if (nowMs() - lastChange >= IDLE_MS) break;
      if (nowMs() - floodEnd > DRAIN_MAX_MS) {
        res.note = [res.note, `log still growing ${DRAIN_MAX_MS / 1000} s after the flood; figures taken then`].filter(Boolean).join('; ');
        break;
      }
      await sleep(100);
    }
    const snmp1 = parseInDelivers((await lab.run('target', ['cat', '/proc/net/snmp'], { timeoutMs: 5_000 })).stdout);
    if (snmp0 !== undefined && snmp1 !== undefined) res.ipDelivered = snmp1 - snmp0;
    if (kind === 'ref') res.rawSocketDrops = parseRawDrops((await lab.run('target', ['cat', '/proc/net/raw'], { timeoutMs: 5_000 })).stdout);

    // ---- CPU and memory just before stopping
    const usage = procUsage(pid);
    if (usage) Object.assign(res, usage);

    // ---- stop the tool
    if (kind === 'ref') {
      signal(pid, 'SIGTERM');
      await labMod.waitFor(() => comm(pid) === undefined, { timeoutMs: 3_000, what: '1.2 to exit' }).catch(() => signal(pid, 'SIGKILL'));
    } else {
      signal(-toolChild.pid, 'SIGTERM');
      await Promise.race([exited(toolChild), sleep(5_000)]);
      await sleep(200); // the collector may still be writing the shutdown lines
      res.exitStatus = toolChild.exitCode ?? toolChild.signalCode;
      const st = log.lines.map((l) => STATS_RE.exec(l.text)).filter(Boolean);
      if (st.length) res.pcap = st.map((m) => ({ iface: m[1], recv: Number(m[2]), drop: Number(m[3]), ifdrop: Number(m[4]) }));
    }

    // ---- the wire's view
    signal(-tcpdump.pid, 'SIGINT');
    await Promise.race([exited(tcpdump), sleep(5_000)]);
    const dropM = /(\d+) packets? dropped by kernel/.exec(tcpdumpErr);
    res.tcpdumpDropped = dropM ? Number(dropM[1]) : undefined;
    const pkts = readPcap(pcapFile);
    const watched = new Set(PORTS);
    const flood = pkts.filter((p) => p.tsMs >= floodStart - 5 && p.syn && p.dst === target.ipv4 && watched.has(p.dport) && p.src !== scan.ipv4);
    res.reachedIface = flood.length;
    if (flood.length > 1) {
      res.floodWireS = (flood[flood.length - 1].tsMs - flood[0].tsMs) / 1000;
      res.rateWire = flood.length / res.floodWireS;
    }

    const isFloodProbe = (l) => {
      const m = PROBE_RE.exec(l.text);
      return m !== null && m[1] !== scan.ipv4;
    };
    const probes = log.lines.slice(linesBefore).filter(isFloodProbe);
    res.logged = probes.length;
    res.seenPct = res.sent ? (100 * res.logged) / res.sent : undefined;
    if (res.ipDelivered) res.seenPctOfDelivered = (100 * res.logged) / res.ipDelivered;
    // How long the tool went on logging after the last flood packet crossed the wire.
    if (probes.length && flood.length) res.drainS = Math.max(0, (probes[probes.length - 1].t - flood[flood.length - 1].tsMs) / 1000);

    // Latency: the check probe at rest; the first flood probe (first flood packet on the wire to the
    // first flood log line, as a watcher sees it); every logged probe matched to its own packet.
    const checkPkt = pkts.find((p) => p.src === scan.ipv4 && p.dport === CHECK_PORT && p.syn && p.tsMs >= checkSent - 5);
    if (checkPkt) res.idleLatencyMs = checkLine.t - checkPkt.tsMs;
    if (flood.length && probes.length) res.firstProbeLatencyMs = probes[0].t - flood[0].tsMs;
    const firstSeen = new Map();
    for (const p of flood) {
      const k = `${p.src}:${p.dport}`;
      if (!firstSeen.has(k)) firstSeen.set(k, p.tsMs);
    }
    const lat = [];
    for (const l of probes) {
      const m = PROBE_RE.exec(l.text);
      const ts = firstSeen.get(`${m[1]}:${m[2]}`);
      if (ts !== undefined) lat.push(l.t - ts);
    }
    if (opts.keep) writeFileSync(join(tmp, 'latency.txt'), lat.map((v) => `${v.toFixed(3)}\n`).join(''));
    lat.sort((a, b) => a - b);
    res.latencyP50Ms = percentile(lat, 50);
    res.latencyP99Ms = percentile(lat, 99);
    keepThis = keepLab;
    return res;
  } finally {
    log?.stop();
    if (keepThis) {
      res.keptLab = true;
      keptLabs.push(lab);
    } else {
      await lab.cleanup();
    }
    if (!opts.keep) rmSync(tmp, { recursive: true, force: true });
  }
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

// All senders from one shell in the scan namespace: forking them there is quick and keeps this
// process's event loop out of the flood. Arguments: target, time limit (s), output dir, then one
// "port interval-us count" triple per sender. Each hping3 is bounded by its count and by `timeout`.
const SENDERS = `set -u
target=$1 limit=$2 outdir=$3
shift 3
while [ $# -ge 3 ]; do
  timeout "$limit" hping3 --rand-source -S -p "$1" -i "u$2" -c "$3" "$target" >"$outdir/hping3.$1.txt" 2>&1 &
  shift 3
done
wait
`;

/**
 * The log of one tool, written by a separate collector process (this same file run with --collect)
 * that stamps each line with the wall-clock time it arrived. A separate process because this one is
 * busy at the worst moments (spawning the senders): a syslog reader that stalls makes 1.2 block in
 * syslog(3) (a datagram socket's queue is 10 messages) and a stderr pipe that fills makes ours block,
 * and the benchmark would then measure itself.
 */
class Collector {
  static async start(file, sockPath) {
    writeFileSync(file, '');
    const args = [fileURLToPath(import.meta.url), '--collect', file, ...(sockPath ? [sockPath] : [])];
    const child = spawn(process.execPath, args, { stdio: [sockPath ? 'ignore' : 'pipe', 'pipe', 'inherit'] });
    collectors.add(child);
    child.on('exit', () => collectors.delete(child));
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => (out += d));
    const deadline = Date.now() + 10_000;
    while (!out.includes('ready\n')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`log collector did not start: ${out.trim()}`);
      await sleep(20);
    }
    return new Collector(file, child);
  }

  constructor(file, child) {
    this.file = file;
    this.child = child;
    this.offset = 0;
    this.rest = '';
    this.parsed = [];
  }

  /** The collector's stdin, to hand to a tool as its stderr. */
  get input() {
    return this.child.stdin;
  }

  /** Closes this process's end of the collector's stdin once the tool holds its own copy. */
  releaseInput() {
    this.child.stdin?.destroy();
  }

  size() {
    try {
      return statSync(this.file).size;
    } catch {
      return 0;
    }
  }

  /** Every complete line so far, as { t, text }; reads only what was appended since the last call. */
  get lines() {
    const size = this.size();
    if (size > this.offset) {
      const fd = openSync(this.file, 'r');
      try {
        const buf = Buffer.alloc(size - this.offset);
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        this.offset += n;
        const parts = (this.rest + buf.subarray(0, n).toString('utf8')).split('\n');
        this.rest = parts.pop() ?? '';
        for (const p of parts) {
          const sp = p.indexOf(' ');
          this.parsed.push({ t: Number(p.slice(0, sp)), text: p.slice(sp + 1) });
        }
      } finally {
        closeSync(fd);
      }
    }
    return this.parsed;
  }

  find(pred) {
    return this.lines.find(pred);
  }

  stop() {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}

const collectors = new Set();
process.on('exit', () => {
  for (const c of collectors) c.kill('SIGKILL');
});

/**
 * Collector mode: appends "<ms since epoch> <line>" to `file` for every syslog datagram on `sockPath`
 * (1.2), or for every line on stdin (ours), and prints "ready" once listening.
 */
function collect(file, sockPath) {
  // Ends with the benchmark even when that was killed by a signal and could not stop us.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 500).unref();
  const fd = openSync(file, 'a');
  const put = (text, t) => writeSync(fd, `${t.toFixed(3)} ${text.replace(/[\r\n]+/g, ' ')}\n`);
  if (sockPath) {
    const unix = createRequire(import.meta.url)('unix-dgram');
    const sock = unix.createSocket('unix_dgram', (buf) => put(buf.toString('utf8').replace(/\n$/, ''), nowMs()));
    sock.on('error', (e) => {
      process.stderr.write(`portsentry-flood collector: ${sockPath}: ${e.message}\n`);
      process.exit(1);
    });
    sock.on('listening', () => process.stdout.write('ready\n'));
    sock.bind(sockPath);
  } else {
    let rest = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      const t = nowMs();
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const l of parts) put(l, t);
    });
    process.stdin.on('end', () => {
      if (rest) put(rest, nowMs());
      rest = '';
    });
    process.stdout.write('ready\n');
  }
}

const keptLabs = [];

function readVersion(file) {
  try {
    const t = readFileSync(file, 'utf8');
    if (file.endsWith('.json')) return JSON.parse(t).version;
    return t.trim().split(/\s+/)[1];
  } catch {
    return undefined;
  }
}

/** The pid of a process named `name` inside the target namespace, if there is one. */
function findPid(lab, name) {
  const out = spawnSyncText(['ip', 'netns', 'pids', lab.hosts.target.ns]);
  return out.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number).find((p) => comm(p) === name);
}

/**
 * One hping3 per watched port, all at once, so every packet goes to a watched port (hping3's `++PORT`
 * would walk the ports in between); each gets its share of the count and the interval U x senders,
 * so together they aim at one packet per U microseconds.
 */
function planSenders(total, rateUs) {
  const n = Math.min(PORTS.length, total);
  const out = [];
  for (let i = 0; i < n; i++) {
    const count = Math.floor(total / n) + (i < total % n ? 1 : 0);
    out.push({ port: PORTS[i], count, intervalUs: rateUs * n });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Output

function fmt(v, digits = 0) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-';
  return typeof v === 'number' ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : String(v);
}

function kernelCol(r) {
  if (r.pcap) return r.pcap.map((p) => `recv ${fmt(p.recv)} drop ${fmt(p.drop)} ifdrop ${fmt(p.ifdrop)}`).join('; ');
  if (r.rawSocketDrops !== undefined) return `raw socket drop ${fmt(r.rawSocketDrops)}`;
  return '-';
}

function printTable(rows) {
  const head = ['tool', 'sent', 'reached iface (tcpdump)', 'IP delivered', 'logged', 'seen %', 'seen % of delivered', 'kernel recv/drop', 'CPU s', 'peak RSS MB', 'first-probe latency ms', 'p50/p99 latency ms', 'idle latency ms', 'drain s'];
  const body = rows.map((r) =>
    r.error
      ? [r.name, fmt(r.sent), '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-']
      : [
          r.name,
          fmt(r.sent),
          fmt(r.reachedIface),
          fmt(r.ipDelivered),
          fmt(r.logged),
          fmt(r.seenPct, 1),
          fmt(r.seenPctOfDelivered, 1),
          kernelCol(r),
          fmt(r.cpuS, 2),
          fmt(r.peakRssMb, 1),
          fmt(r.firstProbeLatencyMs, 1),
          `${fmt(r.latencyP50Ms, 1)}/${fmt(r.latencyP99Ms, 1)}`,
          fmt(r.idleLatencyMs, 2),
          fmt(r.drainS, 1),
        ],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const b of body) console.log(line(b));
}

// ---------------------------------------------------------------------------------------------------
// Main

function removeStaleTempDirs() {
  // Temp dirs of crashed earlier runs: ts-bf-<pid>-XXXXXX whose pid is no longer alive.
  for (const d of readdirSync(tmpdir())) {
    const m = /^ts-bf-(\d+)-[A-Za-z0-9]{6}$/.exec(d);
    if (!m || Number(m[1]) === process.pid || existsSync(`/proc/${m[1]}`)) continue;
    rmSync(join(tmpdir(), d), { recursive: true, force: true });
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(LAB_JS)) {
    console.error(`portsentry-flood: ${LAB_JS} is missing: run \`npx tsc -b test\` first`);
    return 69;
  }
  const labMod = await import(LAB_JS);
  const skip = labMod.labSkipReason();
  if (skip) {
    console.error(`portsentry-flood: skipped: ${skip}`);
    return 0;
  }
  const missing = labMod.missingTools(['hping3', 'tcpdump', 'unshare', 'mount']);
  if (missing.length) {
    console.error(`portsentry-flood: skipped: needs ${missing.join(', ')} (scripts/setup installs them)`);
    return 0;
  }
  removeStaleTempDirs();

  const tools = opts.only ? [opts.only] : ['ref', 'ours'];
  console.log(`portsentry stealth TCP (-stcp) under a spoofed SYN flood: ${fmt(opts.packets)} packets per tool from random sources to ${PORTS.length} watched ports, aimed at one every ${opts.rateUs} us (${fmt(1e6 / opts.rateUs)}/s)`);
  console.log(`lab ${PREFIX}-*, 198.18.${SUBNET}.0/24; ${cpus().length} CPUs; figures from a busy machine are noisy`);
  const rows = [];
  for (let i = 0; i < tools.length; i++) {
    const kind = tools[i];
    if (kind === 'ref' && !existsSync(REF_BIN)) {
      rows.push({ tool: 'ref', name: 'portsentry 1.2 (Debian)', sent: 0, error: `${REF_BIN} is missing: run scripts/install-reference-tools (as root)` });
      continue;
    }
    if (kind === 'ours' && !existsSync(OURS_BUILT)) {
      rows.push({ tool: 'ours', name: 'trisentry portsentry', sent: 0, error: `${OURS_BUILT} is missing: run \`npm run build\` first` });
      continue;
    }
    console.log(`\n-- ${kind === 'ref' ? 'portsentry 1.2' : 'ours'}: fresh lab, start, check probe, flood ...`);
    const keepLab = opts.keep && i === tools.length - 1;
    let r;
    try {
      r = await measureTool(kind, opts, labMod, keepLab);
    } catch (e) {
      // A broken harness step for one tool (its lab is cleaned up by then) must not hide the other's figures.
      r = { tool: kind, name: kind === 'ref' ? 'portsentry 1.2 (Debian)' : 'trisentry portsentry', sent: 0, error: `benchmark step failed: ${e instanceof Error ? e.message : String(e)}` };
    }
    rows.push(r);
    if (r.error) console.log(`   ${kind === 'ref' ? '1.2' : 'ours'}: ${r.error}`);
    else {
      console.log(`   sent ${fmt(r.sent)} by ${r.senders} hping3; on the wire for ${fmt(r.floodWireS, 2)} s: ${fmt(r.rateWire)} packets/s actual (wall clock ${fmt(r.floodWallS, 2)} s incl. hping3 start and its 1 s wait at exit)${r.tcpdumpDropped ? `; tcpdump itself dropped ${fmt(r.tcpdumpDropped)}` : ''}`);
      if (r.rateWire !== undefined && r.rateWire < 0.9 * (1e6 / opts.rateUs)) {
        console.log(`   warning: the actual rate is ${fmt((100 * r.rateWire) / (1e6 / opts.rateUs))}% of the aimed ${fmt(1e6 / opts.rateUs)}/s (hping3 paces with one sleep per packet; on a busy or small machine the senders fall behind): compare tools only at similar actual rates, or lower --rate-us`);
      }
      if (r.exitStatus !== undefined) console.log(`   ours exited with ${r.exitStatus} after SIGTERM${r.pcap ? '' : '; it logged no "Capture statistics" line'}`);
      if (r.note) console.log(`   note: ${r.note}`);
    }
    if (opts.keep && r.tmpDir) console.log(`   files kept in ${r.tmpDir}`);
  }

  console.log('');
  printTable(rows);
  for (const r of rows) if (r.error) console.log(`${r.name}: ${r.error.split('\n')[0]}`);
  const json = rows.map((r) => {
    const { tmpDir, keptLab, ...rest } = r;
    void tmpDir;
    void keptLab;
    return rest;
  });
  console.log(JSON.stringify({ bench: 'portsentry-flood', packets: opts.packets, rateUs: opts.rateUs, cpus: cpus().length, results: json }));

  if (keptLabs.length) {
    console.log(`\nlab ${PREFIX} kept for debugging (ip netns list); Ctrl-C tears it down (or it goes in ${KEEP_MAX_MS / 60_000} min)`);
    await sleep(KEEP_MAX_MS);
    for (const l of keptLabs) await l.cleanup();
  }
  // 0: every tool measured; 2: some figures printed, some tool failed; 1: nothing measured.
  const ran = rows.filter((r) => !r.error).length;
  return ran === rows.length ? 0 : ran > 0 ? 2 : 1;
}

if (process.argv[2] === '--collect') collect(process.argv[3], process.argv[4]);
else process.exitCode = await main();
