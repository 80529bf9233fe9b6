/**
 * Port lists: "1-1024, 6000" as sorted, merged ranges.
 */

/** An inclusive range of ports, 1..65535 (0 is allowed only where a field says so). */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/**
 * Parses "1-1024, 6000, 31337" (commas and/or spaces between items) into sorted, merged, frozen
 * ranges. Returns the reason as a string when it does not parse, so callers can position the error.
 */
export function parsePortListText(text: string, allowZero = false): readonly PortRange[] | string {
  const items = text.split(/[\s,]+/).filter((x) => x !== '');
  if (items.length === 0) return 'empty port list';
  const ranges: PortRange[] = [];
  for (const item of items) {
    const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(item);
    if (!m) return `"${item}" is not a port or a range like 1-1024`;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    const min = allowZero ? 0 : 1;
    if (from < min || from > 65535 || to < min || to > 65535) return `"${item}": ports are ${min}..65535`;
    if (to < from) return `"${item}": range goes backwards`;
    ranges.push({ from, to });
  }
  return mergeRanges(ranges);
}

/** Sorts and merges overlapping or touching ranges; the result is frozen. */
export function mergeRanges(ranges: readonly PortRange[]): readonly PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1) out[out.length - 1] = { from: last.from, to: Math.max(last.to, r.to) };
    else out.push({ ...r });
  }
  return Object.freeze(out.map((r) => Object.freeze(r)));
}

/** True when `port` lies in one of the (sorted, merged) ranges; binary search. */
export function portListHas(ranges: readonly PortRange[], port: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid];
    if (!r) return false;
    if (port < r.from) hi = mid - 1;
    else if (port > r.to) lo = mid + 1;
    else return true;
  }
  return false;
}
