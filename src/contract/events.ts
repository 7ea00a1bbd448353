/**
 * What the daemon pushes to whoever watches (issue 16): the CLI's `job watch`, `job run
 * --wait` and `job history -f` over the JSON-RPC socket, the dashboard over Server-Sent
 * Events, and the failure hooks inside the daemon. One shape for all three, built once per
 * change (daemon/events/hub.ts), so a watcher costs the daemon a write, not a query.
 *
 * The event shapes are part of the RPC contract (protocol.ts: RunEvent, JobEvent, RunProgress);
 * this file holds what is done with them. Pure: the CLI reads it too.
 */
import type { RunProgress } from './protocol.ts';

/** The JSON-RPC notification method that carries events to a watching connection. */
export const EVENTS_NOTIFICATION = 'job.events';

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.trim() ? v : null;
}

/** A provider's word, as long as a word should be: an event stays small whatever the provider sends. */
function clipped(text: string | null): string | null {
  return text === null || text.length <= 80 ? text : `${text.slice(0, 79)}…`;
}

function sum(a: number | null, b: number | null): number | null {
  return a === null && b === null ? null : (a ?? 0) + (b ?? 0);
}

/**
 * The progress in an action status document, or null when it is not one. A provider's
 * document is untrusted: anything not a finite number is not a count.
 */
export function progressOf(doc: Record<string, unknown> | null): RunProgress | null {
  if (!doc || typeof doc !== 'object') return null;
  const status = str(doc.status)?.toUpperCase() ?? 'UNKNOWN';
  const details = doc.details;
  const d = typeof details === 'object' && details !== null && !Array.isArray(details) ? (details as Record<string, unknown>) : {};
  const subtasksDone = sum(sum(num(d.subtasks_succeeded), num(d.subtasks_skipped_errors)), sum(num(d.subtasks_canceled), num(d.subtasks_expired)));
  return {
    status,
    label: clipped(str(d.nice_status) ?? str(doc.display_status)),
    files_total: num(d.files),
    files_done: sum(num(d.files_transferred), num(d.files_skipped)),
    bytes_transferred: num(d.bytes_transferred),
    bytes_per_second: num(d.effective_bytes_per_second),
    subtasks_total: num(d.subtasks_total),
    subtasks_done: subtasksDone,
    faults: num(d.faults),
  };
}
