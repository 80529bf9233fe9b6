/**
 * PortSentry 1.2's three classic responses — KILL_HOSTS_DENY, KILL_ROUTE, KILL_RUN_CMD — run in 1.2's
 * order (`DisposeTCP`/`DisposeUDP`) and reported with 1.2's log lines:
 * - BLOCK level 1: every configured response. With KILL_RUN_CMD_FIRST the command runs first, then
 *   hosts.deny, then the route; otherwise hosts.deny, the route, and the command last.
 * - BLOCK level 2: KILL_RUN_CMD only. Level 0: nothing, and 1.2's "Ignoring ... response" line.
 * A failing response does not stop the others (1.2 went on too); any failure makes `ok` false, and
 * then the caller, like 1.2, logs "Could not block host" and writes neither record file.
 *
 * Unlike 1.2, which took every exit status but 127 as success (and, since system(3) returns a wait
 * status, in practice every one), a non-zero status, a missing command, a signal or a timeout is a
 * failure, reported with the status and the first line of the command's stderr.
 *
 * Values come only from parsed data: `$TARGET$` is the address re-printed, `$PORT$` an integer,
 * `$MODE$` the mode name. A resolved host name is never handed to any response.
 */
import { readFile, chmod } from 'node:fs/promises';
import {
  ExecError,
  FileStateError,
  fillCommand,
  fillTextTemplate,
  runFilled,
  type CommandTemplate,
  type FilledCommand,
  type IpAddress,
  type Mode,
  type TemplateValues,
} from '@trisentry/shared';
import { appendOneWrite } from './files.js';

/** The classic-response part of the portsentry config. Empty strings count as "not configured" (1.2: strlen > 0). */
export interface ClassicResponseConfig {
  /** BLOCK_TCP or BLOCK_UDP, whichever matches the detection's protocol. */
  readonly blockLevel: 0 | 1 | 2;
  readonly killRoute?: CommandTemplate | undefined;
  /** The hosts.deny line template (`ALL: $TARGET$ : DENY`); text, not a command. */
  readonly killHostsDeny?: string | undefined;
  readonly killRunCmd?: CommandTemplate | undefined;
  readonly killRunCmdFirst: boolean;
  /** Where the hosts.deny line goes (1.2 compiled in /etc/hosts.deny). */
  readonly hostsDenyPath: string;
  /** Per command; default that of runCommand (10 s). */
  readonly timeoutMs?: number | undefined;
}

/** What the responses act on: parsed values only. */
export interface ClassicTarget {
  readonly address: IpAddress;
  readonly port: number;
  readonly proto: 'tcp' | 'udp';
  readonly mode: Mode;
}

/** The outcome: the log lines to write, in order, and whether every response worked. */
export interface ClassicOutcome {
  readonly lines: string[];
  readonly ok: boolean;
}

type Step = 'hostsDeny' | 'route' | 'runCmd';

/** Control characters (and line/format separators) never reach a log line from a command's stderr. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const MAX_STDERR = 200;

function firstLine(s: string): string {
  const line = (s.split('\n').find((l) => l.trim() !== '') ?? '').replace(UNSAFE, '').trim();
  return line.length > MAX_STDERR ? `${line.slice(0, MAX_STDERR)}...` : line;
}

/** Why a command failed, in a few words plus the first line of its stderr. */
function describeFailure(e: unknown, file: string, timeoutMs?: number): string {
  if (!(e instanceof ExecError)) return firstLine(e instanceof Error ? e.message : String(e));
  const err = e.stderr !== '' ? `: ${firstLine(e.stderr)}` : '';
  // ExecError.code is typed as any code; only the EXEC_ ones occur here, the rest fall to the message.
  switch (e.code) {
    case 'EXEC_NOT_FOUND':
      // sh reports its own 127/126 with a message on stderr; a direct exec gives none.
      return e.status !== null ? `exec fail: exited with status ${e.status}${err}` : `exec fail: ${file}: no such command or not executable`;
    case 'EXEC_FAILED':
      return e.status !== null ? `exited with status ${e.status}${err}` : firstLine(e.message);
    case 'EXEC_TIMEOUT':
      return `did not finish within ${timeoutMs ?? 10_000} ms and was killed${err}`;
    case 'EXEC_SIGNALED':
      return `ended by signal ${e.signal ?? 'unknown'}${err}`;
    default:
      return firstLine(e.message);
  }
}

/** Runs one filled command; undefined on success, else why it failed. */
async function run(cmd: FilledCommand, timeoutMs: number | undefined): Promise<string | undefined> {
  try {
    await runFilled(cmd, timeoutMs === undefined ? {} : { timeoutMs });
    return undefined;
  } catch (e) {
    return describeFailure(e, cmd.file, timeoutMs);
  }
}

async function killRoute(tpl: CommandTemplate, ip: string, values: TemplateValues, timeoutMs: number | undefined, lines: string[]): Promise<boolean> {
  if (!tpl.uses.has('$TARGET$')) {
    lines.push('adminalert: No target variable specified in KILL_ROUTE option. Skipping.');
    return false;
  }
  let cmd: FilledCommand;
  try {
    cmd = fillCommand(tpl, values);
  } catch (e) {
    lines.push(`adminalert: ERROR: There was an error trying to block host ${ip}: ${describeFailure(e, '')}`);
    return false;
  }
  const why = await run(cmd, timeoutMs);
  if (why !== undefined) {
    lines.push(`adminalert: ERROR: There was an error trying to block host ${ip} using command: "${cmd.display}" (${why})`);
    return false;
  }
  lines.push(`attackalert: Host ${ip} has been blocked via dropped route using command: "${cmd.display}"`);
  return true;
}

async function killRunCmd(tpl: CommandTemplate, ip: string, values: TemplateValues, timeoutMs: number | undefined, lines: string[]): Promise<boolean> {
  let cmd: FilledCommand;
  try {
    cmd = fillCommand(tpl, values);
  } catch (e) {
    lines.push(`adminalert: ERROR: There was an error trying to run command for host ${ip}: ${describeFailure(e, '')}`);
    return false;
  }
  const why = await run(cmd, timeoutMs);
  if (why !== undefined) {
    lines.push(`adminalert: ERROR: There was an error trying to run command for host ${ip} using command: "${cmd.display}" (${why})`);
    return false;
  }
  lines.push(`attackalert: External command run for host: ${ip} using command: "${cmd.display}"`);
  return true;
}

async function killHostsDeny(tpl: string, path: string, ip: string, values: TemplateValues, lines: string[]): Promise<boolean> {
  if (!tpl.includes('$TARGET$')) {
    lines.push('adminalert: No target variable specified in KILL_HOSTS_DENY option. Skipping.');
    return false;
  }
  let line: string;
  try {
    line = fillTextTemplate(tpl, values);
  } catch (e) {
    lines.push(`securityalert: ERROR: There was an error trying to block host ${ip}: ${describeFailure(e, '')}`);
    return false;
  }
  const cannot = (why: string): false => {
    lines.push(`adminalert: cannot open hosts.deny file: ${path} for blocking (${why}).`);
    lines.push(`securityalert: ERROR: There was an error trying to block host ${ip}`);
    return false;
  };
  let existing: string | undefined;
  try {
    existing = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return cannot(firstLine((e as Error).message));
  }
  // 1.2 appended a line per detection; the same line twice only makes hosts.deny longer.
  const present = existing?.split('\n').some((l) => l.replace(/\s+$/, '') === line.replace(/\s+$/, '')) ?? false;
  if (!present) {
    // A file whose last line has no newline would otherwise swallow our line into it.
    const sep = existing !== undefined && existing !== '' && !existing.endsWith('\n') ? '\n' : '';
    try {
      // 0644, not 0600: tcpd and libwrap-linked daemons that run unprivileged must read hosts.deny.
      await appendOneWrite(path, `${sep}${line}\n`, 0o644);
      if (existing === undefined) await chmod(path, 0o644); // undo a strict umask on the file we created
    } catch (e) {
      return cannot(e instanceof FileStateError ? e.message.slice(e.path.length + 2) : firstLine((e as Error).message));
    }
  }
  lines.push(`attackalert: Host ${ip} has been blocked via wrappers with string: "${line}"`);
  return true;
}

/**
 * Runs the classic responses configured for `target` in 1.2's order and returns 1.2's log lines (the
 * caller logs them; this function logs nothing) and whether all of them worked. Never throws.
 */
export async function runClassicResponses(cfg: ClassicResponseConfig, target: ClassicTarget): Promise<ClassicOutcome> {
  const lines: string[] = [];
  // The address a block acts on: an IPv4 peer seen through an IPv6 socket is blocked as IPv4.
  const address = target.address.unmapped();
  const ip = address.toString();
  const values: TemplateValues = { target: address, port: target.port, mode: target.mode };
  let steps: Step[];
  switch (cfg.blockLevel) {
    case 0:
      lines.push(`attackalert: Ignoring ${target.proto === 'tcp' ? 'TCP' : 'UDP'} response per configuration file setting.`);
      return { lines, ok: true };
    case 1:
      steps = cfg.killRunCmdFirst ? ['runCmd', 'hostsDeny', 'route'] : ['hostsDeny', 'route', 'runCmd'];
      break;
    case 2:
      steps = ['runCmd'];
      break;
    default: {
      const never: never = cfg.blockLevel;
      return never;
    }
  }
  let ok = true;
  for (const step of steps) {
    switch (step) {
      case 'hostsDeny':
        if (cfg.killHostsDeny) ok = (await killHostsDeny(cfg.killHostsDeny, cfg.hostsDenyPath, ip, values, lines)) && ok;
        break;
      case 'route':
        if (cfg.killRoute) ok = (await killRoute(cfg.killRoute, ip, values, cfg.timeoutMs, lines)) && ok;
        break;
      case 'runCmd':
        if (cfg.killRunCmd) ok = (await killRunCmd(cfg.killRunCmd, ip, values, cfg.timeoutMs, lines)) && ok;
        break;
      default: {
        const never: never = step;
        return never;
      }
    }
  }
  return { lines, ok };
}
