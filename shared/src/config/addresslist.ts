/**
 * Address list files (portsentry.ignore and friends): one IPv4/IPv6 address or CIDR prefix per line.
 *
 * PortSentry 1.2 (NeverBlock in portsentry_io.c) skipped lines whose first byte was `#` or that were
 * empty, kept the leading run of digits, `.`, `:` and `/` and dropped the rest of the line, and read
 * what followed a `/` with atoi() as a prefix length 0..32 (a bare address meant /32). So it accepted
 * `192.168.2.0/24`, `127.0.0.1/32`, `0.0.0.0` and a trailing comment; it had no dotted-netmask form
 * (`/255.255.255.0` became 255 and the entry was dropped), no IPv6, and leading spaces made the line
 * match nothing. Its silent misreads: `10.0.0.1junk` read as 10.0.0.1; `/0` meant /32 (a 32-bit shift);
 * inet_addr took `010.0.0.1` as octal. We accept the same entries plus IPv6, tolerate surrounding
 * spaces, and report everything else as CFG_BAD_ADDRESS with `file:line:col`.
 */
import { ConfigError, ConfigErrors } from '../errors.js';
import { AddressSet } from '../net/addressset.js';
import type { ReadonlyAddressSet } from '../net/addressset.js';
import { tryParsePrefix, parsePrefix } from '../net/ip.js';
import type { IpPrefix } from '../net/ip.js';
import { readConfigText } from './read.js';

/** One entry of an address list and where it was written. */
export interface AddressListEntry {
  readonly prefix: IpPrefix;
  /** The entry as written (trimmed, without its comment). */
  readonly text: string;
  readonly line: number;
}

/** A parsed address list: the frozen set and its entries in file order. */
export interface AddressList {
  readonly file: string;
  readonly set: ReadonlyAddressSet;
  readonly entries: readonly AddressListEntry[];
}

/**
 * Parses the text of an address list. Pure. `#` starts a comment anywhere on a line; blank lines and
 * surrounding spaces are ignored. All bad entries are collected into one ConfigErrors (CFG_BAD_ADDRESS,
 * `file:line:col: <reason>`).
 */
export function parseAddressList(text: string, file: string): AddressList {
  const set = new AddressSet();
  const entries: AddressListEntry[] = [];
  const errors: ConfigError[] = [];
  text.split('\n').forEach((raw, i) => {
    const hash = raw.indexOf('#');
    const body = hash < 0 ? raw : raw.slice(0, hash);
    const entryText = body.trim();
    if (entryText === '') return;
    const col = body.length - body.trimStart().length + 1;
    const prefix = tryParsePrefix(entryText);
    if (prefix === undefined) {
      let why = 'not an address or CIDR prefix';
      try {
        parsePrefix(entryText);
      } catch (e) {
        // The parser's own reason is the useful part of its message.
        if (e instanceof Error) why = e.message.replace(/^not a valid address: "[^"]*": /, '');
      }
      errors.push(new ConfigError('CFG_BAD_ADDRESS', `bad entry ${JSON.stringify(entryText)}: ${why}`, { pos: { file, line: i + 1, col } }));
      return;
    }
    set.add(prefix);
    entries.push(Object.freeze({ prefix, text: entryText, line: i + 1 }));
  });
  if (errors.length > 0) throw new ConfigErrors(errors);
  return Object.freeze({ file, set: set.freeze(), entries: Object.freeze(entries) });
}

/** Reads and parses an address list file; throws ConfigErrors (CFG_UNREADABLE, CFG_BAD_ADDRESS). */
export function loadAddressListFile(path: string): AddressList {
  return parseAddressList(readConfigText(path), path);
}
