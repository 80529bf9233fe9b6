/**
 * Durations for humans: "90s", "10m", "48h", "7d", "1w", combinations such as "1h30m", a plain
 * integer meaning seconds, "0".
 */
import { ConfigError } from '../errors.js';
import type { SourcePos } from '../errors.js';

const UNIT_SECONDS = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 } as const;
const ORDER = 'wdhms';

/**
 * Parses a duration into whole seconds. Units w, d, h, m, s; in a combination each unit appears at
 * most once and from largest to smallest ("1h30m", not "30m1h"), so a slip is an error rather than a
 * surprise. Throws ConfigError CFG_BAD_DURATION, positioned at `where` when given.
 */
export function parseDuration(text: string, where?: { pos?: SourcePos; key?: string }): number {
  const fail = (why: string): never => {
    throw new ConfigError('CFG_BAD_DURATION', `bad duration ${JSON.stringify(text)}: ${why} (e.g. 90s, 10m, 48h, 7d, 1w, 1h30m, or seconds)`, where);
  };
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    if (!Number.isSafeInteger(n)) fail('too large');
    return n;
  }
  if (text === '') fail('empty');
  const re = /([0-9]+)([a-zA-Z]+)/y;
  let total = 0;
  let lastUnit = -1;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) fail(`unexpected ${JSON.stringify(text.slice(at))}`);
    const unit = (m as RegExpExecArray)[2] ?? '';
    const idx = ORDER.indexOf(unit);
    if (unit.length !== 1 || idx < 0) fail(`unknown unit "${unit}"; units are w, d, h, m, s`);
    if (idx <= lastUnit) fail('units must go from largest to smallest, each once');
    lastUnit = idx;
    total += Number((m as RegExpExecArray)[1]) * UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
    at = re.lastIndex;
  }
  if (!Number.isSafeInteger(total)) fail('too large');
  return total;
}

/** The shortest combination text for a number of whole seconds (0 -> "0s"), e.g. 5400 -> "1h30m". */
export function formatDuration(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError(`not a duration: ${seconds}`);
  if (seconds === 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const u of ORDER) {
    const size = UNIT_SECONDS[u as keyof typeof UNIT_SECONDS];
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${u}`;
      rest -= n * size;
    }
  }
  return out;
}
