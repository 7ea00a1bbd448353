/**
 * A stop signal shared by thousands of waiters (every sleeping or in-flight run). Not an
 * AbortSignal: Node's EventTarget scans its listener list on every add and remove, so
 * with N runs waiting on one signal each sleep costs O(N) — at a few thousand runs in
 * flight that was the daemon's largest single cost (15 % of CPU at 1,000 fires/s). Here a
 * listener is a Set entry: O(1) to add and remove.
 */
export class Cancellation {
  #aborted = false;
  readonly #listeners = new Set<() => void>();

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Call `fn` once on abort (at once if already aborted); returns the unsubscribe. */
  onAbort(fn: () => void): () => void {
    if (this.#aborted) {
      fn();
      return () => {};
    }
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const fn of listeners) fn();
  }
}
