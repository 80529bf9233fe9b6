/**
 * RESOLVE_HOST: the scanner's name for the log lines, never delaying detection and never trusted.
 * A PTR record is written by whoever controls the reverse zone of the scanner's address, so it is
 * attacker text: only a plain host name (letters, digits, dots, hyphens, at most 253 characters) is
 * used; anything else (shell metacharacters, quotes, spaces, control characters, newlines, an
 * over-long name) and any failure or a lookup slower than the limit give the address itself. The name
 * only ever appears in log lines and the history/blocked files, never in a command.
 */
import { promises as dns } from 'node:dns';

const HOSTNAME_OK = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$/;

/** A reverse lookup: the system resolver, or one given (tests point it at their own DNS server). */
export type Reverse = (ip: string) => Promise<string[]>;

/** The name for `ip` within `ms`, or `ip`. Never rejects. */
export async function resolveName(ip: string, ms: number, reverse: Reverse = (a) => dns.reverse(a)): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const names = await Promise.race([
      reverse(ip),
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
