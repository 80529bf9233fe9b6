/**
 * Syslog sinks: where formatted messages go (the local socket, UDP, TCP, stderr, memory), and the
 * bounded buffer that keeps a sink that is down from ever blocking or crashing the process.
 *
 * A sink is written to synchronously and never throws. Sending is non-blocking: a sink that cannot
 * take a message now keeps it in its buffer (bounded, oldest dropped first and counted) and retries
 * with backoff; when it works again it drains the buffer in order, then sends one message reporting
 * how many were lost. Every socket has an 'error' listener, so no 'error' event escapes.
 */
import { createRequire } from 'node:module';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { ConfigError } from '../errors.js';
import type { SourcePos } from '../errors.js';
import type { MessageFormat, SeverityName, SyslogMessage } from './format.js';

/** Wire formats for remote sinks. */
export type RemoteFormat = 'rfc3164' | 'rfc5424';

/** TCP framing (RFC 6587): `newline` ends each message with LF, `octet-counting` prefixes `LEN `. */
export type TcpFraming = 'newline' | 'octet-counting';

/** A stream a stderr sink writes to (process.stderr by default). */
export interface LineStream {
  write(chunk: string): boolean;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * Keeps what a `memory` sink received, for tests: the formatted lines and the records they came from.
 */
export class MemoryLog {
  /** Formatted lines, in order. */
  readonly lines: string[] = [];
  /** The records behind the lines, in order. */
  readonly records: { time: number; severity: SeverityName; message: string | Uint8Array }[] = [];

  /** Forgets everything kept so far. */
  clear(): void {
    this.lines.length = 0;
    this.records.length = 0;
  }
}

/** Where messages go. Defaults: unix path `/dev/log`, remote format `rfc3164`, framing `newline`. */
export type SinkSpec =
  | { readonly kind: 'unix'; readonly path?: string }
  | { readonly kind: 'udp'; readonly host: string; readonly port: number; readonly format?: RemoteFormat }
  | {
      readonly kind: 'tcp';
      readonly host: string;
      readonly port: number;
      readonly format?: RemoteFormat;
      readonly framing?: TcpFraming;
    }
  | { readonly kind: 'stderr'; readonly stream?: LineStream }
  | { readonly kind: 'memory'; readonly store: MemoryLog; readonly format?: MessageFormat };

/** The default local socket. */
export const DEFAULT_UNIX_PATH = '/dev/log';

/** The default syslog port for UDP and TCP. */
export const DEFAULT_SYSLOG_PORT = 514;

/**
 * Parses a sink written in a config file: `unix` or `unix:/dev/log`, `udp://host[:port][?format=5424]`,
 * `tcp://host[:port][?format=3164&framing=octet-counting]`, `stderr`. Hosts may be names, IPv4 or
 * `[IPv6]`; the port defaults to 514; `format` accepts `3164`, `5424`, `rfc3164`, `rfc5424`; `framing`
 * accepts `newline`, `octet-counting`. `memory` sinks cannot be written in config. Throws ConfigError
 * SYS_BAD_TARGET (with `where` as position and key) on anything else.
 */
export function parseSinkSpec(text: string, where?: { pos?: SourcePos; key?: string }): SinkSpec {
  const bad = (why: string): ConfigError => new ConfigError('SYS_BAD_TARGET', `${why}: ${JSON.stringify(text)}`, where);
  const s = text.trim();
  if (s === 'stderr') return { kind: 'stderr' };
  if (s === 'unix') return { kind: 'unix' };
  if (s.startsWith('unix:')) {
    const path = s.slice(5).replace(/^\/\/(?=\/)/, '');
    if (!path.startsWith('/')) throw bad('a unix socket path must be absolute');
    // sun_path holds 108 bytes including the terminating NUL.
    if (Buffer.byteLength(path) > 107) throw bad('unix socket path longer than 107 bytes');
    if (path.includes('\0')) throw bad('unix socket path contains NUL');
    return { kind: 'unix', path };
  }
  const m = /^(udp|tcp):\/\/([^/?#]+)\/?(?:\?([^#]*))?$/.exec(s);
  if (!m) throw bad('expected unix:PATH, udp://HOST[:PORT], tcp://HOST[:PORT] or stderr');
  const kind = m[1] as 'udp' | 'tcp';
  const authority = m[2]!;
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw bad('unclosed [ in IPv6 host');
    host = authority.slice(1, close);
    if (!net.isIPv6(host)) throw bad('not an IPv6 address inside [ ]');
    const rest = authority.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw bad('junk after ]');
      portText = rest.slice(1);
    }
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      host = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    } else host = authority;
    if (host.includes(':')) throw bad('an IPv6 host must be written in [ ]');
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(host)) throw bad('not a host name or address');
  }
  let port = DEFAULT_SYSLOG_PORT;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw bad('port must be 1..65535');
    port = Number(portText);
  }
  let format: RemoteFormat = 'rfc3164';
  let framing: TcpFraming = 'newline';
  for (const part of (m[3] ?? '').split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    if (k === 'format') {
      if (v === '3164' || v === 'rfc3164') format = 'rfc3164';
      else if (v === '5424' || v === 'rfc5424') format = 'rfc5424';
      else throw bad(`format must be 3164 or 5424, not ${JSON.stringify(v)}`);
    } else if (k === 'framing' && kind === 'tcp') {
      if (v === 'newline' || v === 'octet-counting') framing = v;
      else throw bad(`framing must be newline or octet-counting, not ${JSON.stringify(v)}`);
    } else throw bad(`unknown option ${JSON.stringify(k)}`);
  }
  return kind === 'udp' ? { kind, host, port, format } : { kind, host, port, format, framing };
}

/** A human name for a sink, as used in stats and loss reports (`/dev/log`, `tcp://127.0.0.1:514`). */
export function describeSink(spec: SinkSpec): string {
  switch (spec.kind) {
    case 'unix':
      return spec.path ?? DEFAULT_UNIX_PATH;
    case 'udp':
    case 'tcp':
      return `${spec.kind}://${net.isIPv6(spec.host) ? `[${spec.host}]` : spec.host}:${spec.port}`;
    case 'stderr':
      return 'stderr';
    case 'memory':
      return 'memory';
    default: {
      const never: never = spec;
      throw new Error(`unknown sink ${JSON.stringify(never)}`);
    }
  }
}

/** Counters of one sink. `buffered` is the current buffer length, the others count since creation. */
export interface SinkStats {
  readonly target: string;
  /** Whether the sink is currently delivering (false while down or reconnecting). */
  readonly up: boolean;
  readonly sent: number;
  readonly buffered: number;
  readonly dropped: number;
  /** Recoveries: times a message got through after the sink had been down. */
  readonly reconnects: number;
}

/** Knobs shared by every buffering sink. */
export interface SinkOptions {
  /** Most messages kept while the sink is down; older ones are dropped first. */
  readonly bufferSize: number;
  /** First retry delay after a failure; doubles up to retryMaxMs. */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** Renders the loss report, a warning-severity message in this sink's own format. */
  readonly lossReport: (text: string) => string;
  /** Reports a problem a human should see (never throws). */
  readonly warn: (text: string) => void;
}

/**
 * A sink as the logger drives it. Internal to the syslog layer; exported for its tests.
 * @internal
 */
export interface Sink {
  readonly target: string;
  readonly format: MessageFormat;
  /** Takes one formatted line (no framing, no newline) and the record it came from; never throws. */
  write(line: string, record: SyslogMessage): void;
  stats(): SinkStats;
  /** Resolves when the buffer is empty and nothing is in flight, or when `deadline` (epoch ms) passes. */
  drained(deadline: number): Promise<void>;
  /** Stops retrying and releases sockets, waiting at most until `deadline`; returns the count unsent. */
  close(deadline: number): Promise<number>;
}

/** What one send attempt did with the message at the head of the buffer. */
type Attempt =
  | 'sent' // delivered (to the kernel): drop it from the buffer, go on
  | 'sent-busy' // delivered, but the transport wants a pause until it calls resume()
  | 'pending' // handed over; the transport calls settle() with the outcome
  | 'busy' // not taken, try again after resume()
  | 'down' // not taken, the transport is broken: reconnect with backoff
  | 'drop'; // can never be taken (too large): drop and count it

type State = 'connecting' | 'up' | 'down' | 'closed';

/** A buffer in front of a transport: the common logic of the unix, udp and tcp sinks. */
abstract class QueuedSink implements Sink {
  abstract readonly target: string;
  abstract readonly format: MessageFormat;
  protected state: State = 'connecting';
  private readonly queue: Buffer[] = [];
  private head = 0;
  private waiting = false; // busy or pending: pump stops until resume()/settle()
  private lost = 0; // dropped since the last loss report was queued
  private everUp = false;
  private wasDown = false;
  private backoff: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private pumping = false;
  protected sentCount = 0;
  protected droppedCount = 0;
  protected reconnectCount = 0;

  constructor(protected readonly opts: SinkOptions) {
    this.backoff = opts.retryMinMs;
  }

  /** Frames a formatted line for the wire. */
  protected abstract frame(line: string): Buffer;
  /** Starts (re)connecting; calls opened() or failed() when done (possibly synchronously). */
  protected abstract open(): void;
  /** Tries to send the head of the buffer. */
  protected abstract attempt(buf: Buffer): Attempt;
  /** Releases the transport (after failure or at close). */
  protected abstract teardown(): void;

  /** Starts the first connection; subclasses call it at the end of their constructor. */
  protected start(): void {
    this.safely(() => this.open());
  }

  write(line: string): void {
    if (this.state === 'closed') {
      this.droppedCount++;
      return;
    }
    this.enqueue(this.frame(line));
    this.pump();
  }

  private get length(): number {
    return this.queue.length - this.head;
  }

  private enqueue(buf: Buffer): void {
    if (this.length >= this.opts.bufferSize) {
      // Overflow: the oldest message goes, so the most recent context survives an outage.
      this.head++;
      this.droppedCount++;
      this.lost++;
      this.compact();
    }
    this.queue.push(buf);
  }

  private compact(): void {
    // Amortised O(1): shift the array only once the dead prefix is large.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private shift(): void {
    this.head++;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else this.compact();
  }

  /** Sends from the head of the buffer while the transport takes messages. */
  protected pump(): void {
    if (this.pumping) return; // re-entered from a synchronous callback: the outer loop goes on
    this.pumping = true;
    try {
      while (this.state === 'up' && !this.waiting) {
        if (this.length === 0) {
          if (this.lost > 0) {
            const n = this.lost;
            this.lost = 0;
            this.queue.push(this.frame(this.opts.lossReport(`syslog: ${n} message${n === 1 ? '' : 's'} lost while ${this.target} was unavailable`)));
            continue;
          }
          this.onIdle();
          break;
        }
        const r = this.attempt(this.queue[this.head]!);
        switch (r) {
          case 'sent':
            this.shift();
            this.delivered();
            break;
          case 'sent-busy':
            this.shift();
            this.delivered();
            this.waiting = true;
            break;
          case 'pending':
          case 'busy':
            this.waiting = true;
            break;
          case 'down':
            this.failed();
            break;
          case 'drop':
            this.shift();
            this.droppedCount++;
            this.lost++;
            break;
          default: {
            const never: never = r;
            throw new Error(`bad attempt result ${String(never)}`);
          }
        }
      }
    } catch (err) {
      // A transport bug must not reach the caller of log(): treat it as the sink being down.
      this.opts.warn(`syslog: ${this.target}: ${String(err)}`);
      this.failed();
    } finally {
      this.pumping = false;
    }
  }

  private delivered(): void {
    // A recovery counts once a message gets through: for datagram sinks "connected" proves nothing.
    if (this.wasDown && this.everUp) this.reconnectCount++;
    this.everUp = true;
    this.wasDown = false;
    this.sentCount++;
    this.backoff = this.opts.retryMinMs;
  }

  /** Transport: a paused send may go on (drain, writable, retry). */
  protected resume(): void {
    this.waiting = false;
    this.pump();
  }

  /** Transport: the outcome of a 'pending' attempt. */
  protected settle(ok: boolean): void {
    if (!this.waiting) return;
    this.waiting = false;
    if (ok) {
      this.shift();
      this.delivered();
      this.pump();
    } else this.failed();
  }

  /** Transport: the connection is ready. */
  protected opened(): void {
    if (this.state === 'closed') return;
    this.state = 'up';
    this.waiting = false;
    this.pump();
  }

  /** Transport: the connection broke or could not be made; retry after a backoff. */
  protected failed(): void {
    if (this.state === 'closed' || this.state === 'down') return;
    this.state = 'down';
    this.wasDown = true;
    this.waiting = false;
    this.safely(() => this.teardown());
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.opts.retryMaxMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state !== 'down') return;
      this.state = 'connecting';
      this.safely(() => this.open());
    }, delay);
    // A sink waiting to retry must not keep a process alive that has nothing else to do.
    this.retryTimer.unref();
  }

  private safely(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.opts.warn(`syslog: ${this.target}: ${String(err)}`);
      if (this.state !== 'down') this.failed();
    }
  }

  /** Called when the buffer is empty and the transport idle. */
  protected onIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  private isIdle(): boolean {
    return this.length === 0 && this.lost === 0 && !this.waiting;
  }

  drained(deadline: number): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, Math.max(0, deadline - Date.now()));
      const self = this;
      function done(): void {
        clearTimeout(t);
        resolve();
        const i = self.idleWaiters.indexOf(done);
        if (i >= 0) self.idleWaiters.splice(i, 1);
      }
      this.idleWaiters.push(done);
    });
  }

  async close(deadline: number): Promise<number> {
    await this.drained(deadline);
    const unsent = this.length;
    this.state = 'closed';
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.closeTransport(deadline);
    this.droppedCount += unsent;
    this.queue.length = 0;
    this.head = 0;
    return unsent;
  }

  /** Ends the transport gracefully by `deadline`; default: tear it down at once. */
  protected closeTransport(_deadline: number): Promise<void> {
    this.safely(() => this.teardown());
    return Promise.resolve();
  }

  stats(): SinkStats {
    return {
      target: this.target,
      up: this.state === 'up',
      sent: this.sentCount,
      buffered: this.length,
      dropped: this.droppedCount,
      reconnects: this.reconnectCount,
    };
  }
}

/** The part of unix-dgram's socket we use (the package ships no types). */
interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error & { code?: unknown }) => void): void;
  close(): void;
  on(event: 'error', f: (err: Error) => void): unknown;
}
interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
}

let unixDgram: UnixDgramModule | null | undefined;

/** unix-dgram if it loads on this host, else null (it is an optional native dependency). */
function loadUnixDgram(): UnixDgramModule | null {
  if (unixDgram === undefined) {
    try {
      unixDgram = createRequire(import.meta.url)('unix-dgram') as UnixDgramModule;
    } catch {
      unixDgram = null;
    }
  }
  return unixDgram;
}

// errno values from Linux's asm-generic/errno.h, as unix-dgram reports them (negated).
const EAGAIN = 11;
const ENOBUFS = 105;
const EMSGSIZE = 90;

/**
 * The local socket (AF_UNIX datagram). Each message is a sendto() on the path, so a daemon that
 * restarts and recreates its socket is found again without reconnecting. The socket is closed after a
 * second of idleness so it never keeps a finished process alive.
 */
class UnixSink extends QueuedSink {
  readonly target: string;
  readonly format: MessageFormat = 'local';
  private sock: UnixDgramSocket | undefined;
  private busyTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly mod: UnixDgramModule,
    private readonly path: string,
    opts: SinkOptions,
  ) {
    super(opts);
    this.target = path;
    this.start();
  }

  protected frame(line: string): Buffer {
    return Buffer.from(line, 'utf8');
  }

  protected open(): void {
    // Opening is lazy (in attempt); a datagram socket has nothing to connect.
    this.opened();
  }

  private socket(): UnixDgramSocket {
    if (!this.sock) {
      const s = this.mod.createSocket('unix_dgram');
      s.on('error', () => {
        // Only emitted for sends without a callback, which we never make; listening keeps it harmless.
      });
      this.sock = s;
    }
    return this.sock;
  }

  protected attempt(buf: Buffer): Attempt {
    let errno = 0;
    // unix-dgram calls this callback synchronously with the sendto() result.
    this.socket().send(buf, 0, buf.length, this.path, (err) => {
      if (err) errno = typeof err.code === 'number' ? -err.code : -1;
    });
    if (errno === 0) return 'sent';
    if (errno === EAGAIN || errno === ENOBUFS) {
      // The daemon's receive queue is full: sendto() on a path has no writability event, so poll.
      this.busyTimer = setTimeout(() => this.resume(), 20);
      return 'busy';
    }
    if (errno === EMSGSIZE) return 'drop';
    return 'down';
  }

  protected override onIdle(): void {
    super.onIdle();
    if (!this.sock) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        this.closeSocket();
      }, 1000);
      this.idleTimer.unref();
    }
  }

  private closeSocket(): void {
    const s = this.sock;
    this.sock = undefined;
    if (s) {
      try {
        s.close();
      } catch {
        // Closing an fd can only fail if it is already gone; nothing is lost either way.
      }
    }
  }

  protected teardown(): void {
    if (this.busyTimer) clearTimeout(this.busyTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.closeSocket();
  }
}

/**
 * UDP (connected socket). A send is confirmed by the kernel only, so messages sent while nothing
 * listens are lost without trace until an ICMP error makes the socket report ECONNREFUSED; from then
 * on the sink buffers and retries like the others. UDP gives no delivery guarantee.
 */
class UdpSink extends QueuedSink {
  readonly target: string;
  readonly format: MessageFormat;
  private sock: dgram.Socket | undefined;
  private gen = 0;

  constructor(private readonly spec: Extract<SinkSpec, { kind: 'udp' }>, opts: SinkOptions) {
    super(opts);
    this.target = describeSink(spec);
    this.format = spec.format ?? 'rfc3164';
    this.start();
  }

  protected frame(line: string): Buffer {
    return Buffer.from(line, 'utf8');
  }

  protected open(): void {
    const gen = ++this.gen;
    const s = dgram.createSocket(net.isIPv6(this.spec.host) ? 'udp6' : 'udp4');
    this.sock = s;
    s.on('error', () => {
      if (gen === this.gen) this.failed();
    });
    s.unref();
    // Node passes a DNS failure to the connect callback (not to 'error').
    s.connect(this.spec.port, this.spec.host, (err?: Error) => {
      if (gen !== this.gen) return;
      if (err) this.failed();
      else this.opened();
    });
  }

  protected attempt(buf: Buffer): Attempt {
    const gen = this.gen;
    this.sock!.send(buf, (err) => {
      if (gen === this.gen) this.settle(!err);
    });
    return 'pending';
  }

  protected teardown(): void {
    this.gen++;
    const s = this.sock;
    this.sock = undefined;
    if (s) {
      try {
        s.close();
      } catch {
        // Already closed: nothing to release.
      }
    }
  }
}

/**
 * TCP with RFC 6587 framing, reconnecting with backoff. A message counts as sent once the socket has
 * taken it; what the kernel had not yet delivered when the connection broke is lost unnoticed (plain
 * TCP syslog has no acknowledgements; RELP would).
 */
class TcpSink extends QueuedSink {
  readonly target: string;
  readonly format: MessageFormat;
  private sock: net.Socket | undefined;
  private gen = 0;
  private readonly framing: TcpFraming;

  constructor(private readonly spec: Extract<SinkSpec, { kind: 'tcp' }>, opts: SinkOptions) {
    super(opts);
    this.target = describeSink(spec);
    this.format = spec.format ?? 'rfc3164';
    this.framing = spec.framing ?? 'newline';
    this.start();
  }

  protected frame(line: string): Buffer {
    switch (this.framing) {
      case 'newline':
        return Buffer.from(`${line}\n`, 'utf8');
      case 'octet-counting':
        return Buffer.from(`${Buffer.byteLength(line, 'utf8')} ${line}`, 'utf8');
      default: {
        const never: never = this.framing;
        throw new Error(`unknown framing ${String(never)}`);
      }
    }
  }

  protected open(): void {
    const gen = ++this.gen;
    const s = net.createConnection({ host: this.spec.host, port: this.spec.port });
    this.sock = s;
    s.setKeepAlive(true, 30_000);
    s.unref();
    s.on('connect', () => {
      if (gen === this.gen) this.opened();
    });
    s.on('drain', () => {
      if (gen === this.gen) this.resume();
    });
    // The peer closing (daemon stopped) shows first as 'end': stop writing into a dead connection.
    s.on('end', () => {
      if (gen === this.gen) this.failed();
    });
    s.on('error', () => {
      // Always followed by 'close'.
    });
    s.on('close', () => {
      if (gen === this.gen) this.failed();
    });
    // Nothing is ever read, but reading is what surfaces the peer's FIN as 'end'.
    s.on('data', () => {});
  }

  protected attempt(buf: Buffer): Attempt {
    const s = this.sock;
    if (!s || s.destroyed || !s.writable) return 'down';
    return s.write(buf) ? 'sent' : 'sent-busy';
  }

  protected teardown(): void {
    this.gen++;
    const s = this.sock;
    this.sock = undefined;
    s?.destroy();
  }

  protected override closeTransport(deadline: number): Promise<void> {
    const s = this.sock;
    this.gen++;
    this.sock = undefined;
    if (!s || s.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        s.destroy();
        resolve();
      }, Math.max(0, deadline - Date.now()));
      s.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      s.end();
    });
  }
}

/** Writes each message as one line to a stream; never buffers (the stream does). */
class StreamSink implements Sink {
  readonly target = 'stderr';
  readonly format: MessageFormat = 'human';
  private sent = 0;
  private dropped = 0;
  private broken = false;
  private closed = false;

  constructor(private readonly stream: LineStream) {
    // One listener per stream, however many loggers share it (process.stderr, typically).
    let sinks = streamSinks.get(stream);
    if (!sinks) {
      const set = new Set<StreamSink>();
      sinks = set;
      streamSinks.set(stream, set);
      stream.on('error', () => {
        // EPIPE and the like: stop writing rather than crash the process.
        for (const k of set) k.broken = true;
      });
    }
    sinks.add(this);
  }

  write(line: string): void {
    if (this.broken || this.closed) {
      this.dropped++;
      return;
    }
    try {
      this.stream.write(`${line}\n`);
      this.sent++;
    } catch {
      this.broken = true;
      this.dropped++;
    }
  }

  stats(): SinkStats {
    return { target: this.target, up: !this.broken, sent: this.sent, buffered: 0, dropped: this.dropped, reconnects: 0 };
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<number> {
    this.closed = true;
    streamSinks.get(this.stream)?.delete(this);
    return Promise.resolve(0);
  }
}

const streamSinks = new WeakMap<LineStream, Set<StreamSink>>();

/** Keeps lines in a MemoryLog. */
class MemorySink implements Sink {
  readonly target = 'memory';
  readonly format: MessageFormat;
  private sent = 0;
  private dropped = 0;
  private closed = false;

  constructor(private readonly store: MemoryLog, format: MessageFormat | undefined) {
    this.format = format ?? 'local';
  }

  write(line: string, r: SyslogMessage): void {
    if (this.closed) {
      this.dropped++;
      return;
    }
    this.store.lines.push(line);
    this.store.records.push({ time: r.time, severity: r.severity, message: r.message });
    this.sent++;
  }

  stats(): SinkStats {
    return { target: this.target, up: true, sent: this.sent, buffered: 0, dropped: this.dropped, reconnects: 0 };
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<number> {
    this.closed = true;
    return Promise.resolve(0);
  }
}

let warnedNoUnixDgram = false;

/**
 * Builds the sink for a spec. A `unix` sink falls back to stderr, with one warning per process, when
 * the unix-dgram native module cannot be loaded on this host.
 * @internal
 */
export function createSink(spec: SinkSpec, opts: SinkOptions): Sink {
  switch (spec.kind) {
    case 'unix': {
      const mod = loadUnixDgram();
      const path = spec.path ?? DEFAULT_UNIX_PATH;
      if (mod === null) {
        if (!warnedNoUnixDgram) {
          warnedNoUnixDgram = true;
          opts.warn(`syslog: the unix-dgram module is not available, so ${path} cannot be written; logging to stderr instead`);
        }
        return new StreamSink(process.stderr);
      }
      return new UnixSink(mod, path, opts);
    }
    case 'udp':
      return new UdpSink(spec, opts);
    case 'tcp':
      return new TcpSink(spec, opts);
    case 'stderr':
      return new StreamSink(spec.stream ?? process.stderr);
    case 'memory':
      return new MemorySink(spec.store, spec.format);
    default: {
      const never: never = spec;
      throw new Error(`unknown sink ${JSON.stringify(never)}`);
    }
  }
}
