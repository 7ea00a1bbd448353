import type { Clock, TimerHandle } from '../../src/core/clock.ts';

interface FakeTimer {
  id: number;
  atMs: number;
  fn: () => void;
}

/**
 * A clock the test moves by hand. `advance()` fires due timers in time order (timers they
 * set fire too, if due); `jump()` moves the wall clock without firing anything, as a wall
 * clock change does.
 */
export class FakeClock implements Clock {
  #nowMs: number;
  #monotonicMs = 0;
  #nextId = 1;
  #timers: FakeTimer[] = [];

  constructor(startMs: number) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimer(fn: () => void, delayMs: number): TimerHandle {
    const timer = { id: this.#nextId++, atMs: this.#monotonicMs + Math.max(0, delayMs), fn };
    this.#timers.push(timer);
    return timer.id;
  }

  clearTimer(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  /** Let `ms` pass: both clocks move, and due timers fire in order. */
  advance(ms: number): void {
    const endMono = this.#monotonicMs + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.atMs <= endMono).sort((a, b) => a.atMs - b.atMs || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#nowMs += due.atMs - this.#monotonicMs;
      this.#monotonicMs = due.atMs;
      due.fn();
    }
    this.#nowMs += endMono - this.#monotonicMs;
    this.#monotonicMs = endMono;
  }

  /** Change the wall clock only (NTP step, manual change); timers keep their delays. */
  jump(ms: number): void {
    this.#nowMs += ms;
  }

  /** The wall-clock time the next timer would fire at, or null. */
  nextTimerAtMs(): number | null {
    const next = this.#timers.reduce<FakeTimer | null>((a, t) => (!a || t.atMs < a.atMs ? t : a), null);
    return next ? this.#nowMs + (next.atMs - this.#monotonicMs) : null;
  }

  get pendingTimers(): number {
    return this.#timers.length;
  }
}
