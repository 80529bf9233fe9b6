/**
 * The hand-off to portsentry: one JSON request on portsentry's control socket asking it to block an
 * address, so the suite keeps one ban list and every block goes through portsentry's ignore list
 * (this host, its gateways and name servers are never blocked), BLOCK_RATE and backends.
 */
import { createConnection } from 'node:net';
import { escapeControl } from '@trisentry/shared';
import type { HandOff } from './respond.js';

/** A hand-off over the control socket at `path`; rejects when portsentry does not answer or refuses. */
export function portsentryHandOff(path: string, timeoutMs = 10_000): HandOff {
  return (address, reason) =>
    new Promise<void>((resolve, reject) => {
      const sock = createConnection(path);
      let buf = '';
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no answer from portsentry on ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.setEncoding('utf8');
      sock.on('connect', () => sock.write(`${JSON.stringify({ op: 'block', address, reason: escapeControl(reason).slice(0, 400) })}\n`));
      sock.on('data', (c: string) => {
        if (buf.length < 65_536) buf += c;
      });
      sock.on('end', () => {
        clearTimeout(timer);
        let reply: { ok?: unknown; error?: unknown; data?: { blocked?: unknown; ignored?: unknown } };
        try {
          reply = JSON.parse(buf) as typeof reply;
        } catch {
          return reject(new Error(`unreadable answer from portsentry on ${path}`));
        }
        if (reply.ok !== true) return reject(new Error(`portsentry refused: ${typeof reply.error === 'string' ? reply.error : 'no reason given'}`));
        if (reply.data?.ignored === true) return reject(new Error('portsentry did not block it: the address is on its ignore list'));
        if (reply.data?.blocked !== true) return reject(new Error('portsentry did not block it (see its log: rate limit, BLOCK_TCP or a failed backend)'));
        resolve();
      });
      sock.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(`portsentry's control socket ${path}: ${e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'portsentry is not running' : e.message}`));
      });
    });
}
