/**
 * A repeated message let through at most once per `everyMs` (issue 17: a full disk fails
 * every pass and every retry; the log must say so once a minute, not fill up as well),
 * counting what it held back in between.
 */
export class OncePer {
  readonly #everyMs: number;
  readonly #now: () => number;
  #lastMs = Number.NEGATIVE_INFINITY;
  #held = 0;

  constructor(everyMs: number, now: () => number = Date.now) {
    this.#everyMs = everyMs;
    this.#now = now;
  }

  /** Whether to log now; if so, how many were held back since the last one let through. */
  take(): { held: number } | null {
    const nowMs = this.#now();
    if (nowMs - this.#lastMs < this.#everyMs) {
      this.#held += 1;
      return null;
    }
    const held = this.#held;
    this.#held = 0;
    this.#lastMs = nowMs;
    return { held };
  }
}
