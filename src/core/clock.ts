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
  /**
   * The last stretch of a wait, finer than a timer (sleepUntil): resolves 'due' once now() has
   * reached `atMs`, 'early' if it is still more than FINE_WAIT_MS away (a clock set back: sleep
   * again), 'cancelled' when `cancel` aborts, 'coarse' when finer waits are over their budget
   * (finish on a timer). Optional: a test's fake clock has none.
   */
  finishWait?(atMs: number, cancel: Cancellation): Promise<FinishedWait>;
}

export type FinishedWait = 'due' | 'early' | 'cancelled' | 'coarse';

/** How much of a wait finishWait takes over from the timer. */
const FINE_WAIT_MS = 1;

/** Opaque: whatever `setTimer` returned. */
export type TimerHandle = unknown;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
  finishWait: (atMs, cancel) => fineWaits.add(atMs, cancel),
};

/**
 * Waits finished to the millisecond (issue 18). A Node timer fires on the event loop's
 * cached millisecond, so anywhere up to about 1 ms after its time (the bench's median fire
 * lateness was 1.0–1.2 ms). The timer is set FINE_WAIT_MS short, and the rest is one
 * setImmediate loop, shared by every wait in it, that reads Date.now() each turn and
 * resolves each wait the moment its millisecond starts. The loop yields to I/O every turn
 * and runs only while a wait is in its last millisecond: no spinning core at idle.
 *
 * Within a budget: at most FINE_WAIT_BUDGET_MS of each second is spent polling; past it, waits
 * finish on their timer as before. Unbounded, the polling took a core at 1,000 fires/s, and at
 * 2,000/s on two cores it starved the provider and the bench beside it (p99 380 ms; 30 ms
 * without the polling, 21 ms within this budget).
 */
export class FineWaits {
  readonly #now: () => number;
  readonly #waits = new Set<{ atMs: number; done: (how: FinishedWait) => void }>();
  #polling = false;
  /** Polling time charged to the current one-second window (performance.now() ms). */
  #windowStartMs = 0;
  #spentMs = 0;
  #lastTurnMs = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  add(atMs: number, cancel: Cancellation): Promise<FinishedWait> {
    if (cancel.aborted) return Promise.resolve('cancelled');
    if (!this.#polling && this.#overBudget(performance.now())) return Promise.resolve('coarse');
    return new Promise((resolve) => {
      const wait = {
        atMs,
        done: (how: FinishedWait) => {
          this.#waits.delete(wait);
          unsubscribe();
          resolve(how);
        },
      };
      const unsubscribe = cancel.onAbort(() => wait.done('cancelled'));
      this.#waits.add(wait);
      if (!this.#polling) {
        this.#polling = true;
        this.#lastTurnMs = performance.now();
        setImmediate(this.#poll);
      }
    });
  }

  readonly #poll = (): void => {
    const turnMs = performance.now();
    this.#spentMs += turnMs - this.#lastTurnMs;
    this.#lastTurnMs = turnMs;
    const over = this.#overBudget(turnMs);
    const nowMs = this.#now();
    for (const wait of this.#waits) {
      if (nowMs >= wait.atMs) wait.done('due');
      // The wall clock was set back: not a millisecond's wait any more (nor a spin for the whole jump).
      else if (wait.atMs - nowMs > FINE_WAIT_MS) wait.done('early');
      else if (over) wait.done('coarse');
    }
    if (this.#waits.size > 0) setImmediate(this.#poll);
    else this.#polling = false;
  };

  /** Whether this second's polling budget is spent (a new second starts a new budget). */
  #overBudget(turnMs: number): boolean {
    if (turnMs - this.#windowStartMs >= 1_000) {
      this.#windowStartMs = turnMs;
      this.#spentMs = 0;
    }
    return this.#spentMs >= FINE_WAIT_BUDGET_MS;
  }
}

/** Polling time allowed in each second (FineWaits). */
const FINE_WAIT_BUDGET_MS = 500;

const fineWaits = new FineWaits();

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
  const fine = clock.finishWait ? FINE_WAIT_MS : 0;
  for (let waitMs = atMs - clock.now(); waitMs > 0; waitMs = atMs - clock.now()) {
    if (waitMs <= fine && clock.finishWait) {
      const how = await clock.finishWait(atMs, cancel);
      if (how === 'cancelled') return false;
      if (how !== 'coarse') continue;
      if (!(await sleep(clock, waitMs, cancel))) return false;
      continue;
    }
    if (!(await sleep(clock, Math.min(waitMs - fine, maxStepMs), cancel))) return false;
  }
  return !cancel.aborted;
}
