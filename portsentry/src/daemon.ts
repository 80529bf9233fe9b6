/**
 * portsentry's composition root: config -> preflight -> adapters -> pipeline -> shutdown.
 *
 * This build runs the classic modes (-tcp, -udp) end to end: bind, count probes per source, log the
 * 1.2 lines, answer with PORT_BANNER. The stealth and advanced modes and the blocking responses are
 * refused at start-up with exit 69 and a message saying so, never pretended.
 */
import { networkInterfaces } from 'node:os';
import { promises as dns } from 'node:dns';
import {
  ConfigErrors,
  UnavailableError,
  createSyslog,
  installLifecycle,
  loadAddressListFile,
  tryParseAddress,
  AddressSet,
  makePrefix,
  type Mode,
  type Syslog,
  type ReadonlyAddressSet,
} from '@trisentry/shared';
import { loadPortsentryConfig, type PortsentryConfig } from './config.js';
import { TriggerEngine } from './core/trigger.js';
import { ClassicListeners, type ClassicProbe } from './adapters/input/classic.js';

/** What the CLI hands the daemon. */
export interface DaemonOptions {
  readonly configPath: string;
  readonly modes: readonly Mode[];
  /** Also write every log line to stderr. */
  readonly foreground: boolean;
  /** Syslog sink specs; default the local /dev/log. */
  readonly sinks?: readonly string[];
}

const CLASSIC: readonly Mode[] = ['tcp', 'udp'];

/** Everything that can change on reload. */
interface Loaded {
  readonly cfg: PortsentryConfig;
  readonly ignore: ReadonlyAddressSet;
}

function load(path: string): Loaded {
  const cfg = loadPortsentryConfig(path);
  const ignore = new AddressSet();
  if (cfg.ignoreFile) for (const e of loadAddressListFile(cfg.ignoreFile).entries) ignore.add(e.prefix);
  // Every local address, so a spoofed probe "from" this host can never make it act against itself.
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      const a = tryParseAddress(ni.address.replace(/%.*$/, ''));
      if (a) ignore.add(makePrefix(a, a.family === 4 ? 32 : 128));
    }
  }
  return { cfg, ignore: ignore.freeze() };
}

/** Checks a config without running anything; throws ConfigErrors. Used by `trisentry check-config`. */
export function checkPortsentryConfig(path: string): PortsentryConfig {
  return load(path).cfg;
}

const HOSTNAME_OK = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$/;

/** Reverse lookup that never delays detection beyond `ms` and never returns unsafe text. */
async function resolveName(ip: string, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const names = await Promise.race([
      dns.reverse(ip),
      new Promise<string[]>((r) => {
        timer = setTimeout(() => r([]), ms);
      }),
    ]);
    const n = names[0];
    return n !== undefined && HOSTNAME_OK.test(n) ? n : ip;
  } catch {
    return ip;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * Runs portsentry until a stop signal. Resolves with the exit status. Throws ConfigErrors (78) or
 * UnavailableError (69) before anything is started.
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  let state = load(opts.configPath);
  const unsupported = opts.modes.filter((m) => !CLASSIC.includes(m));
  if (unsupported.length > 0) {
    throw new UnavailableError('TS_NOT_AVAILABLE', `mode${unsupported.length > 1 ? 's' : ''} ${unsupported.map((m) => `-${m}`).join(' ')} not available in this build yet (stealth and advanced detection are being built); use -tcp and/or -udp`);
  }
  checkBlocking(state.cfg, opts.modes);

  const log: Syslog = createSyslog({
    ident: 'portsentry',
    facility: 'daemon',
    sinks: [...new Set([...(opts.sinks ?? ['unix:/dev/log']), ...(opts.foreground ? ['stderr'] : [])])],
  });
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
    const report = (name: string): void => {
      log.notice(`attackalert: Connect from host: ${name}/${ip} to ${P} port: ${p.port}`);
      // Blocking is refused at start-up in this build, so the level here is always 0.
      log.notice(`attackalert: Ignoring ${P} response per configuration file setting.`);
    };
    if (state.cfg.resolveHost) void resolveName(ip, 500).then(report);
    else report(ip);
  };

  let listeners = new ClassicListeners(onProbe);
  const bindAll = async (cfg: PortsentryConfig): Promise<number> => {
    let bound = 0;
    for (const mode of opts.modes) {
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
      await listeners.stop();
      await log.close();
    },
    onReload: async () => {
      const next = load(opts.configPath);
      checkBlocking(next.cfg, opts.modes);
      const old = state.cfg;
      state = next;
      if (old.tcpPorts.join() !== next.cfg.tcpPorts.join() || old.udpPorts.join() !== next.cfg.udpPorts.join()) {
        await listeners.stop();
        listeners = new ClassicListeners(onProbe);
        await bindAll(next.cfg);
      }
      if (old.scanTrigger !== next.cfg.scanTrigger) engines.clear();
      log.notice(`adminalert: configuration reloaded from ${opts.configPath}`);
    },
    onReloadError: (err) => {
      const text = err instanceof ConfigErrors ? err.message.split('\n').join('; ') : String((err as Error).message ?? err);
      log.notice(`adminalert: ERROR: reload failed, keeping the running configuration: ${text}`);
    },
    exit: false,
  });
  if ((await bindAll(state.cfg)) === 0) {
    lc.uninstall();
    await listeners.stop();
    await log.close();
    throw new UnavailableError('TS_NOT_AVAILABLE', 'no port could be bound; nothing to watch');
  }
  log.notice('adminalert: PortSentry is now active and listening.');

  await lc.stopped;
  return 0;
}

function checkBlocking(cfg: PortsentryConfig, modes: readonly Mode[]): void {
  const usesTcp = modes.some((m) => m.endsWith('tcp'));
  const usesUdp = modes.some((m) => m.endsWith('udp'));
  if ((usesTcp && cfg.blockTcp !== 0) || (usesUdp && cfg.blockUdp !== 0)) {
    throw new UnavailableError(
      'TS_NOT_AVAILABLE',
      `${cfg.file}: BLOCK_TCP/BLOCK_UDP other than "0" asks for blocking, which is not available in this build yet; set them to "0" (log only) meanwhile`,
    );
  }
}
