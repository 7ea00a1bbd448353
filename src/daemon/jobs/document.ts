import type { JobRow, RunRow } from '../store/schema.ts';
import type { ActivityCode, JobDocument, RunResult } from '../../contract/protocol.ts';
import { formatIso, formatIsoOrNull } from '../../core/time.ts';

/** How many runs `results.data` carries, newest first (as the hosted service). */
export const RESULTS_IN_DOCUMENT = 10;

/** One run as the job document shows it. */
export function toRunResult(run: RunRow): RunResult {
  return {
    ran_at: formatIso(run.firedAtMs),
    status: run.httpStatus,
    data: run.actionDocument,
    errors: run.error,
    slot: formatIso(run.slotAtMs),
    run_state: run.state,
    action_id: run.actionId,
    action_status: run.actionStatus,
    request_id: run.requestId,
    attempts: run.attempts,
    completed_at: formatIsoOrNull(run.completedAtMs),
  };
}

function activityOf(job: JobRow, newest: RunRow | undefined): JobDocument['activity'] {
  let code: ActivityCode;
  let since: number | null;
  if (job.status === 'deleted' || job.status === 'finished') {
    code = job.status;
    since = job.updatedAtMs;
  } else if (newest && newest.completedAtMs === null) {
    code = newest.state === 'pending' && newest.attempts > 1 ? 'retrying' : 'run_in_progress';
    since = newest.firedAtMs;
  } else if (job.status === 'inactive') {
    code = 'paused';
    since = job.updatedAtMs;
  } else {
    code = 'awaiting_next_run';
    since = newest?.completedAtMs ?? job.submittedAtMs;
  }
  return { code, start_timestamp: formatIsoOrNull(since) };
}

/**
 * The v1 Timers job document (reference `V1_TIMER`) plus our additions. Built only from
 * the job row and its newest runs: no secret is stored there, so none can leak here.
 */
export function toJobDocument(job: JobRow, newestRuns: RunRow[]): JobDocument {
  const stopAfter =
    job.stopAfterDateMs === null && job.stopAfterRuns === null ? null : { date: formatIsoOrNull(job.stopAfterDateMs), n_runs: job.stopAfterRuns };
  return {
    job_id: job.id,
    name: job.name,
    start: formatIso(job.startAtMs),
    interval: job.cron === null ? job.intervalSeconds : null,
    cron: job.cron,
    timezone: job.timezone,
    stop_after: stopAfter,
    scope: job.scope,
    callback_url: job.callbackUrl,
    callback_body: job.callbackBody,
    status: job.status,
    inactive_reason: job.inactiveReason ?? null,
    submitted_at: formatIso(job.submittedAtMs),
    last_ran_at: formatIsoOrNull(job.lastRanAtMs),
    next_run: formatIsoOrNull(job.nextRunAtMs),
    n_runs: job.runCount,
    n_errors: job.errorCount,
    results: { data: newestRuns.map(toRunResult), page_next: null },
    activity: activityOf(job, newestRuns[0]),
    policy: { overlap: job.overlap, misfire: job.misfire },
    skipped_slots: { missed: job.missedSlots, overlap: job.overlapSkippedSlots },
    // Only when set: a job without one keeps the document it always had.
    ...(job.onFailure ? { on_failure: job.onFailure } : {}),
  };
}
