/**
 * Classic-mode input (-tcp, -udp): bind every configured port, IPv4 and IPv6, and turn each completed
 * TCP connection or received UDP datagram into a probe. A port that cannot be bound (in use, or below
 * 1024 without privilege) is skipped with 1.2's admin alert and the others still run.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';

/** One probe seen by a classic listener. */
export interface ClassicProbe {
  readonly proto: 'tcp' | 'udp';
  readonly port: number;
  /** The peer's address as the kernel gave it (IPv4-mapped IPv6 already unmapped). */
  readonly source: string;
  /** Arrival time, ms since the epoch (from the event, taken once at the edge). */
  readonly time: number;
  /** Writes the banner to the prober (TCP: on the connection, then closes; UDP: a datagram back). */
  readonly reply: (banner: string | undefined) => void;
}

/** A bind result for the start-up log. */
export interface BindResult {
  readonly proto: 'tcp' | 'udp';
  readonly port: number;
  readonly ok: boolean;
  /** errno code when not ok (EADDRINUSE, EACCES...). */
  readonly error?: string;
}

/** Listeners for the classic modes; {@link start} binds, {@link stop} closes. */
export class ClassicListeners {
  private readonly tcp: Server[] = [];
  private readonly udp: UdpSocket[] = [];

  constructor(private readonly onProbe: (p: ClassicProbe) => void) {}

  /** Binds every port of `proto`; resolves with one result per port (in order). */
  async start(proto: 'tcp' | 'udp', ports: readonly number[]): Promise<BindResult[]> {
    const out: BindResult[] = [];
    for (const port of ports) {
      try {
        if (proto === 'tcp') await this.bindTcp(port);
        else await this.bindUdp(port);
        out.push({ proto, port, ok: true });
      } catch (e) {
        out.push({ proto, port, ok: false, error: (e as NodeJS.ErrnoException).code ?? String(e) });
      }
    }
    return out;
  }

  private bindTcp(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const srv = createServer({ pauseOnConnect: true }, (sock: Socket) => {
        const time = Date.now();
        sock.on('error', () => undefined); // a reset by the scanner is normal here
        const source = unmap(sock.remoteAddress ?? '');
        this.onProbe({
          proto: 'tcp',
          port,
          source,
          time,
          reply: (banner) => {
            if (banner) sock.end(banner);
            else sock.destroy();
          },
        });
      });
      srv.once('error', reject);
      // `::` with ipv6Only false takes IPv4 and IPv6 on one socket (v4 arrive as ::ffff:a.b.c.d).
      srv.listen({ port, host: '::', ipv6Only: false, exclusive: true }, () => {
        srv.off('error', reject);
        srv.on('error', () => undefined);
        this.tcp.push(srv);
        resolve();
      });
    });
  }

  private bindUdp(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = createSocket({ type: 'udp6', ipv6Only: false });
      sock.once('error', reject);
      sock.on('message', (_msg: Buffer, rinfo: RemoteInfo) => {
        const time = Date.now();
        this.onProbe({
          proto: 'udp',
          port,
          source: unmap(rinfo.address),
          time,
          reply: (banner) => {
            if (banner) sock.send(banner, rinfo.port, rinfo.address, () => undefined);
          },
        });
      });
      sock.bind({ port, address: '::', exclusive: true }, () => {
        sock.off('error', reject);
        sock.on('error', () => undefined);
        this.udp.push(sock);
        resolve();
      });
    });
  }

  /** Closes every listener. */
  async stop(): Promise<void> {
    await Promise.all([
      ...this.tcp.map((s) => new Promise<void>((r) => s.close(() => r()))),
      ...this.udp.map((s) => new Promise<void>((r) => s.close(() => r()))),
    ]);
    this.tcp.length = 0;
    this.udp.length = 0;
  }
}

function unmap(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
