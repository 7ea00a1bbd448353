import { createHash } from 'node:crypto';

/**
 * The request_id of a run, derived from (job, slot) alone: a retry, or a re-send after a
 * crash, reuses it, so the provider deduplicates instead of starting a second action.
 * Formatted as a name-based (v5-style) UUID so providers that expect a UUID accept it.
 */
export function requestIdFor(jobId: string, slotAtMs: number): string {
  const h = createHash('sha1').update(`globus-timer:${jobId}:${slotAtMs}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
