/**
 * Time as a dependency: the scheduler and runner read the wall clock and arm timers only
 * through this, so tests drive them with a fake clock instead of sleeping.
 */
export interface Clock {
  /** Wall-clock time, epoch milliseconds. */
  now(): number;
  setTimer(fn: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Opaque: whatever `setTimer` returned. */
export type TimerHandle = unknown;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Resolve after `delayMs` on `clock`, or at once (with false) when `signal` aborts. */
export function sleep(clock: Clock, delayMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = () => {
      clock.clearTimer(handle);
      resolve(false);
    };
    const handle = clock.setTimer(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, delayMs);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Resolve once the wall clock has reached `atMs` (true), or at once when `signal` aborts
 * (false). Re-checks after each sleep: timers run on a monotonic clock, so a wall clock
 * set back meanwhile means sleeping again, never an early return.
 */
export async function sleepUntil(clock: Clock, atMs: number, signal: AbortSignal): Promise<boolean> {
  for (let waitMs = atMs - clock.now(); waitMs > 0; waitMs = atMs - clock.now()) {
    if (!(await sleep(clock, waitMs, signal))) return false;
  }
  return !signal.aborted;
}
