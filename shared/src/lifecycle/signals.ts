/**
 * Process lifecycle for the daemons: SIGTERM/SIGINT stop cleanly (the stop hook flushes and closes, in
 * the order the composition root registered them, reversed), SIGHUP reloads. Reloads never overlap, a
 * reload that fails keeps the running configuration, and a second stop signal while stopping exits at
 * once so an administrator can always get rid of a stuck daemon.
 */

/** Hooks given to {@link installLifecycle}. */
export interface LifecycleHooks {
  /** Called once on SIGTERM/SIGINT (or {@link Lifecycle.stop}). */
  readonly onStop: (signal: NodeJS.Signals | 'stop') => Promise<void> | void;
  /** Called on SIGHUP; a thrown error is passed to `onReloadError` and the daemon goes on. */
  readonly onReload?: () => Promise<void> | void;
  readonly onReloadError?: (err: unknown) => void;
  /** Exit status after a clean stop. Default 0. */
  readonly exitCode?: () => number;
  /** Give up on a stop hook that hangs after this many ms and exit anyway. Default 10,000. */
  readonly stopTimeoutMs?: number;
  /** Call process.exit when stopped. Default true (false for tests in-process). */
  readonly exit?: boolean;
}

/** The installed handlers. */
export interface Lifecycle {
  /** Resolves once the stop hook has finished. */
  readonly stopped: Promise<void>;
  /** Stops as if SIGTERM arrived. */
  stop(): Promise<void>;
  /** Reloads as if SIGHUP arrived; resolves when that reload (and any queued one) is done. */
  reload(): Promise<void>;
  /** Removes the signal handlers. */
  uninstall(): void;
}

/** Installs SIGTERM, SIGINT and SIGHUP handlers on this process. */
export function installLifecycle(hooks: LifecycleHooks): Lifecycle {
  let stopping = false;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let reloading: Promise<void> = Promise.resolve();
  let reloadQueued = false;

  const doStop = async (sig: NodeJS.Signals | 'stop'): Promise<void> => {
    if (stopping) {
      if (sig !== 'stop' && hooks.exit !== false) process.exit(hooks.exitCode?.() ?? 1);
      return stopped;
    }
    stopping = true;
    const limit = hooks.stopTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await reloading.catch(() => undefined);
      await Promise.race([
        Promise.resolve(hooks.onStop(sig)),
        new Promise<void>((r) => {
          timer = setTimeout(r, limit);
          timer.unref();
        }),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
      uninstall();
      resolveStopped();
      if (hooks.exit !== false) process.exit(hooks.exitCode?.() ?? 0);
    }
  };

  const doReload = (): Promise<void> => {
    if (stopping || !hooks.onReload) return reloading;
    if (reloadQueued) return reloading;
    reloadQueued = true;
    reloading = reloading.then(async () => {
      reloadQueued = false;
      if (stopping) return;
      try {
        await hooks.onReload?.();
      } catch (err) {
        hooks.onReloadError?.(err);
      }
    });
    return reloading;
  };

  const onTerm = (s: NodeJS.Signals): void => void doStop(s);
  const onHup = (): void => void doReload();
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onTerm);
  process.on('SIGHUP', onHup);
  function uninstall(): void {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onTerm);
    process.off('SIGHUP', onHup);
  }
  return { stopped, stop: () => doStop('stop'), reload: doReload, uninstall };
}
