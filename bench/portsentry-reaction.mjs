#!/usr/bin/env node
// Reaction time under a real nmap SYN scan, in the scan lab: how long after the first probe each tool
// has the scanner blocked, how many ports answered the scanner, and whether the scan revealed the real
// services. In one run, for nmap -T4 and -T5 over ports 1-1000:
//   ref   Debian's portsentry 1.2 -atcp, blocking with KILL_ROUTE = iptables -I INPUT ... -j DROP
//   user  ours -atcp, BLOCK_BACKEND=nftables (the userspace path: pcap -> decide -> nft -i)
//   fast  ours -atcp with the nftables kernel fast path in front (the kernel blocks the first probe)
// Each measurement gets a fresh lab (ts-br-*, 198.18.41.0/24) whose target runs three real services
// (TCP 22, 80, 443). No packet goes anywhere else (see /work/shared/LAB.md).
//
// usage (as root, after `npm run build` and `npx tsc -b test`, with scripts/install-reference-tools run):
//   node bench/portsentry-reaction.mjs [--only ref,user,fast] [--timing T4,T5] [--keep]
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TCP, readTcpPackets } from './lib/pcap.mjs';
import { READY_TEXT, REF_BIN, refVersion, startRefPortsentry } from './lib/refportsentry.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LAB_JS = join(ROOT, 'test', 'dist', 'lab', 'lab.js');
const OURS_BIN = join(ROOT, 'portsentry', 'bin', 'portsentry.js');
const OURS_BUILT = join(ROOT, 'portsentry', 'dist', 'src', 'cli.js');
const OURS_CONFIG_JS = join(ROOT, 'portsentry', 'dist', 'src', 'config.js');
const FASTPATH_JS = join(ROOT, 'portsentry', 'dist', 'src', 'adapters', 'response', 'fastpath.js');
const SHARED_JS = join(ROOT, 'shared', 'dist', 'src', 'index.js');

const PREFIX = 'ts-br';
const SUBNET = 41;
const SERVICES = [22, 80, 443];
const ADVANCED_BELOW = 1024;
const ADVANCED_EXCLUDE = [113, 139];
const BLOCK_S = 3600;
const BLOCK_RATE = 30;
const TOOLS = {
  ref: 'portsentry 1.2 (Debian) -atcp, iptables',
  user: 'ours -atcp, nftables (userspace path)',
  fast: 'ours -atcp, nftables + kernel fast path',
};
const TIMINGS = ['T4', 'T5'];

const USAGE = `usage: node bench/portsentry-reaction.mjs [--only ref,user,fast] [--timing T4,T5] [--keep]
  --only LIST    tools to measure (default all): ref = Debian's portsentry 1.2, user = ours through the
                 userspace path, fast = ours with the nftables kernel fast path
  --timing LIST  nmap timing templates (default T4,T5)
  --keep         keep each run's temp dir (config, pcap, logs, nmap output) and print where`;

function parseArgs(argv) {
  const o = { tools: Object.keys(TOOLS), timings: TIMINGS, keep: false };
  const list = (v, valid, what) => {
    const items = String(v ?? '').split(',').filter(Boolean);
    if (!items.length || items.some((x) => !valid.includes(x))) fail(`${what} takes a comma-separated list of ${valid.join(', ')}`);
    return items;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') o.tools = list(argv[++i], Object.keys(TOOLS), '--only');
    else if (a === '--timing') o.timings = list(argv[++i], TIMINGS, '--timing');
    else if (a === '--keep') o.keep = true;
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(a)}`);
  }
  return o;
}

function fail(msg) {
  console.error(`portsentry-reaction: ${msg}\n${USAGE}`);
  process.exit(64);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

function signalGroup(child, sig) {
  try {
    process.kill(-child.pid, sig);
  } catch {
    // already gone
  }
}

/** Ports 1..below-1 minus the excluded and the busy ones, as [from, to] ranges (what -atcp watches). */
function watchedRanges(below, skip) {
  const out = [];
  let start;
  for (let p = 1; p <= below; p++) {
    const watched = p < below && !skip.has(p);
    if (watched && start === undefined) start = p;
    if (!watched && start !== undefined) {
      out.push([start, p - 1]);
      start = undefined;
    }
  }
  return out;
}

/** The same classic config for 1.2 and ours; `ref` adds 1.2's KILL_ROUTE, ours the backend keys. */
function configText(tool, dir, captureIf, fastPathKey) {
  const lines = [
    `# portsentry-reaction benchmark (${tool})`,
    'TCP_PORTS="1,11,15,79,111,119,143,540,635,1080,1524,2000"',
    'UDP_PORTS="1,7,9,69"',
    `ADVANCED_PORTS_TCP="${ADVANCED_BELOW}"`,
    'ADVANCED_PORTS_UDP="1024"',
    `ADVANCED_EXCLUDE_TCP="${ADVANCED_EXCLUDE.join(',')}"`,
    'ADVANCED_EXCLUDE_UDP="520,138,137,67"',
    `IGNORE_FILE="${join(dir, 'portsentry.ignore')}"`,
    `HISTORY_FILE="${join(dir, 'portsentry.history')}"`,
    `BLOCKED_FILE="${join(dir, 'portsentry.blocked')}"`,
    'RESOLVE_HOST="0"',
    'BLOCK_TCP="1"',
    'BLOCK_UDP="0"',
    'SCAN_TRIGGER="0"',
  ];
  if (tool === 'ref') {
    // 1.2 runs it through system(3): one shell and one iptables per block, as on a real 1.2 host.
    lines.push('KILL_ROUTE="/sbin/iptables -I INPUT -s $TARGET$ -j DROP"');
  } else {
    lines.push(
      'BLOCK_BACKEND="nftables"',
      `BLOCK_DURATION="${BLOCK_S}"`,
      `BLOCK_RATE="${BLOCK_RATE}"`,
      `STATE_FILE="${join(dir, 'portsentry.state.json')}"`,
      // Ours only: capture on the scanner's bridge port, not on the bridge (see captureIf in measure).
      `INTERFACES="${captureIf}"`,
    );
    if (tool === 'fast' && fastPathKey) lines.push('FAST_PATH="1"');
    if (tool === 'user' && fastPathKey) lines.push('FAST_PATH="0"'); // the default is on: measure the userspace path alone
  }
  return `${lines.join('\n')}\n`;
}

/** Whether the built daemon knows FAST_PATH (then it wires the fast path itself). */
function daemonHasFastPath() {
  try {
    return /['"]FAST_PATH['"]/.test(readFileSync(OURS_CONFIG_JS, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * The wire's view of one scan. Probes: SYN without ACK/RST from the scanner. Replies: SYN-ACK or RST
 * from the target, matched to the probe with the same port pair sent before it. The block counts as
 * in place from the first probe after the last answered one (an upper bound; the last answered probe
 * is the lower bound), since the target answers every probe it lets in.
 */
function analyse(pkts, scanIp, targetIp) {
  const probes = pkts.filter((p) => p.src === scanIp && p.dst === targetIp && (p.flags & (TCP.SYN | TCP.ACK | TCP.RST)) === TCP.SYN);
  const replies = pkts.filter((p) => p.src === targetIp && p.dst === scanIp && ((p.flags & (TCP.SYN | TCP.ACK)) === (TCP.SYN | TCP.ACK) || (p.flags & TCP.RST) !== 0));
  const r = { probes: probes.length, replies: replies.length };
  if (!probes.length) return r;
  const first = probes[0].tsMs;
  r.firstProbePort = probes[0].dport;
  r.firstProbeTsMs = first;
  const byPair = new Map();
  for (const rep of replies) {
    const k = `${rep.sport}:${rep.dport}`;
    if (!byPair.has(k)) byPair.set(k, []);
    byPair.get(k).push(rep.tsMs);
  }
  // The next probe to the same pair bounds which replies belong to this one.
  const nextSame = new Array(probes.length).fill(Infinity);
  const lastIdx = new Map();
  probes.forEach((p, i) => {
    const k = `${p.dport}:${p.sport}`;
    if (lastIdx.has(k)) nextSame[lastIdx.get(k)] = p.tsMs;
    lastIdx.set(k, i);
  });
  const answered = probes.map((p, i) => (byPair.get(`${p.dport}:${p.sport}`) ?? []).some((t) => t >= p.tsMs && t < nextSame[i]));
  const last = answered.lastIndexOf(true);
  r.answeredProbes = answered.filter(Boolean).length;
  r.unansweredBeforeBlock = last < 0 ? 0 : answered.slice(0, last).filter((a) => !a).length;
  if (last < 0) {
    r.blockMs = 0;
    r.lastAnsweredMs = undefined;
  } else if (last === probes.length - 1) {
    r.blockMs = undefined; // every probe was answered: never blocked during the scan
    r.lastAnsweredMs = probes[last].tsMs - first;
  } else {
    r.blockMs = probes[last + 1].tsMs - first;
    r.lastAnsweredMs = probes[last].tsMs - first;
  }
  r.portsAnswered = new Set(replies.map((p) => p.sport)).size;
  r.synAckServices = [...new Set(replies.filter((p) => (p.flags & TCP.SYN) !== 0 && SERVICES.includes(p.sport)).map((p) => p.sport))].sort((a, b) => a - b);
  r.scanWireMs = probes[probes.length - 1].tsMs - first;
  return r;
}

/** Open ports and per-state counts from nmap's -oG output. */
function parseNmapGrepable(text) {
  const open = [];
  const states = {};
  for (const line of text.split('\n')) {
    const ports = /\tPorts: ([^\t]*)/.exec(line);
    if (ports) {
      for (const e of ports[1].split(', ').filter(Boolean)) {
        const [port, state] = e.split('/');
        states[state] = (states[state] ?? 0) + 1;
        if (state === 'open') open.push(Number(port));
      }
    }
    const ignored = /Ignored State: (\S+) \((\d+)\)/.exec(line);
    if (ignored) states[ignored[1]] = (states[ignored[1]] ?? 0) + Number(ignored[2]);
  }
  return { open, states };
}

/** One tool against one nmap timing, in a fresh lab. Resolves with its figures, or with `error` set. */
async function measure(tool, timing, ctx) {
  const res = { tool, name: TOOLS[tool], timing };
  const tmp = mkdtempSync(join(tmpdir(), `ts-br-${process.pid}-`));
  res.tmpDir = tmp;
  const lab = await ctx.labMod.createLab({ prefix: PREFIX, subnet: SUBNET });
  let ref;
  let fp;
  try {
    const { target, scan } = lab.hosts;
    // Three real services; node listens dual-stack and closes each connection at once.
    const svc = lab.spawn('target', [process.execPath, '-e', `for (const p of ${JSON.stringify(SERVICES)}) require('node:net').createServer((s) => s.end()).listen(p, '::')`], { timeoutMs: 10 * 60_000 });
    svc.stdout.resume();
    svc.stderr.resume();
    for (const p of SERVICES) {
      await ctx.labMod.waitFor(() => ctx.labMod.tcpConnect(lab, 'scan', target.ipv4, p, 1000), { timeoutMs: 10_000, what: `service on port ${p}` });
    }

    // The scanner's bridge port in the target namespace. Not the bridge: with br_netfilter loaded
    // (bridge-nf-call-iptables=1, the default once the module is in), the IP prerouting hooks run for a
    // bridged frame at the port, so a frame that a block drops never reaches the bridge device, and a
    // capture there (tcpdump, or ours) would miss every probe after the block. A real NIC's capture
    // tap always runs before prerouting; the port is that tap here.
    const captureIf = `${PREFIX}-p${scan.index}`;
    res.captureIf = captureIf;
    const conf = join(tmp, 'portsentry.conf');
    writeFileSync(conf, configText(tool, tmp, captureIf, ctx.fastPathKey));
    writeFileSync(join(tmp, 'portsentry.ignore'), '');

    // ---- the tool
    let ours;
    let oursLog = '';
    if (tool === 'ref') {
      res.version = refVersion();
      ref = await startRefPortsentry(lab, ctx.labMod, { work: tmp, conf, args: ['-atcp'] });
    } else {
      if (tool === 'fast' && !ctx.fastPathKey) {
        // The daemon has no FAST_PATH key yet: the harness sets the kernel fast path up itself, as the
        // daemon would (same table, what -atcp watches, the target's own addresses allowed).
        fp = ctx.createFastPath({ commandPrefix: ['ip', 'netns', 'exec', target.ns], timeoutS: BLOCK_S, ratePerMinute: BLOCK_RATE });
        const allowed = [`${target.ipv4}/32`, `${target.ipv6}/128`, '127.0.0.0/8', '::1/128'].map(ctx.parsePrefix);
        await fp.init({ watched: { tcp: watchedRanges(ADVANCED_BELOW, new Set([...SERVICES, ...ADVANCED_EXCLUDE])), udp: [] }, allowed });
        res.fastPathBy = 'harness';
      } else if (tool === 'fast') res.fastPathBy = 'daemon (FAST_PATH="1")';
      ours = lab.spawn('target', [process.execPath, OURS_BIN, '-c', conf, '--foreground', '--syslog', 'stderr', '-atcp'], { timeoutMs: 10 * 60_000 });
      ours.stdout.resume();
      ours.stderr.setEncoding('utf8');
      ours.stderr.on('data', (d) => (oursLog += d));
      await ctx.labMod.waitFor(() => oursLog.includes(READY_TEXT) || ours.exitCode !== null, { timeoutMs: 20_000, what: 'ours ready' }).catch(() => undefined);
      if (!oursLog.includes(READY_TEXT)) {
        res.error = `ours did not get ready (exit ${ours.exitCode ?? ours.signalCode ?? 'none'}):\n${oursLog.trim()}`;
        return res;
      }
    }

    // ---- capture both directions between scanner and target on the bridge
    const pcapFile = join(tmp, 'scan.pcap');
    const tcpdump = lab.spawn('target', ['tcpdump', '-i', captureIf, '-n', '-s', '96', '-B', '16384', '-w', pcapFile, 'tcp and host', scan.ipv4], { timeoutMs: 10 * 60_000 });
    let tcpdumpErr = '';
    tcpdump.stderr.setEncoding('utf8');
    tcpdump.stderr.on('data', (d) => (tcpdumpErr += d));
    tcpdump.stdout.resume();
    await ctx.labMod.waitFor(() => /listening on/.test(tcpdumpErr) || tcpdump.exitCode !== null, { timeoutMs: 10_000, what: 'tcpdump listening' });
    if (!/listening on/.test(tcpdumpErr)) throw new Error(`tcpdump did not start: ${tcpdumpErr.trim()}`);
    // A second clock on the block: `nft monitor` reports every element or rule a tool commits (ours
    // through nft, 1.2's iptables-nft rule), stamped here on arrival. The kernel fast path's own set
    // updates come from the packet path and send no event: its figure is the wire's alone.
    const monitor = lab.spawn('target', ['nft', 'monitor'], { timeoutMs: 10 * 60_000 });
    let monitorSeen;
    let monitorBuf = '';
    monitor.stdout.setEncoding('utf8');
    monitor.stdout.on('data', (d) => {
      const t = performance.timeOrigin + performance.now();
      monitorBuf += d;
      if (monitorSeen === undefined && monitorBuf.includes(scan.ipv4)) monitorSeen = t;
    });
    monitor.stderr.resume();
    await sleep(300);

    // ---- the scan. -n: no DNS; -Pn: no discovery probes (they would be the "first probe", to 80/443).
    const t0 = Date.now();
    const nm = await lab.run('scan', ['timeout', '180', 'nmap', '-n', '-Pn', '-sS', `-${timing}`, '-p', '1-1000', '--max-retries', '0', '-oG', '-', target.ipv4], { timeoutMs: 190_000, allowFail: true });
    res.scanWallS = (Date.now() - t0) / 1000;
    if (nm.status !== 0) res.note = `nmap exited ${nm.status ?? nm.signal}: ${nm.stderr.trim().split('\n')[0]}`;
    // libpcap (TPACKET_V3) hands tcpdump a ring block when it is full or after its 1 s timeout, and a
    // tcpdump stopped by SIGINT drops the block still open: wait for it to retire, or the last packets
    // of the scan are missing from the file.
    await sleep(1_500);
    signalGroup(monitor, 'SIGTERM');
    signalGroup(tcpdump, 'SIGINT');
    await Promise.race([exited(tcpdump), sleep(5_000)]);
    const dropped = /(\d+) packets? dropped by kernel/.exec(tcpdumpErr);
    res.tcpdumpDropped = dropped ? Number(dropped[1]) : undefined;
    if (res.tcpdumpDropped) res.note = [res.note, `tcpdump dropped ${dropped[1]} packets (the counts below miss them; the first probe and the block time stand unless the drop hit them)`].filter(Boolean).join('; ');

    // ---- is the block in place now?
    if (tool === 'ref') {
      const ipt = await lab.run('target', ['iptables', '-w', '-S', 'INPUT'], { timeoutMs: 10_000, allowFail: true });
      res.blockedAfter = ipt.stdout.includes(`-s ${scan.ipv4}/32`);
    } else {
      const nft = await lab.run('target', ['nft', 'list', 'table', 'inet', 'portsentry'], { timeoutMs: 10_000, allowFail: true });
      res.blockedAfter = nft.stdout.includes(scan.ipv4);
      const sets = [...nft.stdout.matchAll(/set (\w+) \{[^}]*?elements = \{([^}]*)\}/g)].filter((m) => m[2].includes(scan.ipv4)).map((m) => m[1]);
      res.blockedIn = sets;
    }

    // What the tool itself saw: its probe log lines for the scanner (1.2 sees nothing its own iptables
    // rule drops, since a raw socket reads after INPUT; ours reads from the capture tap).
    await sleep(500);
    const probeLine = new RegExp(`attackalert: .* from host: [^ ]*/${scan.ipv4.replaceAll('.', '\\.')} to TCP port`);
    const toolLines = ref ? ref.log.map((l) => l.text) : oursLog.split('\n');
    res.probesLogged = toolLines.filter((l) => probeLine.test(l)).length;
    const nmap = parseNmapGrepable(nm.stdout);
    res.nmapStates = nmap.states;
    res.servicesRevealed = nmap.open.filter((p) => SERVICES.includes(p));
    Object.assign(res, analyse(readTcpPackets(pcapFile), scan.ipv4, target.ipv4));
    if (monitorSeen !== undefined && res.probes) res.monitorBlockMs = monitorSeen - res.firstProbeTsMs;
    if (ctx.keep) {
      writeFileSync(join(tmp, 'nmap.txt'), nm.stdout + nm.stderr);
      writeFileSync(join(tmp, 'tool.log'), ref ? ref.log.map((l) => `${l.t.toFixed(3)} ${l.text}`).join('\n') : oursLog);
    }
    return res;
  } finally {
    ref?.stop();
    await fp?.close();
    await lab.cleanup();
    if (!ctx.keep) rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// Output

function fmt(v, digits = 0) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-';
  return typeof v === 'number' ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : String(v);
}

function blockCol(r) {
  if (r.probes === undefined) return '-';
  if (r.blockMs === undefined) return `never (${fmt(r.probes)} probes answered)`;
  if (r.lastAnsweredMs === undefined) return '0 (first probe dropped)';
  return `${fmt(r.lastAnsweredMs, 2)} < b <= ${fmt(r.blockMs, 2)}`;
}

function printTable(rows) {
  const head = ['tool / path', 'nmap', 'ms first probe -> block', 'nft monitor ms', 'ports that answered', 'real services revealed', 'probes', 'logged by tool', 'blocked after', 'scan s'];
  const body = rows.map((r) =>
    r.error
      ? [r.name, r.timing, `error: ${r.error.split('\n')[0]}`, '-', '-', '-', '-', '-', '-', '-']
      : [
          r.name,
          r.timing,
          blockCol(r),
          fmt(r.monitorBlockMs, 2),
          fmt(r.portsAnswered),
          r.servicesRevealed.length ? r.servicesRevealed.join(',') : 'none',
          fmt(r.probes),
          fmt(r.probesLogged),
          r.blockedAfter ? `yes${r.blockedIn?.length ? ` (${r.blockedIn.join(',')})` : ''}` : 'NO',
          fmt(r.scanWallS, 1),
        ],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const b of body) console.log(line(b));
}

function removeStaleTempDirs() {
  for (const d of readdirSync(tmpdir())) {
    const m = /^ts-br-(\d+)-[A-Za-z0-9]{6}$/.exec(d);
    if (!m || Number(m[1]) === process.pid || existsSync(`/proc/${m[1]}`)) continue;
    rmSync(join(tmpdir(), d), { recursive: true, force: true });
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(LAB_JS)) {
    console.error(`portsentry-reaction: ${LAB_JS} is missing: run \`npx tsc -b test\` first`);
    return 69;
  }
  const labMod = await import(LAB_JS);
  const skip = labMod.labSkipReason();
  if (skip) {
    console.error(`portsentry-reaction: skipped: ${skip}`);
    return 0;
  }
  const missing = labMod.missingTools(['nmap', 'tcpdump', 'nft', 'iptables', 'unshare', 'mount']);
  if (missing.length) {
    console.error(`portsentry-reaction: skipped: needs ${missing.join(', ')} (scripts/setup installs them)`);
    return 0;
  }
  removeStaleTempDirs();
  const ctx = { labMod, keep: opts.keep, fastPathKey: daemonHasFastPath() };
  if (opts.tools.includes('fast')) {
    if (!existsSync(FASTPATH_JS)) fail(`${FASTPATH_JS} is missing: run \`npm run build\` first`);
    ({ createFastPath: ctx.createFastPath } = await import(FASTPATH_JS));
    ({ parsePrefix: ctx.parsePrefix } = await import(SHARED_JS));
  }

  console.log(`portsentry reaction to nmap -sS -p 1-1000 --max-retries 0 (-n -Pn), target with real services on ${SERVICES.join(', ')}`);
  console.log(`lab ${PREFIX}-*, 198.18.${SUBNET}.0/24, a fresh lab per measurement; ${cpus().length} CPUs`);
  if (opts.tools.includes('fast')) {
    console.log(ctx.fastPathKey ? 'fast path: wired by the daemon (FAST_PATH="1")' : 'fast path: the daemon has no FAST_PATH key yet; the harness sets the kernel fast path up itself (NftFastPath) and then starts ours unchanged');
  }
  const rows = [];
  for (const timing of opts.timings) {
    for (const tool of opts.tools) {
      let r;
      if (tool === 'ref' && !existsSync(REF_BIN)) r = { tool, timing, name: TOOLS[tool], error: `${REF_BIN} is missing: run scripts/install-reference-tools (as root)` };
      else if (tool !== 'ref' && !existsSync(OURS_BUILT)) r = { tool, timing, name: TOOLS[tool], error: `${OURS_BUILT} is missing: run \`npm run build\` first` };
      else {
        process.stdout.write(`-- ${TOOLS[tool]}, nmap -${timing} ... `);
        try {
          r = await measure(tool, timing, ctx);
        } catch (e) {
          r = { tool, timing, name: TOOLS[tool], error: `benchmark step failed: ${e instanceof Error ? e.message : String(e)}` };
        }
        console.log(r.error ? 'failed' : 'done');
      }
      rows.push(r);
      if (r.error) console.log(`   ${r.error}`);
      if (r.note) console.log(`   note: ${r.note}`);
      if (r.unansweredBeforeBlock) console.log(`   note: ${r.unansweredBeforeBlock} probes before the block got no answer (lost, or answered outside the capture)`);
      if (opts.keep && r.tmpDir) console.log(`   files kept in ${r.tmpDir}`);
    }
  }
  console.log('');
  printTable(rows);
  console.log('"ports that answered": distinct target ports that sent the scanner a SYN-ACK or RST (the first probe\'s own reply included); "b": the block, between the last answered probe and the next one (ms after the first probe, tcpdump times); "nft monitor ms": first probe to the block commit of the tool reported by nft monitor (none for the fast path\'s kernel-made blocks)');
  const json = rows.map(({ tmpDir, ...rest }) => (void tmpDir, rest));
  console.log(JSON.stringify({ bench: 'portsentry-reaction', cpus: cpus().length, fastPathBy: ctx.fastPathKey ? 'daemon' : 'harness', results: json }));
  const ran = rows.filter((r) => !r.error).length;
  return ran === rows.length ? 0 : ran > 0 ? 2 : 1;
}

process.exitCode = await main();
