/**
 * What was started, and how to undo each of it. A start pushes every resource the moment it
 * holds it; stopping, or a start that fails midway, unwinds the same list newest first, so
 * each resource is released after everything that was started on top of it (the shape of
 * AsyncDisposableStack's `defer`/`disposeAsync`, which Node 20 lacks).
 */
export class UndoStack {
  readonly #steps: { what: string; undo: () => unknown }[] = [];
  #unwinding: Promise<void> | undefined;

  /** Push how to undo `what` (its name, for `unwind`'s `onError`). */
  defer(what: string, undo: () => unknown): void {
    if (this.#unwinding) throw new Error(`cannot add ${what}: already unwound`);
    this.#steps.push({ what, undo });
  }

  /**
   * Undo everything, newest first, each step awaited before the next. A step that fails does
   * not stop the rest: `onError` hears of it, and the first failure is thrown once all have
   * run. A second call returns the first one's promise: nothing is undone twice.
   */
  unwind(onError: (err: unknown, what: string) => void = () => {}): Promise<void> {
    this.#unwinding ??= this.#unwindAll(onError);
    return this.#unwinding;
  }

  async #unwindAll(onError: (err: unknown, what: string) => void): Promise<void> {
    let failed: { err: unknown } | undefined;
    for (let step = this.#steps.pop(); step; step = this.#steps.pop()) {
      try {
        await step.undo();
      } catch (err) {
        failed ??= { err };
        onError(err, step.what);
      }
    }
    if (failed) throw failed.err;
  }
}
