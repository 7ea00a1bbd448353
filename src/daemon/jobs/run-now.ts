import { randomUUID } from 'node:crypto';
import type { ResolvedConfig } from '../../config/config.ts';
import { countManualRun, getJob } from '../store/jobs.ts';
import type { Db } from '../store/open.ts';
import { atRunsInFlightCap, hasOpenRun, insertManualRun } from '../store/runs.ts';
import type { JobRow, RunRow } from '../store/schema.ts';
import { JobDeletedError, JobNotFoundError, RunInProgressError, RunsInFlightCapError } from '../../core/errors.ts';
import type { Clock } from '../../core/clock.ts';
import { retryWindowMs } from '../../core/slots.ts';

export interface RunNowDeps {
  db: Db;
  clock: Clock;
  config: ResolvedConfig;
  /**
   * Hand the committed run to the runner (Runner.fire), which sends it at once and drives
   * it to its end like any run. Absent (tests of the service alone): the run stays pending
   * in the database, as after a crash, until a runner resumes it.
   */
  fireRun?: ((run: RunRow, job: JobRow) => void) | undefined;
  /** Commit the runner's queued bookkeeping first, so a run that ended a moment ago counts as ended. */
  flushRunWrites?: (() => void) | undefined;
}

/**
 * `job run` (SPEC §2 rule 8): one extra run now, outside the grid. The run row is
 * `manual`, its slot is the moment it was asked for, and its request_id is random and
 * stored (a re-send after a crash reuses it). n_runs counts it; stop_after.n_runs does not
 * (manual_run_count, see slots.ts scheduledRuns), and the grid is unchanged: next_slot_index,
 * next_slot_at_ms and next_run_at_ms are not touched.
 *
 * The overlap policy holds: with a run still open and overlap=skip, nothing fires unless
 * `force`; with overlap=allow, nothing fires at the cap of runs in flight
 * (maxRunsInFlightPerJob) unless `force`. A deleted job never runs again. A paused
 * (inactive) or finished job may be run: the user asked for this one run explicitly, and
 * it changes neither the pause nor the end.
 */
export function runNow(deps: RunNowDeps, jobId: string, force: boolean): { job: JobRow; run: RunRow } {
  const { db, clock, config } = deps;
  deps.flushRunWrites?.();
  const found = getJob(db, jobId);
  if (!found) throw new JobNotFoundError(jobId);
  if (found.status === 'deleted') throw new JobDeletedError(jobId);
  if (found.overlap === 'skip' && !force && hasOpenRun(db, found.id)) throw new RunInProgressError(jobId);
  if (found.overlap === 'allow' && !force && atRunsInFlightCap(db, found.id, config.maxRunsInFlightPerJob)) {
    throw new RunsInFlightCapError(jobId, Math.max(1, config.maxRunsInFlightPerJob));
  }
  const nowMs = clock.now();
  const { run, job } = db.transaction(() => {
    const inserted = insertManualRun(db, {
      jobId: found.id,
      slotAtMs: nowMs,
      requestId: randomUUID(),
      firedAtMs: nowMs,
      // As for its scheduled runs: half the gap to its next slot (from now), at most the window.
      retryUntilMs: nowMs + retryWindowMs(found, found.nextSlotAtMs, nowMs, config.retryWindowMaxMs),
    });
    countManualRun(db, found.id, nowMs);
    return { run: inserted, job: getJob(db, found.id)! };
  });
  deps.fireRun?.(run, job);
  return { run, job };
}
