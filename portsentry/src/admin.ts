/**
 * `portsentry list`, `portsentry unblock ADDRESS`, `portsentry flush`: through the running daemon's
 * control socket when one answers (so it stays the only writer of its state), else directly on the
 * state file, the kernel and the blocked files.
 */
import { existsSync } from 'node:fs';
import { AddressError, acquireLock, tryParseAddress, MODES } from '@trisentry/shared';
import { loadPortsentryConfig } from './config.js';
import { askControl, type ControlRequest } from './adapters/control.js';
import { BlockStore, type BlockRecord } from './adapters/state.js';
import { createBackend, detectBackend } from './adapters/response/firewall.js';
import { BlockFiles } from './adapters/response/files.js';

/** What an admin command printed, and its exit status. */
export interface AdminResult {
  readonly out: string;
  readonly status: number;
}

function table(blocks: readonly BlockRecord[]): string {
  if (blocks.length === 0) return 'no active blocks\n';
  const rows = blocks.map((b) => [
    b.address,
    new Date(b.since).toISOString(),
    b.expiresAt === null ? 'never' : new Date(b.expiresAt).toISOString(),
    `${b.proto.toUpperCase()} ${b.port}`,
    `-${b.mode}`,
    b.reason,
  ]);
  const head = ['ADDRESS', 'SINCE', 'EXPIRES', 'PORT', 'MODE', 'WHY'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** The BLOCKED_FILE.<mode> files that exist (one per mode that has run). */
function existingBlockedFiles(blockedFile: string | undefined): BlockFiles[] {
  if (blockedFile === undefined) return [];
  return MODES.filter((m) => existsSync(`${blockedFile}.${m}`)).map((m) => new BlockFiles({ historyFile: undefined, blockedFile, mode: m }));
}

/** Runs one admin command against the config at `configPath`. */
export async function runAdmin(op: 'list' | 'unblock' | 'flush', configPath: string, address?: string): Promise<AdminResult> {
  const cfg = loadPortsentryConfig(configPath);
  let req: ControlRequest;
  if (op === 'unblock') {
    const a = address === undefined ? undefined : tryParseAddress(address);
    if (!a) throw new AddressError('NET_BAD_ADDRESS', `not an IPv4 or IPv6 address: ${JSON.stringify(address ?? '')}`);
    req = { op, address: a.toString() };
  } else req = { op };

  const reply = await askControl(`${cfg.stateFile}.sock`, req);
  if (reply !== undefined) {
    if (!reply.ok) return { out: `portsentry: ${reply.error}\n`, status: 1 };
    if (op === 'list') return { out: table(reply.data as BlockRecord[]), status: 0 };
    if (op === 'unblock') return reply.data === null ? { out: `${req.op === 'unblock' ? req.address : ''} was not blocked (removed from the firewall if it was there)\n`, status: 1 } : { out: `unblocked ${(reply.data as BlockRecord).address}\n`, status: 0 };
    return { out: `lifted ${String(reply.data)} blocks\n`, status: 0 };
  }

  // No daemon: work on the files and the kernel directly, holding the daemon's lock meanwhile.
  const store = new BlockStore(cfg.stateFile);
  if (op === 'list') {
    store.load();
    return { out: table(store.all()), status: 0 };
  }
  const lock = acquireLock(`${cfg.stateFile}.lock`);
  try {
    store.load();
    const backendName = cfg.blockBackend === 'none' ? undefined : cfg.blockBackend === 'auto' ? await detectBackend() : cfg.blockBackend;
    const backend = backendName === undefined ? undefined : createBackend(backendName);
    try {
      if (op === 'unblock' && req.op === 'unblock') {
        const a = tryParseAddress(req.address)!;
        await backend?.unblock([a]);
        const r = store.remove(req.address);
        store.save();
        for (const f of existingBlockedFiles(cfg.blockedFile)) await f.removeBlocked(req.address);
        return r === undefined ? { out: `${req.address} was not blocked (removed from the firewall if it was there)\n`, status: 1 } : { out: `unblocked ${req.address}\n`, status: 0 };
      }
      const all = store.clear();
      await backend?.flush();
      store.save();
      for (const f of existingBlockedFiles(cfg.blockedFile)) await f.reset();
      return { out: `lifted ${all.length} blocks\n`, status: 0 };
    } finally {
      await backend?.close();
    }
  } finally {
    lock.release();
  }
}
