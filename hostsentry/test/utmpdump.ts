// Building real wtmp/utmp files for the tests with util-linux's `utmpdump -r` (its text form in,
// glibc's binary records out), and knowing when that tool is missing.
import { execFileSync } from 'node:child_process';

/** Whether util-linux's utmpdump can be run here. */
export function hasUtmpdump(): boolean {
  try {
    execFileSync('utmpdump', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Binary records from utmpdump's text form (`utmpdump -r`). */
export function utmpdumpR(text: string): Buffer {
  return execFileSync('utmpdump', ['-r'], { input: text, stdio: ['pipe', 'pipe', 'ignore'] });
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** utmpdump's text form of one record (type 7 login, 8 logout) on 2026-11-`day` at hh:mm UTC. */
export function utmpLine(type: number, pid: number, user: string, tty: string, host: string, day: number, hh: number, mm: number): string {
  return `[${type}] [${String(pid).padStart(5, '0')}] [${tty.replace('pts/', 'ts/')}] [${user}] [${tty}] [${host}] [${host || '0.0.0.0'}] [2026-11-${pad(day)}T${pad(hh)}:${pad(mm)}:00,000000+00:00]\n`;
}
