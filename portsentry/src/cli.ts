/**
 * `portsentry [-c|--config FILE] [--foreground] [--syslog SPEC]... MODE...` — the only file of this
 * workspace that reads argv or exits.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, MODES, TriSentryError, UsageError, exitCodeOf, type Mode } from '@trisentry/shared';
import { runDaemon } from './daemon.js';
import { runAdmin } from './admin.js';

const SHIPPED = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'etc', 'portsentry.conf');
const SYSTEM = ['/etc/trisentry/portsentry.conf', '/etc/portsentry/portsentry.conf'];

const HELP = `usage: portsentry [-c|--config FILE] [--foreground] [--syslog SPEC]... [--replay FILE.pcap] MODE...

Detects port scans (TriSentry's PortSentry 1.2 drop-in).

Modes (several may be given at once, e.g. -tcp -udp):
  -tcp    classic: listen on every TCP_PORTS port; a completed connection is a probe
  -udp    classic: listen on every UDP_PORTS port; any datagram is a probe
  -stcp   stealth TCP: capture packets to TCP_PORTS (SYN, FIN, NULL, XMAS, FULL-XMAS, ACK,
          Maimon and odd-flag probes); no socket is opened on those ports
  -sudp   stealth UDP: capture datagrams to UDP_PORTS
  -atcp   advanced stealth TCP: every port below ADVANCED_PORTS_TCP except ADVANCED_EXCLUDE_TCP
          and ports a local service listens on (kept current while running)
  -audp   advanced stealth UDP: the same with ADVANCED_PORTS_UDP / ADVANCED_EXCLUDE_UDP
  One TCP mode and one UDP mode at most (e.g. -atcp -audp, or -tcp -sudp).
  Stealth modes need root (or CAP_NET_RAW) and see IPv4 and IPv6 on every interface, or on
  INTERFACES="..." from the config.

Administration (through the running daemon when there is one, else on the files and the kernel):
  portsentry [-c FILE] list               active blocks: address, since, expiry, port, mode, why
  portsentry [-c FILE] unblock ADDRESS    lift one block (firewall, state, blocked file), logged
  portsentry [-c FILE] flush              lift every block

Options:
  -c, --config FILE   classic portsentry.conf (default: /etc/trisentry/portsentry.conf, else
                      /etc/portsentry/portsentry.conf, else the shipped etc/portsentry.conf)
  --foreground        also write every log line to stderr
  --replay FILE.pcap  run the stealth detectors of the given modes over a capture file instead
                      of a live interface, log what they find, and exit (nothing is blocked)
  --syslog SPEC       where log lines go, repeatable: unix:/dev/log (default), udp://HOST:PORT,
                      tcp://HOST:PORT (?format=rfc5424), stderr
  -h, --help          this text

Exit status: 0 stopped by signal, 64 usage, 69 unavailable, 78 configuration error.
Signals: SIGHUP reloads the configuration and ignore file; SIGTERM/SIGINT stop.
`;

interface Args {
  configPath: string;
  modes: Mode[];
  foreground: boolean;
  sinks: string[];
  replay: string | undefined;
}

function parse(argv: readonly string[]): Args | 'help' {
  const a: Args = { configPath: '', modes: [], foreground: false, sinks: [], replay: undefined };
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${t} needs a value`);
      return v;
    };
    if (t === '-h' || t === '--help') return 'help';
    else if (t === '-c' || t === '--config') a.configPath = next();
    else if (t.startsWith('--config=')) a.configPath = t.slice(9);
    else if (t === '--foreground') a.foreground = true;
    else if (t === '--syslog') a.sinks.push(next());
    else if (t === '--replay') a.replay = next();
    else if (t.startsWith('--replay=')) a.replay = t.slice(9);
    else if (t.startsWith('-') && (MODES as readonly string[]).includes(t.slice(1))) {
      const m = t.slice(1) as Mode;
      if (!a.modes.includes(m)) a.modes.push(m);
    } else throw new UsageError(`unknown argument ${JSON.stringify(t)}`);
  }
  if (a.modes.length === 0) throw new UsageError('no mode given (one or more of -tcp -udp -stcp -sudp -atcp -audp)');
  if (!a.configPath) a.configPath = SYSTEM.find((p) => existsSync(p)) ?? SHIPPED;
  return a;
}

const ADMIN = ['list', 'unblock', 'flush'] as const;

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const opIndex = argv.findIndex((t) => (ADMIN as readonly string[]).includes(t));
    if (opIndex >= 0) {
      const op = argv[opIndex] as (typeof ADMIN)[number];
      const rest = [...argv.slice(0, opIndex), ...argv.slice(opIndex + 1)];
      let configPath = '';
      const positional: string[] = [];
      for (let i = 0; i < rest.length; i++) {
        const t = rest[i]!;
        if (t === '-c' || t === '--config') {
          const v = rest[++i];
          if (v === undefined) throw new UsageError(`${t} needs a value`);
          configPath = v;
        } else if (t.startsWith('--config=')) configPath = t.slice(9);
        else if (t.startsWith('-') && !/^-?[0-9a-fA-F:.]+$/.test(t.slice(1))) throw new UsageError(`unknown argument ${JSON.stringify(t)} for ${op}`);
        else positional.push(t);
      }
      if (op === 'unblock' ? positional.length !== 1 : positional.length !== 0) throw new UsageError(op === 'unblock' ? 'unblock takes one ADDRESS' : `${op} takes no argument`);
      if (!configPath) configPath = SYSTEM.find((p) => existsSync(p)) ?? SHIPPED;
      const r = await runAdmin(op, configPath, positional[0]);
      (r.status === 0 ? process.stdout : process.stderr).write(r.out);
      return r.status;
    }
    const a = parse(argv);
    if (a === 'help') {
      process.stdout.write(HELP);
      return EXIT.OK;
    }
    return await runDaemon({ configPath: a.configPath, modes: a.modes, foreground: a.foreground, sinks: a.sinks.length ? a.sinks : undefined, replay: a.replay });
  } catch (e) {
    if (e instanceof TriSentryError) {
      process.stderr.write(`portsentry: ${e.message}\n`);
      if (e.code === 'USAGE_BAD_ARGS') process.stderr.write('try: portsentry --help\n');
    } else {
      process.stderr.write(`portsentry: internal error: ${(e as Error).stack ?? String(e)}\n`);
    }
    return exitCodeOf(e);
  }
}

