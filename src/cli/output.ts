import stringWidth from 'string-width';
import { loginCommand } from '../core/scopes.ts';
import { jsonForTerminal, printable, safe } from '../util/printable.ts';
import type { JobDocument } from '../contract/protocol.ts';
import { summarizeRun } from '../core/run-summary.ts';
import { displayTime, displayTimeOrNull } from './display-time.ts';
import { runStatusLabel } from '../core/history-line.ts';

/**
 * Text layouts of the original CLI (reference globus-timer-cli.md §1 "Output layouts"):
 * aligned `Key: value` records, ` | ` tables, intervals as Python's str(timedelta).
 * Every value from the daemon goes through printable() (src/util/printable.ts) on its way out:
 * records and tables do it for their values, lines built around a value use safe`…`.
 */

/** `0:10:00`, `8:00:00`, `1 day, 0:00:00`, `10 days, 0:00:00`. */
export function formatInterval(totalSeconds: number): string {
  const days = Math.floor(totalSeconds / 86_400);
  let rest = totalSeconds % 86_400;
  const h = Math.floor(rest / 3600);
  rest %= 3600;
  const clock = `${h}:${String(Math.floor(rest / 60)).padStart(2, '0')}:${String(rest % 60).padStart(2, '0')}`;
  return days ? `${days} day${days === 1 ? '' : 's'}, ${clock}` : clock;
}

/**
 * How the newest run really ended, not only whether it was accepted: `NOT RUN`,
 * `SUBMITTING`, `RETRYING`, the action's status (`ACTIVE`, `INACTIVE`, `SUCCEEDED`,
 * `FAILED`), or `FAILED` for a submission the provider refused.
 */
export function lastRunResult(job: JobDocument): string {
  const run = job.results.data[0];
  return run ? runStatusLabel(run) : 'NOT RUN';
}

/**
 * Lines `Key: value`, the key column padded to the longest key + 2; missing values print
 * `None`. The keys are ours and ASCII, so `.length` is their display width.
 */
export function formatRecord(fields: [string, unknown][]): string {
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width)}${v === null || v === undefined ? 'None' : printable(String(v))}`).join('\n');
}

/** A calendar job's schedule: `cron 0 2 * * * (Europe/Berlin)`; no zone: the daemon's local time. */
function scheduleText(cron: string, timezone: string | null): string {
  return `cron ${cron} (${timezone ?? 'daemon local time'})`;
}

export function jobRecord(job: JobDocument, { short = false } = {}): string {
  const fields: [string, unknown][] = [
    ['Name', job.name],
    ['Job ID', job.job_id],
    ['Status', job.status],
    ['Start', displayTime(job.start)],
    job.cron ? ['Schedule', scheduleText(job.cron, job.timezone)] : ['Interval', formatInterval(job.interval ?? 0)],
  ];
  if (!short) fields.push(['Next Run At', displayTimeOrNull(job.next_run)], ['Last Run Result', lastRunResult(job)]);
  const error = short ? null : lastRunErrorLine(job);
  if (error) fields.push(['Last Run Error', error]);
  const reason = inactiveReasonLine(job);
  if (reason) fields.push(['Inactive Reason', reason]);
  if (job.on_failure) fields.push(['On Failure', onFailureText(job.on_failure)]);
  return formatRecord(fields);
}

/** A job's failure hook: its command, a desktop notification, or both. */
function onFailureText({ command, notify }: NonNullable<JobDocument['on_failure']>): string {
  if (command === null) return 'desktop notification';
  return notify ? `${command} (and a desktop notification)` : command;
}

/**
 * Why the newest run failed, in one line, and where to read more; null unless it failed.
 * The words of the Summary column of `job history` (run-summary.ts): the run's error (a
 * refused submission, a timeout), or the provider's account of the failed action; made
 * printable and cut to one bounded line there.
 */
function lastRunErrorLine(job: JobDocument): string | null {
  const run = job.results.data[0];
  if (run?.run_state !== 'failed') return null;
  const why = summarizeRun({ state: run.run_state, attempts: run.attempts, actionStatus: run.action_status, actionDocument: run.data, error: run.errors });
  return `${why || 'no reason recorded'} (see: globus-timer job history ${job.job_id})`;
}

/**
 * Why an inactive job does not run, and in the same line how to fix it. For missing
 * consent, the hosted service's shape: `detail.authorization_parameters.required_scopes`.
 */
export function inactiveReasonLine(job: JobDocument): string | null {
  const reason = job.inactive_reason;
  if (job.status !== 'inactive' || !reason) return null;
  if (reason.cause === 'globus_auth_requirements') {
    const detail = (reason.detail ?? {}) as { code?: unknown; authorization_parameters?: { required_scopes?: unknown } };
    const listed = detail.authorization_parameters?.required_scopes;
    const scopes = Array.isArray(listed) && listed.length ? listed.map(String) : job.scope ? [job.scope] : [];
    const code = typeof detail.code === 'string' ? ` (${detail.code})` : '';
    const logout = detail.code === 'TokenCacheInvalid' ? 'globus-timer session logout && ' : '';
    return safe`Globus Auth needs you${code}; fix: ${logout}${loginCommand(scopes)} && globus-timer job resume ${job.job_id}`;
  }
  const note = typeof reason.detail === 'string' && reason.detail ? `: ${reason.detail}` : '';
  // The token rules stopped it: resuming cannot help, and the detail already says what does.
  if (reason.cause === 'token_destination') return safe`the job's token may not go to its URL${note}`;
  return safe`${reason.cause}${note}; resume with: globus-timer job resume ${job.job_id}`;
}

/**
 * Columns as wide as their widest cell, cells joined with " | ", dashes joined with "-|-".
 * Widths are display widths (string-width, as yargs measures its help), not `.length`: a
 * CJK character or an emoji takes two columns, a combining mark none, so a job named
 * `データ転送` or `👩‍🔬 backup` does not push its row's `|` out of line.
 */
export function formatTable(headers: readonly string[], rawRows: string[][], minWidths: readonly number[] = []): string {
  const rows = rawRows.map((r) => r.map((cell) => printable(cell)));
  const widths = headers.map((h, i) => Math.max(minWidths[i] ?? 0, stringWidth(h), ...rows.map((r) => stringWidth(r[i] ?? ''))));
  return [tableRow(headers, widths), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map((r) => tableRow(r, widths))].join('\n');
}

/** One row of a table, its cells padded to `widths` (a row added under a table printed before: `job history -f`). */
export function tableRow(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => padToWidth(printable(c), widths[i] ?? 0))
    .join(' | ')
    .trimEnd();
}

/** `text` padded with spaces to `width` display columns. */
function padToWidth(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - stringWidth(text)));
}

/**
 * A time span as its two largest units, truncated: `3h 12m`, `45s`, `2d 4h`, `5m`
 * (a zero second unit is left out). `ms` is rounded up to whole seconds first, so a slot
 * 0.3 s away is `1s`, never `0s`.
 */
export function formatSpan(ms: number): string {
  let s = Math.ceil(ms / 1000);
  const parts: [number, string][] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    parts.push([Math.floor(s / size), unit]);
    s %= size;
  }
  const first = parts.findIndex(([n]) => n > 0);
  if (first === -1) return '0s';
  return parts
    .slice(first, first + 2)
    .filter(([n], i) => i === 0 || n > 0)
    .map(([n, unit]) => `${n}${unit}`)
    .join(' ');
}

/**
 * The `Next Run` cell of `job list`, relative to `nowMs`: `in 3h 12m`, `overdue 2s` (due,
 * not yet fired: the daemon was down, or the run is being claimed), `now` (within the
 * second), `paused` for a paused job (`inactive` for one stopped otherwise), `-` when there is no next run (finished, deleted).
 * The absolute time is `next_run` in the job document (`--format json`).
 */
export function nextRunText(job: Pick<JobDocument, 'status' | 'next_run' | 'inactive_reason'>, nowMs: number): string {
  // `paused` is what the user did; a job Globus Auth stopped says so (job status tells why).
  if (job.status === 'inactive') return job.inactive_reason?.cause === 'user' ? 'paused' : 'inactive';
  if (job.next_run === null) return '-';
  const delta = Date.parse(job.next_run) - nowMs;
  if (Number.isNaN(delta)) return '-';
  if (delta > 0) return `in ${formatSpan(delta)}`;
  if (delta > -1000) return 'now';
  return `overdue ${formatSpan(-delta - 999)}`;
}

export const JOB_TABLE_HEADERS = ['Name', 'Job ID', 'Status', 'Last Result', 'Next Run'];

/** One `job list` row (the original columns, then `Next Run`). */
export function jobRow(j: JobDocument, nowMs: number): string[] {
  return [j.name, j.job_id, j.status, lastRunResult(j), nextRunText(j, nowMs)];
}

export function jobTable(jobs: JobDocument[], nowMs: number = Date.now()): string {
  return formatTable(
    JOB_TABLE_HEADERS,
    jobs.map((j) => jobRow(j, nowMs)),
  );
}

/** How the CLI reports an error on stderr: one line, printable whoever wrote the message (often the daemon). */
export function errorLine(err: Error): string {
  return `globus-timer: ${printable(oneLineMessage(err))}`;
}

/** An error's message on one line: the daemon's messages may span several. */
function oneLineMessage(err: Error): string {
  return String(err.message ?? err).replace(/\s*\n\s*/g, '; ');
}

/** How the CLI reports an error on stdout under `--format json`: `{"error": {"code", "message"}}`, the message as on stderr. */
export function errorJson(err: Error, code: string): string {
  return toJson({ error: { code, message: oneLineMessage(err) } });
}

/** `--format json`: valid JSON whatever the strings hold, and inert on a terminal (util/printable.ts). */
export function toJson(value: unknown, indent: number | undefined = 2): string {
  return jsonForTerminal(JSON.stringify(value, null, indent));
}
