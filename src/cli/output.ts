import { loginCommand } from '../auth/scopes.ts';
import type { JobDocument } from '../rpc/protocol.ts';

/**
 * Text layouts of the original CLI (reference globus-timer-cli.md §1 "Output layouts"):
 * aligned `Key: value` records, ` | ` tables, intervals as Python's str(timedelta).
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
  if (!run) return 'NOT RUN';
  if (run.run_state === 'pending') return run.attempts > 1 ? 'RETRYING' : 'SUBMITTING';
  if (run.run_state === 'failed') return 'FAILED';
  return run.action_status ?? run.run_state.toUpperCase();
}

/** Lines `Key: value`, the key column padded to the longest key + 2; missing values print `None`. */
export function formatRecord(fields: [string, unknown][]): string {
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width)}${v === null || v === undefined ? 'None' : String(v)}`).join('\n');
}

export function jobRecord(job: JobDocument, { short = false } = {}): string {
  const fields: [string, unknown][] = [
    ['Name', job.name],
    ['Job ID', job.job_id],
    ['Status', job.status],
    ['Start', job.start],
    ['Interval', formatInterval(job.interval)],
  ];
  if (!short) fields.push(['Next Run At', job.next_run], ['Last Run Result', lastRunResult(job)]);
  const reason = inactiveReasonLine(job);
  if (reason) fields.push(['Inactive Reason', reason]);
  return formatRecord(fields);
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
    return `Globus Auth needs you${code}; fix: ${logout}${loginCommand(scopes)} && globus-timer job resume ${job.job_id}`;
  }
  const note = typeof reason.detail === 'string' && reason.detail ? `: ${reason.detail}` : '';
  return `${reason.cause}${note}; resume with: globus-timer job resume ${job.job_id}`;
}

/** Columns as wide as their widest cell, cells joined with " | ", dashes joined with "-|-". */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

export function jobTable(jobs: JobDocument[]): string {
  return formatTable(
    ['Name', 'Job ID', 'Status', 'Last Result'],
    jobs.map((j) => [j.name, j.job_id, j.status, lastRunResult(j)]),
  );
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
