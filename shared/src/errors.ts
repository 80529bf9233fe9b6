/**
 * Errors with stable codes.
 *
 * Every failure the suite reports has a code from {@link ERROR_CODES}; the code never changes meaning,
 * so administrators and scripts can match on it. Each code belongs to one error class (one class per
 * failure kind) and carries the sysexits exit status a CLI uses when that error ends it.
 * `docs/errors.md` lists the same codes; a test keeps the two in step.
 */

/** sysexits(3) exit statuses used by every CLI of the suite. */
export const EXIT = Object.freeze({
  OK: 0,
  /** EX_SOFTWARE-like generic failure (alert found, run failed) */
  FAILURE: 1,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  OSERR: 71,
  CANTCREAT: 73,
  IOERR: 74,
  TEMPFAIL: 75,
  NOPERM: 77,
  CONFIG: 78,
} as const);

/** An exit status from {@link EXIT}. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

interface CodeInfo {
  readonly exit: ExitCode;
  readonly summary: string;
}

/**
 * The registry of error codes. Prefixes: `CFG_` configuration, `SYS_` syslog, `EXEC_` running
 * commands, `FS_` files and state, `NET_` addresses, `USAGE_` command lines, `LAB_` the test lab,
 * `PS_` portsentry, `LS_` logsentry, `HS_` hostsentry, `TS_` the umbrella command.
 */
export const ERROR_CODES = Object.freeze({
  CFG_SYNTAX: { exit: EXIT.CONFIG, summary: 'A config file is not well-formed (YAML syntax, or a classic line that is not KEY="value").' },
  CFG_UNKNOWN_KEY: { exit: EXIT.CONFIG, summary: 'A config file names a key the schema does not know.' },
  CFG_BAD_VALUE: { exit: EXIT.CONFIG, summary: 'A config value has the wrong type or is out of range.' },
  CFG_MISSING_KEY: { exit: EXIT.CONFIG, summary: 'A required config key is absent.' },
  CFG_BAD_DURATION: { exit: EXIT.CONFIG, summary: 'A duration is not of the form 90s, 10m, 48h, 7d (or a plain number of seconds).' },
  CFG_BAD_ADDRESS: { exit: EXIT.CONFIG, summary: 'An address list entry is not an IPv4/IPv6 address or CIDR prefix.' },
  CFG_UNREADABLE: { exit: EXIT.CONFIG, summary: 'A config or list file cannot be read.' },
  CFG_UNKNOWN_NAME: { exit: EXIT.CONFIG, summary: 'A config value names an adapter or option that does not exist; the message lists the valid names.' },
  CFG_DUPLICATE_KEY: { exit: EXIT.CONFIG, summary: 'A YAML mapping repeats a key.' },
  NET_BAD_ADDRESS: { exit: EXIT.DATAERR, summary: 'A string is not a valid IPv4 or IPv6 address or prefix.' },
  SYS_BAD_TARGET: { exit: EXIT.CONFIG, summary: 'A syslog sink target (socket path, host:port, transport) is malformed.' },
  SYS_UNKNOWN_FACILITY: { exit: EXIT.CONFIG, summary: 'A syslog facility or priority name is not known.' },
  SYS_SINK_DOWN: { exit: EXIT.UNAVAILABLE, summary: 'The syslog sink cannot be reached; messages are buffered and losses counted.' },
  SYS_PARSE: { exit: EXIT.DATAERR, summary: 'A log line could not be parsed as RFC 3164, RFC 3339 or RFC 5424.' },
  EXEC_BAD_TEMPLATE: { exit: EXIT.CONFIG, summary: 'A command template is malformed (unbalanced quotes, unknown placeholder, empty).' },
  EXEC_BAD_VALUE: { exit: EXIT.DATAERR, summary: 'A value offered for a template placeholder did not pass its parser.' },
  EXEC_NOT_FOUND: { exit: EXIT.UNAVAILABLE, summary: 'The command of a template does not exist or is not executable.' },
  EXEC_FAILED: { exit: EXIT.FAILURE, summary: 'A command exited with a non-zero status (the status and stderr are in the error).' },
  EXEC_TIMEOUT: { exit: EXIT.TEMPFAIL, summary: 'A command did not finish within its timeout and was killed.' },
  EXEC_SIGNALED: { exit: EXIT.FAILURE, summary: 'A command was ended by a signal.' },
  FS_WRITE: { exit: EXIT.CANTCREAT, summary: 'A state or offset file could not be written atomically.' },
  FS_READ: { exit: EXIT.IOERR, summary: 'A state or offset file could not be read or is corrupt.' },
  FS_LOCKED: { exit: EXIT.TEMPFAIL, summary: 'Another run holds the lock file.' },
  USAGE_BAD_ARGS: { exit: EXIT.USAGE, summary: 'The command line is not valid; --help shows the usage.' },
  LAB_NO_PRIVILEGE: { exit: EXIT.NOPERM, summary: 'The scan lab needs root and network namespaces.' },
  LAB_COMMAND: { exit: EXIT.OSERR, summary: 'A lab command (ip, netns exec) failed.' },
  PS_PCAP_OPEN: { exit: EXIT.UNAVAILABLE, summary: 'A packet capture cannot be opened (no privilege, no such interface, cap not built, filter rejected).' },
  PS_REPLAY_READ: { exit: EXIT.DATAERR, summary: 'A --replay file cannot be read or is not a pcap capture of a supported link type.' },
  PS_FIREWALL: { exit: EXIT.OSERR, summary: 'A firewall backend command (nft, ipset, iptables, ip route) failed or timed out; the message carries the tool\'s stderr.' },
  PS_FIREWALL_UNAVAILABLE: { exit: EXIT.UNAVAILABLE, summary: 'The chosen firewall backend cannot work on this host (its tool is missing or is not permitted to change the firewall).' },
  LS_SMTP_REJECTED: { exit: EXIT.UNAVAILABLE, summary: 'The mail server (or the sendmail program) refused a report; the error carries the SMTP command and response code. The report stays spooled.' },
  LS_SMTP_UNREACHABLE: { exit: EXIT.TEMPFAIL, summary: 'The mail server could not be reached (connection refused, timeout, TLS failure) or sendmail could not be started. The report stays spooled and is sent first on the next run.' },
  LS_SPOOL: { exit: EXIT.CANTCREAT, summary: 'The report spool in the state directory cannot be written or read.' },
  TS_NOT_AVAILABLE: { exit: EXIT.UNAVAILABLE, summary: 'A sentry or feature is not available in this build or on this host.' },
  TS_CHILD_FAILED: { exit: EXIT.SOFTWARE, summary: 'A sentry started by trisentry exited with an error.' },
} as const satisfies Record<string, CodeInfo>);

/** Every stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Where in a file an error was found. Lines and columns count from 1. */
export interface SourcePos {
  readonly file: string;
  readonly line?: number;
  readonly col?: number;
}

/** Formats a position as `file:line:col` (omitting the parts that are unknown). */
export function formatPos(pos: SourcePos): string {
  let s = pos.file;
  if (pos.line !== undefined) {
    s += `:${pos.line}`;
    if (pos.col !== undefined) s += `:${pos.col}`;
  }
  return s;
}

/**
 * The base class of every error the suite raises on purpose. `code` is stable, `exitCode` is the
 * sysexits status for the CLI, `message` is for humans.
 */
export class TriSentryError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.exitCode = ERROR_CODES[code].exit;
    this.name = new.target.name;
  }

  /** `CODE: message`, the form CLIs print. */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** A configuration problem, located in a file: message is `file:line:col: key: text`. */
export class ConfigError extends TriSentryError {
  readonly pos: SourcePos | undefined;
  readonly key: string | undefined;
  readonly detail: string;

  constructor(
    code: Extract<ErrorCode, `CFG_${string}` | `SYS_BAD_TARGET` | `SYS_UNKNOWN_FACILITY` | `EXEC_BAD_TEMPLATE`>,
    detail: string,
    where?: { pos?: SourcePos; key?: string },
  ) {
    const prefix = [where?.pos ? formatPos(where.pos) : undefined, where?.key].filter((p) => p !== undefined && p !== '');
    super(code, prefix.length ? `${prefix.join(': ')}: ${detail}` : detail);
    this.pos = where?.pos;
    this.key = where?.key;
    this.detail = detail;
  }
}

/** Several configuration problems found in one pass, so an administrator sees them all at once. */
export class ConfigErrors extends TriSentryError {
  readonly errors: readonly ConfigError[];

  constructor(errors: readonly ConfigError[]) {
    const first = errors[0];
    super(first ? first.code : 'CFG_SYNTAX', errors.map((e) => e.message).join('\n'));
    this.errors = Object.freeze([...errors]);
  }
}

/** An address or prefix string that does not parse. */
export class AddressError extends TriSentryError {
  constructor(input: string, why: string) {
    super('NET_BAD_ADDRESS', `not a valid address: ${JSON.stringify(input)}: ${why}`);
  }
}

/** A syslog problem that is not a config error (a sink down, a line that does not parse). */
export class SyslogError extends TriSentryError {}

/** Running an external command failed; carries the command, exit status and stderr. */
export class ExecError extends TriSentryError {
  readonly argv: readonly string[];
  readonly status: number | null;
  readonly signal: string | null;
  readonly stderr: string;

  constructor(
    code: Extract<ErrorCode, `EXEC_${string}`>,
    message: string,
    info: { argv: readonly string[]; status?: number | null; signal?: string | null; stderr?: string; cause?: unknown },
  ) {
    super(code, message, { cause: info.cause });
    this.argv = Object.freeze([...info.argv]);
    this.status = info.status ?? null;
    this.signal = info.signal ?? null;
    this.stderr = info.stderr ?? '';
  }
}

/** A file or state problem (atomic write failed, state corrupt, lock held). */
export class FileStateError extends TriSentryError {
  readonly path: string;
  constructor(code: Extract<ErrorCode, `FS_${string}`>, path: string, message: string, options?: { cause?: unknown }) {
    super(code, `${path}: ${message}`, options);
    this.path = path;
  }
}

/** A bad command line. */
export class UsageError extends TriSentryError {
  constructor(message: string) {
    super('USAGE_BAD_ARGS', message);
  }
}

/** Something this host or build cannot do (missing privilege, missing binary, sentry not built). */
export class UnavailableError extends TriSentryError {
  constructor(code: Extract<ErrorCode, 'TS_NOT_AVAILABLE' | 'LAB_NO_PRIVILEGE' | 'SYS_SINK_DOWN' | 'PS_PCAP_OPEN'>, message: string) {
    super(code, message);
  }
}

/** The exit status for any thrown value: its code's status, or 70 (internal error) for a bug. */
export function exitCodeOf(err: unknown): ExitCode {
  return err instanceof TriSentryError ? err.exitCode : EXIT.SOFTWARE;
}
