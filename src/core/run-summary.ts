import type { RunError, RunState } from './vocabulary.ts';
import { printable } from '../util/printable.ts';

/**
 * What became of a run, in one line (pure): the `Summary` of `job history` (history.ts) and
 * the `Last Run Error` of `job status` (cli/output.ts), so both say the same thing. Apart
 * from history.ts, which reads the database, so that the CLI can use it too.
 */

/** The longest summary line; longer ones are cut with an ellipsis. */
const SUMMARY_MAX_CHARS = 160;

/** What a summary reads of a run: the fields of a stored run (daemon/store/schema.ts RunRow) it needs. */
interface SummaryInput {
  state: RunState;
  attempts: number;
  actionStatus: string | null;
  actionDocument: Record<string, unknown> | null;
  error: RunError | null;
}

/**
 * What became of a run, in one line: for a failed submission (or a run that ended without a
 * terminal status) the run's error; for a run being retried, the last error; otherwise what
 * the provider reported, from its latest action status document.
 */
export function summarizeRun(run: SummaryInput): string {
  if (run.error) {
    const message = run.error.message || run.error.code;
    return clip(run.state === 'pending' ? `retrying (attempt ${run.attempts}) after: ${message}` : message);
  }
  if (run.actionDocument) return summarizeActionStatus(run.actionDocument);
  if (run.state === 'pending') return run.attempts === 0 ? 'not sent yet' : 'sent; waiting for the provider to answer';
  return '';
}

/**
 * An action status document in one line. A Globus Transfer task (its `details` are the
 * Transfer task document: files_transferred, bytes_transferred, nice_status, fatal_error,
 * ...) gives files and bytes, or its fault; any other provider its status, display_status
 * and details.
 */
export function summarizeActionStatus(doc: Record<string, unknown>): string {
  const status = str(doc.status)?.toUpperCase() ?? 'UNKNOWN';
  const details = doc.details;
  if (isTransferTask(details)) return clip(summarizeTransfer(status, details));
  const parts: string[] = [status];
  const display = str(doc.display_status);
  if (display && display.toUpperCase() !== status) parts[0] = `${status} (${display})`;
  const detailText = details === undefined || details === null ? '' : describeDetails(details);
  return clip(detailText ? `${parts[0]}: ${detailText}` : parts[0]!);
}

/**
 * Globus providers (Flows among them) put `{code, description}` in `details`: show those;
 * anything else as compact JSON (cut to the line's length).
 */
function describeDetails(details: unknown): string {
  if (typeof details === 'object' && details !== null && !Array.isArray(details)) {
    const d = details as Record<string, unknown>;
    const text = str(d.description) ?? str(d.message);
    if (text) return [str(d.code), text].filter(Boolean).join(': ');
  }
  return oneLine(details);
}

function isTransferTask(details: unknown): details is Record<string, unknown> {
  if (typeof details !== 'object' || details === null || Array.isArray(details)) return false;
  const d = details as Record<string, unknown>;
  return d.DATA_TYPE === 'task' || d.type === 'TRANSFER' || typeof d.files_transferred === 'number' || typeof d.bytes_transferred === 'number';
}

function summarizeTransfer(status: string, d: Record<string, unknown>): string {
  const done = status === 'SUCCEEDED';
  const files = num(d.files);
  const transferred = num(d.files_transferred);
  const bytes = num(d.bytes_transferred);
  const counts: string[] = [];
  if (transferred !== null) {
    const of = !done && files !== null && files > transferred ? ` of ${files}` : '';
    counts.push(`${transferred}${of} ${plural(of ? (files ?? 0) : transferred, 'file')}`);
  }
  if (bytes !== null) counts.push(formatBytes(bytes));
  let line = counts.length ? `${counts.join(', ')} transferred` : '';
  const extras: string[] = [];
  const skipped = num(d.files_skipped);
  if (skipped) extras.push(`${skipped} skipped`);
  const faults = num(d.faults);
  if (faults) extras.push(`${faults} ${plural(faults, 'fault')}`);
  if (extras.length) line += `${line ? ', ' : ''}${extras.join(', ')}`;

  const fault = transferFault(d);
  if (fault) return line ? `${fault}; ${line}` : fault;
  if (status === 'ACTIVE' || status === 'INACTIVE') {
    // nice_status says where the task stands: Queued, OK, or a problem (PERMISSION_DENIED, ...).
    const nice = str(d.nice_status);
    const why = str(d.nice_status_short_description);
    const state = nice ? (why && why !== nice ? `${nice}: ${why}` : nice) : status === 'INACTIVE' ? 'paused' : 'in progress';
    return line ? `${state}; ${line} so far` : state;
  }
  if (status === 'FAILED' && !line) return 'transfer failed';
  return line || status;
}

/** A Transfer task's fatal error ({code, description} or text), or an admin cancel. */
function transferFault(d: Record<string, unknown>): string | null {
  const fatal = d.fatal_error;
  if (typeof fatal === 'string' && fatal) return `fault: ${fatal}`;
  if (typeof fatal === 'object' && fatal !== null) {
    const f = fatal as Record<string, unknown>;
    const text = [str(f.code), str(f.description)].filter(Boolean).join(': ');
    return `fault: ${text || oneLine(fatal)}`;
  }
  const admin = str(d.canceled_by_admin_message);
  if (admin) return `canceled by an administrator: ${admin}`;
  return null;
}

/** Bytes with decimal units, as the Globus web app shows them: `512 B`, `3.4 MB`, `1.2 GB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  // 999.96 kB would round to "1000.0 kB": move up instead.
  if (Number(value.toFixed(1)) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.trim() ? v.trim() : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Any value as one line of text: strings as they are, anything else as compact JSON. */
function oneLine(v: unknown): string {
  let text: string;
  try {
    text = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    text = String(v);
  }
  return text.replace(/\s+/g, ' ').trim();
}

function clip(text: string): string {
  // Provider text goes to a terminal: no escape sequences, no bidi overrides (util/printable.ts).
  const line = printable(text).replace(/\s+/g, ' ').trim();
  return line.length > SUMMARY_MAX_CHARS ? `${line.slice(0, SUMMARY_MAX_CHARS - 1)}…` : line;
}
