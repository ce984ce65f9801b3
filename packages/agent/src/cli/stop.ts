/**
 * How a long-running command (`watch`, `secret rotate --wait`) is stopped: the run's abort signal,
 * or SIGINT/SIGTERM when it has none.
 */

/**
 * Resolves `stopped` when `signal` aborts; without one, on SIGINT or SIGTERM (the handlers are
 * removed by `dispose()` or once a signal arrived). `signal` of the result aborts at the same time.
 */
export function untilStopped(signal: AbortSignal | undefined): {
  stopped: Promise<void>;
  signal: AbortSignal;
  dispose(): void;
} {
  const controller = new AbortController();
  let dispose = () => {};
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      dispose();
      controller.abort();
      resolve();
    };
    if (signal) {
      if (signal.aborted) stop();
      else {
        signal.addEventListener('abort', stop, { once: true });
        dispose = () => signal.removeEventListener('abort', stop);
      }
      return;
    }
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // Signal handlers do not keep Node running, and an embedded store's watch holds no socket: this
    // timer does, until the command is stopped (otherwise Node exits with 13, an unsettled await).
    const keepAlive = setInterval(() => {}, 1 << 30);
    dispose = () => {
      clearInterval(keepAlive);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
  });
  return { stopped, signal: controller.signal, dispose: () => dispose() };
}
