/**
 * portsentry's composition root: config -> preflight -> adapters -> pipeline -> shutdown.
 *
 * Classic modes (-tcp, -udp) bind the configured ports (adapters/input/classic.ts); the stealth and
 * advanced modes (-stcp -sudp -atcp -audp) capture packets (stealth.ts); `--replay` runs the stealth
 * detectors over a pcap file. One TCP mode and one UDP mode at most per process, as 1.2 ran one mode
 * per process. Blocking responses are refused at start-up with exit 69 and a message saying so,
 * never pretended.
 */
import { existsSync, readFileSync, unwatchFile, watchFile } from 'node:fs';
import { parseIpv6RouteGateways, parseProcRouteGateways, parseResolvConfNameservers } from './core/localnet.js';
import { networkInterfaces } from 'node:os';
import {
  ConfigErrors,
  UnavailableError,
  UsageError,
  createSyslog,
  installLifecycle,
  acquireLock,
  type Lock,
  loadAddressListFile,
  tryParseAddress,
  parsePrefix,
  AddressSet,
  type IpAddress,
  makePrefix,
  type Mode,
  type Syslog,
  type ReadonlyAddressSet,
} from '@trisentry/shared';
import { loadPortsentryConfig, type PortsentryConfig } from './config.js';
import { TriggerEngine } from './core/trigger.js';
import { ClassicListeners, type ClassicProbe } from './adapters/input/classic.js';
import { Responder } from './respond.js';
import { resolveName } from './adapters/resolve.js';
import { serveControl, type ControlRequest } from './adapters/control.js';
import { scanMessage } from './core/classify.js';
import type { Server } from 'node:net';
import { replay, startStealth, STEALTH_MODES, type StealthContext, type StealthRun } from './stealth.js';

/** What the CLI hands the daemon. */
export interface DaemonOptions {
  readonly configPath: string;
  readonly modes: readonly Mode[];
  /** Also write every log line to stderr. */
  readonly foreground: boolean;
  /** Syslog sink specs; default the local /dev/log. */
  readonly sinks?: readonly string[];
  /** Run the stealth detectors over this pcap file instead of a live capture, then exit. */
  readonly replay?: string;
}

const CLASSIC: readonly Mode[] = ['tcp', 'udp'];

/** Everything that can change on reload. */
interface Loaded {
  readonly cfg: PortsentryConfig;
  /** IGNORE_FILE plus every local address. */
  readonly ignore: ReadonlyAddressSet;
  /** IGNORE_FILE alone (what a replay of another time or host uses). */
  readonly ignoreListOnly: ReadonlyAddressSet;
  readonly local: LocalNetwork;
}

function load(path: string): Loaded {
  return withIgnore(loadPortsentryConfig(path));
}

/** Reads the ignore file of `cfg` and adds this host's own, gateway and name-server addresses. */
function withIgnore(cfg: PortsentryConfig): Loaded {
  const ignore = new AddressSet();
  const listOnly = new AddressSet();
  if (cfg.ignoreFile) {
    for (const e of loadAddressListFile(cfg.ignoreFile).entries) {
      ignore.add(e.prefix);
      listOnly.add(e.prefix);
    }
  }
  const local = localNetwork();
  // Every local address, the gateways and the name servers, so a spoofed probe "from" them can never
  // make this host cut itself off.
  for (const a of [...local.addresses, ...infrastructure()]) ignore.add(makePrefix(a, a.family === 4 ? 32 : 128));
  return { cfg, ignore: ignore.freeze(), ignoreListOnly: listOnly.freeze(), local };
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Default gateways (IPv4, IPv6) and configured name servers. With systemd-resolved, /etc/resolv.conf
 * names only its stub (127.0.0.53, local anyway); the upstream servers it really asks are in
 * /run/systemd/resolve/resolv.conf, so that file counts too.
 */
function infrastructure(): IpAddress[] {
  const texts = [
    ...parseProcRouteGateways(readOr('/proc/net/route')),
    ...parseIpv6RouteGateways(readOr('/proc/net/ipv6_route')),
    ...parseResolvConfNameservers(readOr('/etc/resolv.conf')),
    ...parseResolvConfNameservers(readOr('/run/systemd/resolve/resolv.conf')),
  ];
  return texts.flatMap((t) => {
    const a = tryParseAddress(t);
    return a ? [a] : [];
  });
}

/** This host's addresses, what it answers to, and the interfaces that carry addresses. */
export interface LocalNetwork {
  readonly addresses: readonly IpAddress[];
  /** The same as a set. */
  readonly own: ReadonlyAddressSet;
  /** Own addresses, IPv4 subnet and limited broadcast, multicast: where a probe to this host goes. */
  readonly destinations: ReadonlyAddressSet;
  /** Non-loopback interfaces with an address: where stealth modes capture by default. */
  readonly interfaces: readonly string[];
}

function localNetwork(): LocalNetwork {
  const addresses: IpAddress[] = [];
  const own = new AddressSet();
  const dest = new AddressSet();
  const ifaces = new Set<string>();
  for (const p of ['255.255.255.255/32', '224.0.0.0/4', 'ff00::/8']) dest.add(parsePrefix(p));
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const ni of list ?? []) {
      const a = tryParseAddress(ni.address.replace(/%.*$/, ''));
      if (!a) continue;
      addresses.push(a);
      own.add(makePrefix(a, a.family === 4 ? 32 : 128));
      dest.add(makePrefix(a, a.family === 4 ? 32 : 128));
      if (a.family === 4) {
        const b = tryParseAddress(broadcastOf(ni.address, ni.netmask));
        if (b) dest.add(makePrefix(b, 32));
      }
      if (!ni.internal && !isEnslaved(name)) ifaces.add(name);
    }
  }
  return { addresses, own: own.freeze(), destinations: dest.freeze(), interfaces: [...ifaces].sort() };
}

/**
 * A bridge port or bond slave: its frames are seen again on the bridge or bond that carries the
 * addresses, so capturing on both would count every probe twice. Such ports still get an IPv6
 * link-local address, which is why "has an address" alone does not rule them out.
 */
function isEnslaved(name: string): boolean {
  return existsSync(`/sys/class/net/${name}/brport`) || existsSync(`/sys/class/net/${name}/bonding_slave`);
}

function broadcastOf(addr: string, mask: string): string {
  const a = addr.split('.').map(Number);
  const m = mask.split('.').map(Number);
  return a.map((x, i) => (x | (~(m[i] ?? 255) & 255)) & 255).join('.');
}

/** Checks a config without running anything; throws ConfigErrors. Used by `trisentry check-config`. */
export function checkPortsentryConfig(path: string): PortsentryConfig {
  return load(path).cfg;
}


/**
 * Runs portsentry until a stop signal. Resolves with the exit status. Throws ConfigErrors (78) or
 * UnavailableError (69) before anything is started.
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  checkModes(opts.modes, opts.replay !== undefined);
  let state = load(opts.configPath);

  const log: Syslog = createSyslog({
    ident: 'portsentry',
    facility: 'daemon',
    sinks: [...new Set([...(opts.sinks ?? ['unix:/dev/log']), ...(opts.foreground ? ['stderr'] : [])])],
  });
  const stealthCtx: StealthContext = {
    log,
    ignore: () => state.ignore,
    destinations: () => state.local.destinations,
    own: () => state.local.own,
    interfaces: () => state.local.interfaces,
    name: (ip) => (state.cfg.resolveHost ? resolveName(ip, 500) : Promise.resolve(ip)),
    onDetection: (probe, name) => {
      const address = tryParseAddress(probe.source);
      if (!address || responder === undefined) return;
      const mode = opts.modes.find((m) => m.endsWith(probe.proto) && STEALTH_MODES.includes(m)) ?? (probe.proto === 'tcp' ? 'stcp' : 'sudp');
      void responder.onDetection({ address, proto: probe.proto, port: probe.port, mode, time: probe.time, reason: scanMessage(probe.kind, probe.flags).trim(), name });
    },
    onWatched: (w) => {
      lastWatched = w;
      if (fastStarted) void responder?.setFastPathWatched(w).catch((e: unknown) => log.warning(`adminalert: ERROR: could not update the kernel fast path's ports: ${(e as Error).message}`));
    },
  };
  let responder: Responder | undefined;
  let lastWatched: { readonly tcp: readonly number[]; readonly udp: readonly number[] } = { tcp: [], udp: [] };
  let fastStarted = false;
  if (opts.replay !== undefined) {
    try {
      replay(opts.replay, state.cfg, opts.modes, state.ignoreListOnly, log);
    } finally {
      await log.close();
    }
    return 0;
  }
  for (const w of state.cfg.warnings) log.warning(`adminalert: ${w}`);
  if (process.geteuid?.() !== 0) {
    log.notice('adminalert: running without root: ports below 1024 cannot be watched (needs root or CAP_NET_BIND_SERVICE), and blocking and packet capture are not possible.');
  }

  const engines = new Map<'tcp' | 'udp', TriggerEngine>();
  const newEngine = (c: PortsentryConfig): TriggerEngine => new TriggerEngine({ trigger: c.scanTrigger, windowMs: 3_600_000, maxSources: 65_536 });

  const onProbe = (p: ClassicProbe): void => {
    const addr = tryParseAddress(p.source);
    if (!addr) return;
    if (state.ignore.has(addr)) {
      p.reply(undefined);
      return;
    }
    const ip = addr.toString();
    let engine = engines.get(p.proto);
    if (!engine) engines.set(p.proto, (engine = newEngine(state.cfg)));
    const r = engine.observe(ip, p.time);
    if (!r.triggered) {
      p.reply(undefined);
      return;
    }
    p.reply(state.cfg.portBanner);
    const P = p.proto.toUpperCase();
    // The block starts now; only the lines wait for RESOLVE_HOST's name (see DetectionFacts.name).
    const named = (state.cfg.resolveHost ? resolveName(ip, 500) : Promise.resolve(ip)).then((name) => {
      log.notice(`attackalert: Connect from host: ${name}/${ip} to ${P} port: ${p.port}`);
      return name;
    });
    void responder?.onDetection({ address: addr, proto: p.proto, port: p.port, mode: p.proto, time: p.time, reason: 'Connect', name: named });
  };

  let listeners = new ClassicListeners(onProbe);
  let stealth: StealthRun | undefined;
  const bindAll = async (cfg: PortsentryConfig): Promise<number> => {
    let bound = 0;
    for (const mode of opts.modes.filter((m) => CLASSIC.includes(m))) {
      const proto = mode === 'udp' ? 'udp' : 'tcp';
      const P = proto.toUpperCase();
      const ports = proto === 'tcp' ? cfg.tcpPorts : cfg.udpPorts;
      if (ports.length === 0) {
        log.notice(`adminalert: ERROR: No ${P} ports supplied in config file. Aborting`);
        continue;
      }
      const results = await listeners.start(proto, ports);
      let ok = 0;
      for (const r of results) {
        log.notice(`adminalert: Going into listen mode on ${P} port: ${r.port}`);
        if (r.ok) ok++;
        else {
          log.notice(`adminalert: ERROR: could not bind ${P} socket: ${r.port}. Attempting to continue`);
          if (r.error === 'EACCES') log.notice(`adminalert: ${P} port ${r.port} needs root or CAP_NET_BIND_SERVICE`);
          if (r.error === 'EADDRINUSE') log.notice(`adminalert: ${P} port ${r.port} is in use by a local service and will not be monitored`);
        }
      }
      if (ok === 0) log.notice(`adminalert: ERROR: could not bind ANY ${P} sockets. Shutting down.`);
      bound += ok;
    }
    return bound;
  };

  // Handlers go in before anything is bound or announced, so a signal at any moment stops cleanly.
  const lc = installLifecycle({
    onStop: async () => {
      log.notice('securityalert: PortSentry is shutting down');
      stealth?.stop();
      await listeners.stop();
      control?.close();
      await responder?.close();
      lock?.release();
      await log.close();
    },
    onReload: async () => {
      const next = load(opts.configPath);
      const old = state.cfg;
      state = next;
      if (old.tcpPorts.join() !== next.cfg.tcpPorts.join() || old.udpPorts.join() !== next.cfg.udpPorts.join()) {
        await listeners.stop();
        listeners = new ClassicListeners(onProbe);
        await bindAll(next.cfg);
      }
      if (old.scanTrigger !== next.cfg.scanTrigger) engines.clear();
      stealth?.reload(next.cfg);
      responder?.reload(next.cfg);
      await responder?.setFastPathAllowed([...state.ignore]);
      log.notice(`adminalert: configuration reloaded from ${opts.configPath}`);
    },
    onReloadError: (err) => {
      const text = err instanceof ConfigErrors ? err.message.split('\n').join('; ') : String((err as Error).message ?? err);
      log.notice(`adminalert: ERROR: reload failed, keeping the running configuration: ${text}`);
    },
    exit: false,
  });
  const classicModes = opts.modes.filter((m) => CLASSIC.includes(m));
  let lock: Lock | undefined;
  let control: Server | undefined;
  try {
    // One daemon per state file: two would overwrite each other's blocks.
    let stateFile: string | undefined = state.cfg.stateFile;
    try {
      lock = acquireLock(`${stateFile}.lock`);
    } catch (e) {
      const code = ((e as Error & { cause?: NodeJS.ErrnoException }).cause ?? (e as NodeJS.ErrnoException)).code;
      if (process.geteuid?.() !== 0 && (code === 'EACCES' || code === 'EPERM' || /EACCES|permission/i.test((e as Error).message))) {
        log.notice(`adminalert: cannot keep state in ${stateFile} without root: blocks will not survive a restart, and portsentry list/unblock/flush cannot reach this process`);
        stateFile = undefined;
      } else {
        throw new UnavailableError('TS_NOT_AVAILABLE', `another portsentry already uses STATE_FILE ${stateFile} (${(e as Error).message}); run every mode in one process (e.g. -atcp -audp) or give each its own STATE_FILE`);
      }
    }
    responder = await Responder.create(state.cfg, opts.modes, log, { stateFile });
    const r = responder;
    const handOffMode: Mode = opts.modes.find((m) => m.endsWith('tcp')) ?? opts.modes[0] ?? 'tcp';
    const handOff = (address: string, reason: string): Promise<unknown> => {
      const a = tryParseAddress(address)?.unmapped();
      if (!a) return Promise.reject(new Error(`not an address: ${address}`));
      const ip = a.toString();
      // The same safety as for scans: never this host, its gateways, name servers or the ignore list.
      if (state.ignore.has(a)) {
        log.notice(`attackalert: ${reason}: ${ip} is on the ignore list (or this host's own, gateway or name server address); not blocked`);
        return Promise.resolve({ blocked: false, ignored: true });
      }
      log.notice(`attackalert: Block requested for host: ${ip} by ${reason}`);
      return r.onDetection({ address: a, proto: 'tcp', port: 0, mode: handOffMode, time: Date.now(), reason, name: ip }).then(() => ({ blocked: r.store.isBlocked(ip), ignored: false }));
    };
    if (stateFile !== undefined) control = await serveControl(`${stateFile}.sock`, (req) => (req.op === 'block' ? handOff(req.address, req.reason) : controlRequest(r, req)));
    if (classicModes.length > 0 && (await bindAll(state.cfg)) === 0) {
      throw new UnavailableError('TS_NOT_AVAILABLE', 'no port could be bound; nothing to watch');
    }
    if (opts.modes.some((m) => STEALTH_MODES.includes(m))) {
      stealth = startStealth(state.cfg, opts.modes, stealthCtx);
      await responder.startFastPath([...state.ignore], lastWatched, stealth.interfaces);
      fastStarted = true;
    }
  } catch (e) {
    lc.uninstall();
    stealth?.stop();
    await listeners.stop();
    control?.close();
    await responder?.close();
    lock?.release();
    await log.close();
    throw e;
  }
  log.notice('adminalert: PortSentry is now active and listening.');

  // The ignore file is re-read when it changes (not only on SIGHUP): an administrator adding a
  // friend expects it to take effect. A broken file keeps the list in force and says why.
  const watched = state.cfg.ignoreFile;
  const onIgnoreChange = (): void => {
    try {
      state = withIgnore(state.cfg);
      log.notice(`adminalert: ignore list re-read from ${watched} after it changed`);
      void responder?.setFastPathAllowed([...state.ignore]).catch((e: unknown) => log.warning(`adminalert: ERROR: could not update the kernel fast path's allow list: ${(e as Error).message}`));
    } catch (e) {
      log.notice(`adminalert: ERROR: ${watched} changed but cannot be used, keeping the previous ignore list: ${(e as Error).message.split('\n').join('; ')}`);
    }
  };
  if (watched !== undefined) watchFile(watched, { interval: 1000, persistent: false }, onIgnoreChange);
  await lc.stopped;
  if (watched !== undefined) unwatchFile(watched, onIgnoreChange);
  return 0;
}

/** Answers `portsentry list | unblock | flush` from a running daemon. */
async function controlRequest(r: Responder, req: ControlRequest): Promise<unknown> {
  switch (req.op) {
    case 'list':
      return r.store.all();
    case 'unblock': {
      const a = tryParseAddress(req.address);
      if (!a) throw new Error(`not an address: ${req.address}`);
      const rec = await r.unblock(a, 'portsentry unblock');
      return rec ?? null;
    }
    case 'flush':
      return r.flush('portsentry flush');
    case 'block':
      throw new Error('block requests are answered by the daemon');
    default: {
      const never: never = req;
      return never;
    }
  }
}

/** At most one TCP and one UDP mode (1.2 ran one mode per process); --replay takes stealth modes only. */
function checkModes(modes: readonly Mode[], isReplay: boolean): void {
  for (const proto of ['tcp', 'udp'] as const) {
    const same = modes.filter((m) => m.endsWith(proto));
    if (same.length > 1) throw new UsageError(`${same.map((m) => `-${m}`).join(' and ')} watch the same ${proto.toUpperCase()} ports twice; give one ${proto.toUpperCase()} mode`);
  }
  if (isReplay && modes.some((m) => CLASSIC.includes(m))) {
    throw new UsageError('--replay runs the stealth detectors: use -stcp -sudp -atcp -audp, not -tcp/-udp');
  }
}

