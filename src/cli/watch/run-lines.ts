/**
 * A run as one line (pure): the live line of `job watch` / `job run --wait` at a terminal
 * (with a progress bar), the line per change elsewhere, and the line a run ends with.
 * Figures come from the provider's status `details` (contract/events.ts progressOf): for a
 * Globus Transfer task its files, bytes and rate; for any other provider its status only.
 */
import type { RunEvent, RunProgress } from '../../contract/protocol.ts';
import { shortSize } from '../../util/byte-size.ts';
import { printable } from '../../util/printable.ts';
import { formatLateness, runStatusLabel } from '../../core/history-line.ts';

const BAR_CELLS = 24;

/** `0:01:23`, `12:00:05`: elapsed time as the original CLI prints intervals. */
function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** How much of the run is done, 0–1, or null when the provider gives no totals: files, else subtasks. */
function doneFraction(p: RunProgress | null): number | null {
  if (!p) return null;
  if (p.status === 'SUCCEEDED') return 1;
  if (p.files_total !== null && p.files_total > 0 && p.files_done !== null) return Math.min(1, p.files_done / p.files_total);
  if (p.subtasks_total !== null && p.subtasks_total > 0 && p.subtasks_done !== null) return Math.min(1, p.subtasks_done / p.subtasks_total);
  return null;
}

/** `█████████▌░░░░░░░░░░░░░░ 40%`: eighths of a cell, so a slow transfer visibly moves; never ahead of what is done. */
export function progressBar(fraction: number, cells = BAR_CELLS): string {
  const eighths = Math.floor(Math.min(1, Math.max(0, fraction)) * cells * 8);
  const full = Math.floor(eighths / 8);
  const part = eighths % 8;
  const partial = part ? '▏▎▍▌▋▊▉'[part - 1]! : '';
  return `${'█'.repeat(full)}${partial}${'░'.repeat(cells - full - (part ? 1 : 0))} ${String(Math.floor(fraction * 100)).padStart(3)}%`;
}

/** The figures of a transfer: `42/100 files · 1.2 GiB · 35.0 MiB/s`; empty for a provider without them. */
export function figures(p: RunProgress | null, ended: boolean): string {
  if (!p) return '';
  const parts: string[] = [];
  if (p.files_done !== null || p.files_total !== null) {
    parts.push(
      p.files_total !== null && !(ended && p.files_done === p.files_total) ? `${p.files_done ?? 0}/${p.files_total} files` : `${p.files_done ?? 0} files`,
    );
  }
  if (p.bytes_transferred !== null) parts.push(shortSize(p.bytes_transferred));
  if (p.bytes_per_second !== null && p.bytes_per_second > 0) parts.push(`${shortSize(p.bytes_per_second)}/s`);
  if (p.faults) parts.push(`${p.faults} fault${p.faults === 1 ? '' : 's'}`);
  return parts.join(' · ');
}

/** The status word shown: SUBMITTING, RETRYING, the provider's (with its label: `ACTIVE (Queued)`), FAILED. */
function statusText(e: RunEvent): string {
  const label = runStatusLabel(e.run);
  const word = e.progress?.label;
  return word && e.run.completed_at === null && word.toUpperCase() !== label ? `${label} (${printable(word)})` : label;
}

/** ms from the run's first send to its end, or to `nowMs` while it runs. */
function elapsedMs(e: RunEvent, nowMs: number): number {
  const end = e.run.completed_at ? Date.parse(e.run.completed_at) : nowMs;
  return end - Date.parse(e.run.ran_at);
}

function who(e: RunEvent): string {
  return printable(e.job_name || e.job_id);
}

/** The live line at a terminal, rewritten in place: name, status, bar and figures, elapsed. */
export function liveLine(e: RunEvent, nowMs: number): string {
  const fraction = doneFraction(e.progress);
  const parts = [`${who(e)}`, statusText(e)];
  if (fraction !== null) parts.push(progressBar(fraction));
  const f = figures(e.progress, false);
  if (f) parts.push(f);
  parts.push(formatElapsed(elapsedMs(e, nowMs)));
  return `⟳ ${parts.join('  ')}`;
}

/**
 * One line per change where no terminal redraws (a pipe, a log file): the time of the
 * change, the job, its status and figures, the elapsed time. Stable words for grep.
 */
export function changeLine(e: RunEvent, nowMs: number): string {
  const parts = [new Date(nowMs).toISOString(), who(e), statusText(e)];
  const f = figures(e.progress, e.run.completed_at !== null);
  if (f) parts.push(f);
  parts.push(`elapsed ${formatElapsed(elapsedMs(e, nowMs))}`);
  if (e.run.completed_at !== null && e.run.summary && !f) parts.push(printable(e.run.summary));
  return parts.join('  ');
}

/** The line a run ends with: ✔/✘, status, what it moved or why it failed, how long it took, how late it fired. */
export function endLine(e: RunEvent): string {
  const ok = e.run.run_state === 'succeeded';
  const parts = [`${ok ? '✔' : '✘'} ${who(e)}`, statusText(e)];
  const f = figures(e.progress, true);
  parts.push(ok && f ? f : printable(e.run.summary));
  parts.push(`in ${formatElapsed(elapsedMs(e, Date.parse(e.run.completed_at ?? e.run.ran_at)))}`);
  if (e.run.lateness_ms !== null) parts.push(`fired ${formatLateness(e.run.lateness_ms)} after its slot`);
  return parts.filter(Boolean).join('  ');
}
