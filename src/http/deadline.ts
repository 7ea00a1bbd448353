import type { Cancellation } from '../util/cancellation.ts';

/**
 * An AbortSignal that fires after `ms`, owned by a plain timer. Not `AbortSignal.any` +
 * `AbortSignal.timeout`: on Node 20 that combination can be garbage-collected and never
 * fire (nodejs/node#57736). undici's own headersTimeout/bodyTimeout tick at ~1 s, too coarse.
 */
export function deadline(ms: number, parent?: Cancellation): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms);
  const unsubscribe = parent?.onAbort(() => ac.abort(new DOMException('cancelled', 'AbortError')));
  return {
    signal: ac.signal,
    dispose() {
      clearTimeout(timer);
      unsubscribe?.();
    },
  };
}
