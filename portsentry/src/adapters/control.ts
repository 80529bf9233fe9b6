/**
 * The control socket: how `portsentry list | unblock | flush` reach a running daemon, so the daemon
 * stays the only writer of its state. A Unix stream socket next to the state file (mode 0600, root
 * only), one JSON request per line, one JSON answer per line.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';

/** A request. */
export type ControlRequest =
  | { readonly op: 'list' }
  | { readonly op: 'unblock'; readonly address: string }
  | { readonly op: 'flush' }
  /** Another sentry (hostsentry) asks for a block, so the suite keeps one ban list. */
  | { readonly op: 'block'; readonly address: string; readonly reason: string };

/** An answer: ok with data, or an error text. */
export type ControlReply = { readonly ok: true; readonly data: unknown } | { readonly ok: false; readonly error: string };

function parseRequest(line: string): ControlRequest | undefined {
  try {
    const v = JSON.parse(line) as { op?: unknown; address?: unknown };
    if (v.op === 'list' || v.op === 'flush') return { op: v.op };
    if (v.op === 'unblock' && typeof v.address === 'string' && v.address.length < 100) return { op: 'unblock', address: v.address };
    const reason = (v as { reason?: unknown }).reason;
    if (v.op === 'block' && typeof v.address === 'string' && v.address.length < 100 && typeof reason === 'string' && reason.length <= 400) return { op: 'block', address: v.address, reason };
  } catch {
    // fall through: not a request
  }
  return undefined;
}

/** Serves requests on `path` until closed. A stale socket file from a dead daemon is replaced. */
export async function serveControl(path: string, handle: (r: ControlRequest) => Promise<unknown>): Promise<Server> {
  if (existsSync(path)) {
    if (await controlAlive(path)) throw new Error(`another portsentry answers on ${path}`);
    unlinkSync(path);
  }
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 4096) return sock.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const req = parseRequest(buf.slice(0, nl));
      buf = '';
      const answer = (r: ControlReply): void => {
        sock.end(`${JSON.stringify(r)}\n`);
      };
      if (req === undefined) return answer({ ok: false, error: 'not a request' });
      handle(req).then(
        (data) => answer({ ok: true, data }),
        (e: unknown) => answer({ ok: false, error: e instanceof Error ? e.message : String(e) }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  server.unref();
  return server;
}

/** Sends one request; undefined when no daemon answers on `path`. */
export function askControl(path: string, req: ControlRequest, timeoutMs = 10_000): Promise<ControlReply | undefined> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(undefined);
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ ok: false, error: `no answer from the daemon on ${path} within ${timeoutMs} ms` });
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (c: string) => (buf += c));
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as ControlReply);
      } catch {
        resolve({ ok: false, error: 'unreadable answer from the daemon' });
      }
    });
    sock.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

async function controlAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
