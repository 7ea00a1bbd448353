/**
 * `job update` (RPC job.update): change a job from its next slot on.
 *
 * - Only what is given changes; every value is checked before anything is written, and
 *   the read, the checks that need the job, and the write are one transaction: a bad
 *   value changes nothing.
 * - A run in flight is untouched: the runner holds the job as it was when the run fired.
 * - Changing interval, cron, timezone or start re-anchors the schedule: the next slot is
 *   the new schedule's first strictly after now (and after the last slot fired, so no slot
 *   can fire twice), never before the start. Slots of the old schedule are not caught up.
 *   Given only an interval, the anchor stays the job's start (the grid keeps its phase:
 *   an hourly job started at :15 changed to every 30 minutes runs at :15 and :45).
 *   Switching between interval and cron is allowed; a calendar job keeps its zone when
 *   only its expression changes, and an interval job turned calendar (or given timezone
 *   null) gets the client's zone, else the daemon's (schedule.ts calendarZone), stored.
 * - A stop date must leave a slot (input.ts checkStopAfterDate): a new one after now and
 *   after the start, a new start before the stop date the job has.
 * - A finished job whose end condition is lifted (or whose schedule changes so that a slot
 *   is left) becomes loaded again, re-anchored as above. An inactive (paused) job stays
 *   inactive; a changed schedule still moves its next slot. A deleted job cannot be updated.
 */

import { getJob, updateJobDefinition } from '../store/jobs.ts';
import { lastFiredSlotAtMs } from '../store/run-history.ts';
import type { Db } from '../store/open.ts';
import type { JobRow } from '../store/schema.ts';
import type { JobStatus } from '../../core/vocabulary.ts';
import { InvalidInputError, JobDeletedError, JobNotFoundError } from '../../core/errors.ts';
import type { UpdateJobParams } from '../../contract/protocol.ts';
import { checkCron, checkTimezone } from '../../core/calendar.ts';
import { nextRunOf, nextSlotAtMsOf, type ScheduleState } from '../../core/slots.ts';
import { checkActionBody, checkIntervalSeconds, checkName, checkStopAfterDate, checkStopAfterRuns, STOP_DATE } from '../../core/input.ts';
import { calendarZone, reanchoredPlacement, type ScheduleKind } from '../../core/schedule.ts';
import { parseDateTime } from '../../core/time.ts';
import { onFailureAfterUpdate } from '../../core/on-failure.ts';

/** The given values, checked; undefined: not given (keep), null: clear. */
interface CheckedUpdate {
  name?: string;
  intervalSeconds?: number;
  cron?: string;
  timezone?: string | null;
  startAtMs?: number;
  stopAfterDateMs?: number | null;
  stopAfterRuns?: number | null;
  callbackBody?: Record<string, unknown>;
  overlap?: JobRow['overlap'];
  misfire?: JobRow['misfire'];
  /** Checked here (its command), merged with the job's in the transaction. */
  onFailure?: UpdateJobParams['on_failure'];
}

/**
 * Every rule that needs no job: checked before the transaction. `defaultZone`: what a job
 * that becomes calendar gets when no zone is given (client_timezone, else the daemon's).
 */
function checkUpdate(params: UpdateJobParams, defaultZone: string | null): CheckedUpdate {
  const u: CheckedUpdate = {};
  if (params.name !== undefined) u.name = checkName(params.name);
  if (params.interval_seconds !== undefined && params.cron !== undefined) {
    throw new InvalidInputError('give either an interval (--interval) or a cron expression (--cron), not both');
  }
  if (params.interval_seconds !== undefined) u.intervalSeconds = checkIntervalSeconds(params.interval_seconds);
  if (params.timezone !== undefined) u.timezone = params.timezone === null ? defaultZone : checkTimezone(params.timezone);
  if (params.cron !== undefined) u.cron = checkCron(params.cron, u.timezone ?? defaultZone);
  if (params.start !== undefined) u.startAtMs = parseDateTime(params.start, 'start');
  if (params.stop_after === null) {
    u.stopAfterDateMs = null;
    u.stopAfterRuns = null;
  } else if (params.stop_after) {
    const { date, n_runs } = params.stop_after;
    if (date !== undefined) u.stopAfterDateMs = date === null ? null : parseDateTime(date, STOP_DATE);
    if (n_runs !== undefined) u.stopAfterRuns = n_runs === null ? null : checkStopAfterRuns(n_runs);
  }
  if (params.callback_body !== undefined) u.callbackBody = checkActionBody(params.callback_body);
  if (params.policy?.overlap !== undefined) u.overlap = params.policy.overlap;
  if (params.policy?.misfire !== undefined) u.misfire = params.policy.misfire;
  if (params.on_failure !== undefined) {
    // Checked now, on no job: a bad command changes nothing.
    onFailureAfterUpdate(null, params.on_failure);
    u.onFailure = params.on_failure;
  }
  if (Object.keys(u).length === 0) {
    throw new InvalidInputError(
      'nothing to update: give at least one of name, interval, cron, timezone, start, stop-after date or runs, action body, overlap, misfire, on_failure',
    );
  }
  return u;
}

/**
 * A new stop date must be after now and after the job's (new or kept) start; a new start
 * must be before the stop date the job keeps. A kept stop date is not held to now: a job
 * that finished by its date may still be renamed or given a new start.
 */
function checkStopDateOfUpdate(u: CheckedUpdate, job: JobRow, startAtMs: number, nowMs: number): void {
  if (u.stopAfterDateMs != null) checkStopAfterDate(STOP_DATE, u.stopAfterDateMs, { startAtMs, nowMs });
  else if (u.stopAfterDateMs === undefined && u.startAtMs !== undefined && job.stopAfterDateMs !== null) {
    checkStopAfterDate(STOP_DATE, job.stopAfterDateMs, { startAtMs, nowMs: null });
  }
}

export interface UpdateOutcome {
  job: JobRow;
  reanchored: boolean;
}

/** The job's schedule kind once the update applies: interval or cron, and the zone a calendar job is read in. */
function scheduleKindAfter(job: JobRow, u: CheckedUpdate, defaultZone: string | null): ScheduleKind {
  let kind: ScheduleKind = { intervalSeconds: job.intervalSeconds, cron: job.cron, timezone: job.timezone };
  if (u.intervalSeconds !== undefined) kind = { intervalSeconds: u.intervalSeconds, cron: null, timezone: null };
  if (u.cron !== undefined) kind = { intervalSeconds: 0, cron: u.cron, timezone: job.cron !== null ? job.timezone : defaultZone };
  if (u.timezone !== undefined) {
    if (kind.cron === null) throw new InvalidInputError('--timezone applies only to a calendar job: give --cron too');
    kind = { ...kind, timezone: u.timezone };
  }
  // The zone may come from the job: check that the expression still occurs there.
  if (kind.cron !== null && (u.cron !== undefined || u.timezone !== undefined)) checkCron(kind.cron, kind.timezone);
  return kind;
}

interface Placement {
  next: ScheduleState;
  status: JobStatus;
  nextRunAtMs: number | null;
  reanchored: boolean;
}

/**
 * Where the updated job stands: a loaded job is placed at its next slot (or finished); a
 * finished one whose schedule or end changed is loaded again if a slot is left; an inactive
 * job stays inactive (next_run_at_ms null), its next slot being what resume starts from.
 */
function placementAfter(
  status: JobStatus,
  next: ScheduleState,
  change: { scheduleChanged: boolean; endChanged: boolean; reanchor: (s: ScheduleState) => ScheduleState },
): Placement {
  if (status === 'loaded') {
    const r = nextRunOf(next);
    return { next, status: r.finished ? 'finished' : 'loaded', nextRunAtMs: r.nextRunAtMs, reanchored: change.scheduleChanged };
  }
  if (status === 'finished' && (change.scheduleChanged || change.endChanged)) {
    // Scheduled again only from a slot after now: the time it spent finished is not caught up.
    const again = change.scheduleChanged ? next : change.reanchor(next);
    const r = nextRunOf(again);
    if (!r.finished) return { next: again, status: 'loaded', nextRunAtMs: r.nextRunAtMs, reanchored: true };
  }
  return { next, status, nextRunAtMs: null, reanchored: change.scheduleChanged };
}

/** Apply a job.update in one transaction. The caller tells the scheduler afterwards. */
export function updateJob(db: Db, nowMs: number, params: UpdateJobParams): UpdateOutcome {
  const defaultZone = calendarZone({ client_timezone: params.client_timezone ?? null });
  const u = checkUpdate(params, defaultZone);
  return db.transaction(() => {
    const job = getJob(db, params.job_id);
    if (!job) throw new JobNotFoundError(params.job_id);
    // A runtime error like every command's on a deleted job (exit 1), not bad input (exit 2).
    if (job.status === 'deleted') throw new JobDeletedError(job.id);

    const kind = scheduleKindAfter(job, u, defaultZone);
    const scheduleChanged = u.intervalSeconds !== undefined || u.cron !== undefined || u.timezone !== undefined || u.startAtMs !== undefined;
    const endChanged = u.stopAfterDateMs !== undefined || u.stopAfterRuns !== undefined;
    const startAtMs = u.startAtMs ?? job.startAtMs;
    checkStopDateOfUpdate(u, job, startAtMs, nowMs);
    const state: ScheduleState = {
      startAtMs,
      ...kind,
      nextSlotIndex: job.nextSlotIndex,
      nextSlotAtMs: nextSlotAtMsOf(job),
      runCount: job.runCount,
      manualRunCount: job.manualRunCount,
      stopAfterRuns: u.stopAfterRuns !== undefined ? u.stopAfterRuns : job.stopAfterRuns,
      stopAfterDateMs: u.stopAfterDateMs !== undefined ? u.stopAfterDateMs : job.stopAfterDateMs,
      overlap: u.overlap ?? job.overlap,
      misfire: u.misfire ?? job.misfire,
    };
    // Strictly after now and after every slot already fired (a run claimed just ahead of
    // its slot included): the new schedule can never give a slot a second run.
    const afterMs = Math.max(nowMs, lastFiredSlotAtMs(db, job.id) ?? -Infinity);
    const reanchor = (s: ScheduleState): ScheduleState => ({ ...s, ...reanchoredPlacement(kind, startAtMs, afterMs, job.nextSlotIndex) });

    const { next, status, nextRunAtMs, reanchored } = placementAfter(job.status, scheduleChanged ? reanchor(state) : state, {
      scheduleChanged,
      endChanged,
      reanchor,
    });
    const row = updateJobDefinition(
      db,
      job.id,
      {
        name: u.name ?? job.name,
        startAtMs,
        intervalSeconds: kind.intervalSeconds,
        cron: kind.cron,
        timezone: kind.timezone,
        stopAfterDateMs: next.stopAfterDateMs,
        stopAfterRuns: next.stopAfterRuns,
        callbackBody: u.callbackBody ?? job.callbackBody,
        overlap: next.overlap,
        misfire: next.misfire,
        status,
        nextSlotIndex: next.nextSlotIndex,
        nextSlotAtMs: nextSlotAtMsOf(next),
        nextRunAtMs,
        onFailure: onFailureAfterUpdate(job.onFailure, u.onFailure),
      },
      nowMs,
    );
    return { job: row, reanchored };
  });
}
