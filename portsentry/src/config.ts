/**
 * portsentry's configuration: the classic PortSentry 1.2 `portsentry.conf`, every 1.2 key with its
 * 1.2 meaning, parsed once into a typed, frozen object. Every bad value is reported with file:line:col
 * and the key, all of them at once (exit 78).
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  ConfigError,
  ConfigErrors,
  loadClassicFile,
  parseCommandTemplate,
  parseDuration,
  parsePortListText,
  type ClassicConfig,
  type ClassicEntry,
  type CommandTemplate,
} from '@trisentry/shared';

/** The keys of PortSentry 1.2's portsentry.conf, all honoured. */
export const CLASSIC_KEYS = [
  'TCP_PORTS',
  'UDP_PORTS',
  'ADVANCED_PORTS_TCP',
  'ADVANCED_PORTS_UDP',
  'ADVANCED_EXCLUDE_TCP',
  'ADVANCED_EXCLUDE_UDP',
  'IGNORE_FILE',
  'HISTORY_FILE',
  'BLOCKED_FILE',
  'RESOLVE_HOST',
  'BLOCK_TCP',
  'BLOCK_UDP',
  'KILL_ROUTE',
  'KILL_HOSTS_DENY',
  'KILL_RUN_CMD',
  'KILL_RUN_CMD_FIRST',
  'SCAN_TRIGGER',
  'PORT_BANNER',
] as const;

/**
 * Keys TriSentry adds (1.2 would reject none of them silently: it ignored unknown keys). Each has a
 * default that keeps 1.2's behaviour or improves on it without changing an old key's meaning.
 */
export const NEW_KEYS = [
  /** How long probes from one source keep counting toward SCAN_TRIGGER (seconds or 10m/1h). */
  'SCAN_TRIGGER_WINDOW',
  /** How many sources the trigger state remembers at most (least recently seen evicted first). */
  'SCAN_STATE_SOURCES',
  /** "1": also name ACK, Maimon (FIN+ACK) and FULL-XMAS probes (stealth modes); "0": ignore them as 1.2 did. */
  'DETECT_ACK_SCANS',
  /** Interfaces the stealth modes capture on, comma-separated; empty = all ("any"). */
  'INTERFACES',
  /** Kernel capture buffer per interface, in KiB (stealth modes). */
  'CAPTURE_BUFFER_KB',
  /** Native blocking backend: auto, nftables, ipset, iptables, route, none (only the KILL_* commands). */
  'BLOCK_BACKEND',
  /** How long a block lasts: seconds or 10m/48h; 0 = until unblocked (1.2). */
  'BLOCK_DURATION',
  /** Each earlier block of the same address multiplies the duration by this (1 = no escalation). */
  'BLOCK_ESCALATION',
  /** Cap of an escalated duration; 0 = none. */
  'BLOCK_DURATION_MAX',
  /** At most this many new blocks per minute; 0 = no limit. */
  'BLOCK_RATE',
  /** "1": log every decision, execute nothing. */
  'DRY_RUN',
  /** The hosts.deny file KILL_HOSTS_DENY appends to. */
  'HOSTS_DENY_FILE',
  /** Where active blocks are kept across restarts. */
  'STATE_FILE',
  /** "1": with nftables and a stealth mode, the kernel blocks a prober on its first packet itself. */
  'FAST_PATH',
] as const;

/** Names BLOCK_BACKEND accepts. */
export const BACKEND_CHOICES = ['auto', 'nftables', 'ipset', 'iptables', 'route', 'none'] as const;
/** A BLOCK_BACKEND value. */
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** Every key a portsentry.conf may hold. */
export const ALL_KEYS = [...CLASSIC_KEYS, ...NEW_KEYS] as const;

/** 0 = log only, 1 = every configured response, 2 = only KILL_RUN_CMD (1.2's BLOCK_TCP/BLOCK_UDP). */
export type BlockLevel = 0 | 1 | 2;

/** The parsed portsentry configuration. */
export interface PortsentryConfig {
  readonly file: string;
  readonly tcpPorts: readonly number[];
  readonly udpPorts: readonly number[];
  readonly advancedPortsTcp: number;
  readonly advancedPortsUdp: number;
  readonly advancedExcludeTcp: readonly number[];
  readonly advancedExcludeUdp: readonly number[];
  /** Absolute path, or undefined when not set (then only the automatic local addresses are ignored). */
  readonly ignoreFile: string | undefined;
  readonly historyFile: string | undefined;
  readonly blockedFile: string | undefined;
  readonly resolveHost: boolean;
  readonly blockTcp: BlockLevel;
  readonly blockUdp: BlockLevel;
  readonly killRoute: CommandTemplate | undefined;
  /** The hosts.deny line template (text, not a command). */
  readonly killHostsDeny: string | undefined;
  readonly killRunCmd: CommandTemplate | undefined;
  readonly killRunCmdFirst: boolean;
  /** 1.2's SCAN_TRIGGER: 0 and 1 both mean "the first probe triggers". */
  readonly scanTrigger: number;
  readonly portBanner: string | undefined;
  /** SCAN_TRIGGER_WINDOW in ms (default 1 hour). */
  readonly scanTriggerWindowMs: number;
  /** SCAN_STATE_SOURCES (default 65536). */
  readonly scanStateSources: number;
  /** DETECT_ACK_SCANS (default on). */
  readonly detectAckScans: boolean;
  /** INTERFACES; empty = every interface. */
  readonly interfaces: readonly string[];
  /** CAPTURE_BUFFER_KB (default 32768: 32 MiB, about 1.8 s of an 18,000 packets/s flood of full frames). */
  readonly captureBufferKb: number;
  /** BLOCK_BACKEND (default auto). */
  readonly blockBackend: BackendChoice;
  /** BLOCK_DURATION in ms; 0 = until unblocked (default 0, as 1.2). */
  readonly blockDurationMs: number;
  /** BLOCK_ESCALATION (default 1). */
  readonly blockEscalation: number;
  /** BLOCK_DURATION_MAX in ms; 0 = none (default 0). */
  readonly blockDurationMaxMs: number;
  /** BLOCK_RATE (default 30 new blocks per minute). */
  readonly blockRate: number;
  /** DRY_RUN (default off). */
  readonly dryRun: boolean;
  /** HOSTS_DENY_FILE (default /etc/hosts.deny). */
  readonly hostsDenyFile: string;
  /** STATE_FILE (default next to HISTORY_FILE, else /var/lib/portsentry/portsentry.state.json). */
  readonly stateFile: string;
  /** FAST_PATH (default on). */
  readonly fastPath: boolean;
  /** Notes for the administrator (repeated keys), `file:line: ...`. */
  readonly warnings: readonly string[];
}

/** Reads and validates a classic portsentry.conf. Throws ConfigErrors listing every problem. */
export function loadPortsentryConfig(path: string): PortsentryConfig {
  const file = resolve(path);
  return interpretClassic(loadClassicFile(file, ALL_KEYS));
}

/** Turns parsed classic entries into the typed config (pure apart from resolving relative paths). */
export function interpretClassic(c: ClassicConfig): PortsentryConfig {
  const errors: ConfigError[] = [];
  const base = dirname(c.file);
  const get = (k: (typeof ALL_KEYS)[number]): ClassicEntry | undefined => c.values.get(k);
  const fail = (e: ClassicEntry, why: string, code: 'CFG_BAD_VALUE' | 'CFG_MISSING_KEY' = 'CFG_BAD_VALUE'): undefined => {
    errors.push(new ConfigError(code, why, { pos: { file: e.file, line: e.line, col: e.col }, key: e.key }));
    return undefined;
  };

  const ports = (k: 'TCP_PORTS' | 'UDP_PORTS' | 'ADVANCED_EXCLUDE_TCP' | 'ADVANCED_EXCLUDE_UDP'): number[] => {
    const e = get(k);
    if (!e || e.value.trim() === '') return [];
    const r = parsePortListText(e.value);
    if (typeof r === 'string') return fail(e, r) ?? [];
    const out: number[] = [];
    for (const { from, to } of r) for (let p = from; p <= to; p++) out.push(p);
    return out;
  };
  const int = (k: (typeof ALL_KEYS)[number], min: number, max: number, dflt: number): number => {
    const e = get(k);
    if (!e) return dflt;
    const v = e.value.trim();
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) return fail(e, `"${e.value}" is not a whole number from ${min} to ${max}`) ?? dflt;
    return Number(v);
  };
  const path = (k: 'IGNORE_FILE' | 'HISTORY_FILE' | 'BLOCKED_FILE' | 'HOSTS_DENY_FILE' | 'STATE_FILE'): string | undefined => {
    const e = get(k);
    if (!e || e.value === '') return undefined;
    if (/[\0\n]/.test(e.value)) return fail(e, 'a path cannot contain NUL or newline');
    return isAbsolute(e.value) ? e.value : resolve(base, e.value);
  };
  const template = (k: 'KILL_ROUTE' | 'KILL_RUN_CMD'): CommandTemplate | undefined => {
    const e = get(k);
    if (!e || e.value.trim() === '') return undefined;
    try {
      return parseCommandTemplate(e.value, { pos: { file: e.file, line: e.line, col: e.col }, key: e.key });
    } catch (err) {
      if (err instanceof ConfigError) errors.push(err);
      else throw err;
      return undefined;
    }
  };

  const duration = (k: 'SCAN_TRIGGER_WINDOW' | 'BLOCK_DURATION' | 'BLOCK_DURATION_MAX', dflt: number, allowZero = false): number => {
    const e = get(k);
    if (!e || e.value.trim() === '') return dflt;
    if (allowZero && e.value.trim() === '0') return 0;
    let secs: number;
    try {
      secs = parseDuration(e.value.trim(), { pos: { file: e.file, line: e.line, col: e.col }, key: e.key });
    } catch (err) {
      if (err instanceof ConfigError) errors.push(err);
      else throw err;
      return dflt;
    }
    if (secs <= 0 || secs > 366 * 86_400) return fail(e, `"${e.value}" must be more than 0 and at most a year`) ?? dflt;
    return secs * 1000;
  };
  const interfaces = (): string[] => {
    const e = get('INTERFACES');
    if (!e || e.value.trim() === '') return [];
    const names = e.value.split(',').map((n) => n.trim()).filter((n) => n !== '');
    // Linux interface names: at most 15 bytes, no slash, no whitespace (dev_valid_name).
    const bad = names.find((n) => !/^[A-Za-z0-9_.:@-]{1,15}$/.test(n));
    if (bad !== undefined) return fail(e, `"${bad}" is not an interface name`) ?? [];
    return [...new Set(names)];
  };

  const backend = (): BackendChoice => {
    const e = get('BLOCK_BACKEND');
    if (!e || e.value.trim() === '') return 'auto';
    const v = e.value.trim();
    if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
    errors.push(new ConfigError('CFG_UNKNOWN_NAME', `"${e.value}" is not a backend; one of: ${BACKEND_CHOICES.join(', ')}`, { pos: { file: e.file, line: e.line, col: e.col }, key: e.key }));
    return 'auto';
  };
  const factor = (): number => {
    const e = get('BLOCK_ESCALATION');
    if (!e || e.value.trim() === '') return 1;
    const v = Number(e.value.trim());
    if (!/^[0-9]+(\.[0-9]+)?$/.test(e.value.trim()) || v < 1 || v > 100) return fail(e, `"${e.value}" is not a factor from 1 to 100`) ?? 1;
    return v;
  };
  const historyFile = path('HISTORY_FILE');
  const stateFile = path('STATE_FILE') ?? (historyFile !== undefined ? resolve(dirname(historyFile), 'portsentry.state.json') : '/var/lib/portsentry/portsentry.state.json');

  const cfg: PortsentryConfig = {
    file: c.file,
    tcpPorts: ports('TCP_PORTS'),
    udpPorts: ports('UDP_PORTS'),
    advancedPortsTcp: int('ADVANCED_PORTS_TCP', 1, 65535, 1024),
    advancedPortsUdp: int('ADVANCED_PORTS_UDP', 1, 65535, 1024),
    advancedExcludeTcp: ports('ADVANCED_EXCLUDE_TCP'),
    advancedExcludeUdp: ports('ADVANCED_EXCLUDE_UDP'),
    ignoreFile: path('IGNORE_FILE'),
    historyFile,
    blockedFile: path('BLOCKED_FILE'),
    resolveHost: int('RESOLVE_HOST', 0, 1, 0) === 1,
    blockTcp: int('BLOCK_TCP', 0, 2, 0) as BlockLevel,
    blockUdp: int('BLOCK_UDP', 0, 2, 0) as BlockLevel,
    killRoute: template('KILL_ROUTE'),
    killHostsDeny: get('KILL_HOSTS_DENY')?.value || undefined,
    killRunCmd: template('KILL_RUN_CMD'),
    killRunCmdFirst: int('KILL_RUN_CMD_FIRST', 0, 1, 0) === 1,
    scanTrigger: int('SCAN_TRIGGER', 0, 1_000_000, 0),
    portBanner: get('PORT_BANNER')?.value || undefined,
    scanTriggerWindowMs: duration('SCAN_TRIGGER_WINDOW', 3_600_000),
    scanStateSources: int('SCAN_STATE_SOURCES', 16, 10_000_000, 65_536),
    detectAckScans: int('DETECT_ACK_SCANS', 0, 1, 1) === 1,
    interfaces: interfaces(),
    captureBufferKb: int('CAPTURE_BUFFER_KB', 64, 4_194_304, 32_768),
    blockBackend: backend(),
    blockDurationMs: duration('BLOCK_DURATION', 0, true),
    blockEscalation: factor(),
    blockDurationMaxMs: duration('BLOCK_DURATION_MAX', 0, true),
    blockRate: int('BLOCK_RATE', 0, 100_000, 30),
    dryRun: int('DRY_RUN', 0, 1, 0) === 1,
    hostsDenyFile: path('HOSTS_DENY_FILE') ?? '/etc/hosts.deny',
    stateFile,
    fastPath: int('FAST_PATH', 0, 1, 1) === 1,
    warnings: c.warnings,
  };
  const hd = get('KILL_HOSTS_DENY');
  if (hd && /[\r\n]/.test(hd.value)) fail(hd, 'the hosts.deny line cannot contain a line break');
  if (errors.length > 0) throw new ConfigErrors(errors);
  return Object.freeze(cfg);
}
