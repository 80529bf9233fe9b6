/**
 * The logger: `createSyslog(opts)` gives a {@link Syslog} that formats each message once per sink
 * format and hands it to every sink. Logging never throws and never waits for the network.
 */
import { hostname as osHostname } from 'node:os';
import { ConfigError } from '../errors.js';
import {
  DEFAULT_MAX_BYTES,
  MIN_MAX_BYTES,
  SEVERITIES,
  formatMessage,
  parseFacility,
  parseSeverity,
} from './format.js';
import type { FacilityName, FormatOptions, MessageFormat, SeverityName, SyslogMessage, TimeZone } from './format.js';
import { createSink, parseSinkSpec } from './sinks.js';
import type { Sink, SinkSpec, SinkStats } from './sinks.js';

/** Options of {@link createSyslog}. Only `ident` is required. */
export interface SyslogOptions {
  /** Program name shown in the tag (`portsentry`, `logsentry`, `hostsentry`, ...). */
  readonly ident: string;
  /** Process id in the tag; default process.pid; `false` for a bare `ident:` tag. */
  readonly pid?: number | false;
  /** Facility name or alias; default `daemon`. Unknown names throw ConfigError SYS_UNKNOWN_FACILITY. */
  readonly facility?: FacilityName | string;
  /** Host name for the RFC 3164 remote and RFC 5424 formats; default os.hostname(). */
  readonly hostname?: string;
  /** RFC 5424 MSGID of every message; default nil (`-`). */
  readonly msgid?: string;
  /** Where messages go, as specs or spec strings (see parseSinkSpec); default the local `/dev/log`. */
  readonly sinks?: readonly (SinkSpec | string)[];
  /** Source of the current time in epoch ms; default Date.now. */
  readonly clock?: () => number;
  /** Zone of the timestamps written; default `'local'`, the process's TZ. */
  readonly tz?: TimeZone;
  /** Cap on one formatted message in bytes; default 8192, at least 256. Longer ones are cut and marked. */
  readonly maxBytes?: number;
  /** Messages each sink keeps while it is down; default 10,000. The oldest are dropped first. */
  readonly bufferSize?: number;
  /** Reconnect backoff of a sink that is down: first delay (default 200 ms), doubling up to the max (default 10 s). */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Where the logger reports its own trouble (fallbacks, unsent messages at close); default stderr. */
  readonly onWarning?: (text: string) => void;
}

/** Counters summed over all sinks, plus each sink's own. */
export interface SyslogStats {
  readonly sent: number;
  readonly buffered: number;
  readonly dropped: number;
  readonly reconnects: number;
  readonly sinks: readonly SinkStats[];
}

/** What {@link Syslog.close} could not deliver. */
export interface CloseReport {
  /** Messages still buffered at the deadline, over all sinks (counted as dropped). */
  readonly unsent: number;
  readonly sinks: readonly { readonly target: string; readonly unsent: number }[];
}

/**
 * A syslog writer. Every method that logs returns at once, never throws and never waits for I/O;
 * a sink that is down buffers (bounded) and reports its losses when it is back.
 */
export interface Syslog {
  /** Logs `message` at `severity`. Control characters are escaped; an over-long message is cut. */
  log(severity: SeverityName, message: string | Uint8Array): void;
  emerg(message: string | Uint8Array): void;
  alert(message: string | Uint8Array): void;
  crit(message: string | Uint8Array): void;
  err(message: string | Uint8Array): void;
  warning(message: string | Uint8Array): void;
  notice(message: string | Uint8Array): void;
  info(message: string | Uint8Array): void;
  debug(message: string | Uint8Array): void;
  /** Current counters (see {@link SyslogStats}). */
  stats(): SyslogStats;
  /**
   * Resolves when every sink has handed its buffer to the kernel, or after `timeoutMs` (default 5000)
   * if a sink stays down; never rejects. Check stats().buffered to see what is still waiting.
   */
  flush(timeoutMs?: number): Promise<void>;
  /**
   * Delivers what it can within `timeoutMs` (default 2000), then closes every sink; what is still
   * unsent is counted as dropped, reported through onWarning and returned. Later log calls are dropped.
   */
  close(timeoutMs?: number): Promise<CloseReport>;
}

const defaultWarn = (text: string): void => {
  try {
    process.stderr.write(`${text}\n`);
  } catch {
    // Nowhere left to report to.
  }
};

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min) throw new ConfigError('CFG_BAD_VALUE', `${name} must be an integer >= ${min}, not ${v}`, { key: name });
  return v;
}

/**
 * Creates a logger. Throws ConfigError (SYS_UNKNOWN_FACILITY, SYS_BAD_TARGET, CFG_BAD_VALUE) for
 * bad options; after that nothing it does throws.
 */
export function createSyslog(opts: SyslogOptions): Syslog {
  const facility = parseFacility(opts.facility ?? 'daemon');
  const maxBytes = positiveInt('maxBytes', opts.maxBytes, DEFAULT_MAX_BYTES, MIN_MAX_BYTES);
  const bufferSize = positiveInt('bufferSize', opts.bufferSize, 10_000);
  const retryMinMs = positiveInt('retryMinMs', opts.retryMinMs, 200);
  const retryMaxMs = positiveInt('retryMaxMs', opts.retryMaxMs, 10_000, retryMinMs);
  const clock = opts.clock ?? Date.now;
  const warn = opts.onWarning ?? defaultWarn;
  const safeWarn = (text: string): void => {
    try {
      warn(text);
    } catch {
      // A throwing warning hook must not break logging.
    }
  };
  const pid = opts.pid === false ? undefined : (opts.pid ?? process.pid);
  const hostname = opts.hostname ?? osHostname();
  const fmt: FormatOptions = { tz: opts.tz ?? 'local', maxBytes };
  const specs = (opts.sinks ?? [{ kind: 'unix' } as const]).map((s) => (typeof s === 'string' ? parseSinkSpec(s, { key: 'sinks' }) : s));

  const message = (severity: SeverityName, text: string | Uint8Array, time: number): SyslogMessage => ({
    time,
    facility,
    severity,
    ident: opts.ident,
    pid,
    hostname,
    msgid: opts.msgid,
    message: text,
  });

  const sinks: Sink[] = specs.map((spec) => {
    // The sink's format is known only once it exists; the report closure reads it lazily.
    let format: MessageFormat = 'local';
    const sink = createSink(spec, {
      bufferSize,
      retryMinMs,
      retryMaxMs,
      warn: safeWarn,
      lossReport: (text) => formatMessage(format, message('warning', text, clock()), fmt),
    });
    format = sink.format;
    return sink;
  });
  let closed = false;
  let closedDropped = 0;

  const log = (severity: SeverityName, text: string | Uint8Array): void => {
    try {
      if (closed) {
        closedDropped++;
        return;
      }
      // Callers from plain JS may pass an alias or junk: log it anyway rather than lose it.
      let sev: SeverityName;
      if (Object.hasOwn(SEVERITIES, severity)) sev = severity;
      else {
        try {
          sev = parseSeverity(String(severity));
        } catch {
          sev = 'notice';
        }
      }
      const m = message(sev, typeof text === 'string' || text instanceof Uint8Array ? text : String(text), clock());
      const rendered = new Map<MessageFormat, string>();
      for (const sink of sinks) {
        let line = rendered.get(sink.format);
        if (line === undefined) {
          line = formatMessage(sink.format, m, fmt);
          rendered.set(sink.format, line);
        }
        sink.write(line, m);
      }
    } catch (err) {
      safeWarn(`syslog: internal error while logging: ${String(err)}`);
    }
  };

  const stats = (): SyslogStats => {
    const per = sinks.map((s) => s.stats());
    const sum = (k: 'sent' | 'buffered' | 'dropped' | 'reconnects'): number => per.reduce((a, s) => a + s[k], 0);
    return { sent: sum('sent'), buffered: sum('buffered'), dropped: sum('dropped') + closedDropped, reconnects: sum('reconnects'), sinks: per };
  };

  const flush = async (timeoutMs = 5000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    await Promise.all(sinks.map((s) => s.drained(deadline)));
  };

  const close = async (timeoutMs = 2000): Promise<CloseReport> => {
    if (closed) return { unsent: 0, sinks: [] };
    closed = true;
    const deadline = Date.now() + timeoutMs;
    const unsent = await Promise.all(sinks.map((s) => s.close(deadline).catch(() => s.stats().buffered)));
    const per = sinks.map((s, i) => ({ target: s.target, unsent: unsent[i] ?? 0 }));
    const total = per.reduce((a, s) => a + s.unsent, 0);
    for (const s of per) if (s.unsent > 0) safeWarn(`syslog: ${s.unsent} message${s.unsent === 1 ? '' : 's'} to ${s.target} unsent at close`);
    return { unsent: total, sinks: per };
  };

  return {
    log,
    emerg: (m) => log('emerg', m),
    alert: (m) => log('alert', m),
    crit: (m) => log('crit', m),
    err: (m) => log('err', m),
    warning: (m) => log('warning', m),
    notice: (m) => log('notice', m),
    info: (m) => log('info', m),
    debug: (m) => log('debug', m),
    stats,
    flush,
    close,
  };
}
