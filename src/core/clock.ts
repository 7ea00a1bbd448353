import type { Cancellation } from '../util/cancellation.ts';

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

/** Resolve after `delayMs` on `clock`, or at once (with false) when `cancel` aborts. */
export function sleep(clock: Clock, delayMs: number, cancel: Cancellation): Promise<boolean> {
  return new Promise((resolve) => {
    if (cancel.aborted) return resolve(false);
    const handle = clock.setTimer(() => {
      unsubscribe();
      resolve(true);
    }, delayMs);
    const unsubscribe = cancel.onAbort(() => {
      clock.clearTimer(handle);
      resolve(false);
    });
  });
}

/**
 * Resolve once the wall clock has reached `atMs` (true), or at once when `signal` aborts
 * (false). Re-checks after each sleep: timers run on a monotonic clock, so a wall clock
 * set back meanwhile means sleeping again, never an early return.
 */
export async function sleepUntil(clock: Clock, atMs: number, cancel: Cancellation, maxStepMs = 30_000): Promise<boolean> {
  // Each step is capped, as the scheduler's timer is: a wall clock set back (and forward
  // again) while sleeping must not keep a run asleep for the whole jump.
  for (let waitMs = atMs - clock.now(); waitMs > 0; waitMs = atMs - clock.now()) {
    if (!(await sleep(clock, Math.min(waitMs, maxStepMs), cancel))) return false;
  }
  return !cancel.aborted;
}
