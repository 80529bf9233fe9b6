// Running Debian's portsentry 1.2 (the reference) inside a scan-lab namespace, with a config of the
// benchmark's own and its syslog going to a socket the benchmark reads.
//
// 1.2 reads a compiled-in /etc/portsentry/portsentry.conf and logs through syslog(3) to /dev/log, and
// neither exists for it here. So it runs under `unshare --mount` (a private mount namespace, inside the
// target's network namespace) where a small shell lays a throwaway overlay over /etc, binds the config
// at 1.2's path, puts a tmpfs on /dev with the few device nodes it needs bound in, and binds our
// datagram socket at /dev/log. Nothing of this is visible outside that mount namespace, which ends
// when 1.2 does.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where scripts/install-reference-tools unpacks Debian's portsentry 1.2. */
export const REF_ROOT = '/opt/trisentry-ref/portsentry';
/** The 1.2 binary. */
export const REF_BIN = join(REF_ROOT, 'usr', 'sbin', 'portsentry');
/** The line 1.2 (and ours) logs once its listeners are up. */
export const READY_TEXT = 'adminalert: PortSentry is now active and listening.';

// Positional parameters only: $1 work dir, $2 config, $3 syslog socket, then the command to exec.
const WRAPPER = `set -eu
work=$1 conf=$2 sock=$3
shift 3
mount -t overlay ts-ref-etc -o "lowerdir=/etc,upperdir=$work/etc-upper,workdir=$work/etc-work" /etc
mkdir -p /etc/portsentry
: > /etc/portsentry/portsentry.conf
mount --bind "$conf" /etc/portsentry/portsentry.conf
mount --bind /dev "$work/realdev"
mount -t tmpfs -o mode=0755,size=1m ts-ref-dev /dev
for n in null zero full random urandom tty; do
  : > "/dev/$n"
  mount --bind "$work/realdev/$n" "/dev/$n"
done
umount -l "$work/realdev"
: > /dev/log
mount --bind "$sock" /dev/log
exec "$@"
`;

/** The Debian version string recorded by install-reference-tools, if there is one. */
export function refVersion() {
  try {
    return readFileSync(join(REF_ROOT, '.trisentry-ref'), 'utf8').trim().split(/\s+/)[1];
  } catch {
    return undefined;
  }
}

/** The syslog datagrams of one run, each stamped with its arrival time (ms since the epoch). */
class SyslogSink {
  constructor(sockPath) {
    this.lines = [];
    this.sockPath = sockPath;
  }

  /** Binds the socket; resolves once it listens. */
  start() {
    const unix = createRequire(import.meta.url)('unix-dgram');
    return new Promise((resolve, reject) => {
      this.sock = unix.createSocket('unix_dgram', (buf) => {
        // Read at once: 1.2 blocks in syslog(3) when the socket's queue (10 datagrams) is full.
        this.lines.push({ t: performance.timeOrigin + performance.now(), text: buf.toString('utf8').replace(/\n$/, '') });
      });
      this.sock.once('error', reject);
      this.sock.once('listening', () => resolve(this));
      this.sock.bind(this.sockPath);
    });
  }

  close() {
    try {
      this.sock?.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Starts 1.2 with `args` (e.g. ['-atcp']) in the lab's target namespace with config file `conf`;
 * `work` is a private temp dir (letters, digits, `_./-` only: it goes into a mount option). Resolves
 * with `{ pid, log, stop }` once 1.2 logged that it is listening (its forked daemon's pid), or
 * rejects with what it printed and logged.
 */
export async function startRefPortsentry(lab, labMod, { work, conf, args }) {
  if (!/^[A-Za-z0-9_./-]+$/.test(work)) throw new Error(`temp dir ${work} has characters an overlay option cannot carry`);
  for (const d of ['etc-upper', 'etc-work', 'realdev']) mkdirSync(join(work, d), { recursive: true });
  const log = await new SyslogSink(join(work, 'log.sock')).start();
  const child = lab.spawn('target', ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', WRAPPER, 'ts-ref', work, conf, log.sockPath, REF_BIN, ...args], { timeoutMs: 15 * 60_000 });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  // 1.2 forks into the background: the foreground process exits 0 at once.
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
  const dump = () => `${out.trim()}\n${log.lines.map((l) => `  ${l.text}`).join('\n')}`;
  if (child.exitCode !== 0) {
    log.close();
    throw new Error(`1.2 did not start (exit ${child.exitCode ?? child.signalCode}): ${dump()}`);
  }
  const ready = () => log.lines.find((l) => l.text.includes(READY_TEXT));
  await labMod.waitFor(() => ready() !== undefined, { timeoutMs: 10_000, what: '1.2 ready' }).catch(() => undefined);
  const m = /portsentry\[(\d+)\]: /.exec(ready()?.text ?? '');
  if (!m) {
    log.close();
    throw new Error(`1.2 never logged that it is listening: ${dump()}`);
  }
  const pid = Number(m[1]);
  return {
    pid,
    log: log.lines,
    stop() {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone (lab cleanup also kills everything in the namespace)
      }
      log.close();
    },
  };
}
