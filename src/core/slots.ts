/**
 * Slot arithmetic: pure functions, no clock, no I/O (SPEC §2).
 *
 * Slot k of an interval job is due at `startAtMs + k * intervalSeconds * 1000`. Lateness
 * never moves the grid; the scheduler only ever moves `nextSlotIndex` forward (only `job
 * update` re-anchoring sets it on a new grid, never to a slot already fired), which together
 * with the unique (job, slot) key is what makes "never twice" and "never early" hold.
 *
 * A calendar job (`cron` set, SPEC §2 rule 10) has the occurrences of its cron expression
 * as slots; slot `nextSlotIndex` is due at `nextSlotAtMs` (an index has no arithmetic
 * meaning there: it counts). The same `decide()` rules hold for both kinds: the kind only
 * changes how "the latest slot due by now" and "the slot after it" are found (see
 * calendar.ts); everything after that (misfire, overlap, end conditions) is `settle()`.
 */

import type { MisfirePolicy, OverlapPolicy } from './vocabulary.ts';
import { cronFor, latestOccurrence, occurrenceAfter } from './calendar.ts';

export interface Grid {
  startAtMs: number;
  intervalSeconds: number;
}

export function slotAtMs(grid: Grid, slotIndex: number): number {
  return grid.startAtMs + slotIndex * grid.intervalSeconds * 1000;
}

/** Index of the latest slot due at or before `atMs`; -1 when `atMs` is before the start. */
export function latestSlotIndexAt(grid: Grid, atMs: number): number {
  if (atMs < grid.startAtMs) return -1;
  return Math.floor((atMs - grid.startAtMs) / (grid.intervalSeconds * 1000));
}

/**
 * The first slot a newly submitted job considers. Slots before the submission are history,
 * not misses: a start in the past anchors the grid and the job waits for its next slot,
 * except that a slot at most `graceMs` old still fires (a start of "now" typed a moment
 * ago, or sent by a client whose clock is slightly ahead).
 */
export function initialSlotIndex(grid: Grid, nowMs: number, graceMs: number): number {
  const latest = latestSlotIndexAt(grid, nowMs);
  if (latest < 0) return 0;
  return nowMs - slotAtMs(grid, latest) <= graceMs ? latest : latest + 1;
}

export interface ScheduleState extends Grid {
  nextSlotIndex: number;
  runCount: number;
  /** Of runCount, runs fired by `job run` (absent: none). They do not count toward stop_after.n_runs. */
  manualRunCount?: number;
  /** A calendar job's cron expression; null or absent for an interval job. */
  cron?: string | null;
  /** The zone `cron` is read in; null: the daemon's local zone. */
  timezone?: string | null;
  /**
   * Due time of slot nextSlotIndex. Read only for calendar jobs (an interval job's is
   * `slotAtMs(job, nextSlotIndex)`); null when the cron expression has no further occurrence.
   */
  nextSlotAtMs?: number | null;
  stopAfterRuns: number | null;
  stopAfterDateMs: number | null;
  overlap: OverlapPolicy;
  misfire: MisfirePolicy;
}

/** What to do with a job at `nowMs`, and the job's schedule afterwards. */
export interface Decision {
  /** The slot to fire now, or null when this pass fires nothing. */
  fire: { slotIndex: number; slotAtMs: number } | null;
  /** Slots passed over because they were missed (coalesced or, with misfire=skip, stale). */
  missedSlots: number;
  /**
   * 1 when the due slot was skipped because the previous run is still in progress (overlap
   * skip), or the job already has its most runs in flight (overlap allow, `atRunsInFlightCap`).
   */
  overlapSkippedSlots: number;
  nextSlotIndex: number;
  /** Due time of slot nextSlotIndex whatever the status (jobs.next_slot_at_ms); null: no further slot. */
  nextSlotAtMs: number | null;
  /** null when the job is finished. */
  nextRunAtMs: number | null;
  finished: boolean;
}

/**
 * Decide a due job (SPEC §2 rules 1, 4, 5, 6). Returns null when nothing is due yet: a
 * wall clock that jumped backwards lands here, so nothing fires early or twice.
 *
 * `hasOpenRun`: the job has a run in progress (read only under overlap skip).
 * `atRunsInFlightCap`: an overlap-allow job has config maxRunsInFlightPerJob runs in
 * progress; its slot is skipped exactly as overlap skip would skip it (issue 11 item 4).
 */
export function decide(
  job: ScheduleState,
  nowMs: number,
  { hasOpenRun, atRunsInFlightCap = false, misfireGraceMs }: { hasOpenRun: boolean; atRunsInFlightCap?: boolean; misfireGraceMs: number },
): Decision | null {
  const overlapBlocked = (job.overlap === 'skip' && hasOpenRun) || (job.overlap === 'allow' && atRunsInFlightCap);
  if (job.cron) return decideCalendar(job, job.cron, nowMs, overlapBlocked, misfireGraceMs);
  let candidate = latestSlotIndexAt(job, nowMs);
  if (candidate < job.nextSlotIndex) return null;
  // Slots after stop_after.date never fire, even if the daemon was down across that date.
  if (job.stopAfterDateMs !== null) {
    const lastAllowed = latestSlotIndexAt(job, job.stopAfterDateMs);
    if (lastAllowed < job.nextSlotIndex) {
      const nextSlotAtMs = slotAtMs(job, job.nextSlotIndex);
      return { fire: null, missedSlots: 0, overlapSkippedSlots: 0, nextSlotIndex: job.nextSlotIndex, nextSlotAtMs, nextRunAtMs: null, finished: true };
    }
    candidate = Math.min(candidate, lastAllowed);
  }
  return settle(job, nowMs, overlapBlocked, misfireGraceMs, candidate, slotAtMs(job, candidate), candidate - job.nextSlotIndex, slotAtMs(job, candidate + 1));
}

/** decide() for a calendar job: the same rules, with croner finding the slots. */
function decideCalendar(job: ScheduleState, cronExpr: string, nowMs: number, overlapBlocked: boolean, misfireGraceMs: number): Decision | null {
  const firstAtMs = job.nextSlotAtMs ?? null;
  if (firstAtMs === null || nowMs < firstAtMs) return null;
  let limitMs = nowMs;
  if (job.stopAfterDateMs !== null) {
    if (firstAtMs > job.stopAfterDateMs) {
      return {
        fire: null,
        missedSlots: 0,
        overlapSkippedSlots: 0,
        nextSlotIndex: job.nextSlotIndex,
        nextSlotAtMs: firstAtMs,
        nextRunAtMs: null,
        finished: true,
      };
    }
    limitMs = Math.min(limitMs, job.stopAfterDateMs);
  }
  const cron = cronFor(cronExpr, job.timezone ?? null);
  const latest = latestOccurrence(cron, firstAtMs, limitMs);
  const afterAtMs = latest.after !== undefined ? latest.after : occurrenceAfter(cron, latest.atMs);
  return settle(job, nowMs, overlapBlocked, misfireGraceMs, job.nextSlotIndex + latest.passed, latest.atMs, latest.passed, afterAtMs);
}

/**
 * The rules once the candidate slot (the latest due, within stop_after.date) is known, for
 * both kinds of job: SPEC §2 rules 4 (coalesce, or skip a stale slot), 5 (overlap) and 6
 * (end conditions). `afterAtMs` is the slot after the candidate (null: there is none);
 * `overlapBlocked`: rule 5 (or the in-flight cap) keeps the candidate from firing.
 */
function settle(
  job: ScheduleState,
  nowMs: number,
  overlapBlocked: boolean,
  misfireGraceMs: number,
  candidate: number,
  candidateAtMs: number,
  missedBefore: number,
  afterAtMs: number | null,
): Decision {
  let missedSlots = missedBefore;
  let overlapSkippedSlots = 0;
  let fire: Decision['fire'] = null;
  if (job.misfire === 'skip' && nowMs - candidateAtMs > misfireGraceMs) {
    missedSlots += 1;
  } else if (overlapBlocked) {
    overlapSkippedSlots = 1;
  } else {
    fire = { slotIndex: candidate, slotAtMs: candidateAtMs };
  }

  const runCount = scheduledRuns(job) + (fire ? 1 : 0);
  const finished =
    (job.stopAfterRuns !== null && runCount >= job.stopAfterRuns) || afterAtMs === null || (job.stopAfterDateMs !== null && afterAtMs > job.stopAfterDateMs);
  return {
    fire,
    missedSlots,
    overlapSkippedSlots,
    nextSlotIndex: candidate + 1,
    nextSlotAtMs: afterAtMs,
    nextRunAtMs: finished ? null : afterAtMs,
    finished,
  };
}

/**
 * Where a job's schedule starts (or stands, after a change): its next slot, or finished
 * when an end condition already rules out every further slot.
 */
export function nextRunOf(job: ScheduleState): { nextRunAtMs: number | null; finished: boolean } {
  const atMs = nextSlotAtMsOf(job);
  const finished =
    (job.stopAfterRuns !== null && scheduledRuns(job) >= job.stopAfterRuns) || atMs === null || (job.stopAfterDateMs !== null && atMs > job.stopAfterDateMs);
  return { nextRunAtMs: finished ? null : atMs, finished };
}

/** Runs fired on the grid: stop_after.n_runs counts these only (a run now is outside the grid, SPEC §2 rule 8). */
function scheduledRuns(job: Pick<ScheduleState, 'runCount' | 'manualRunCount'>): number {
  return job.runCount - (job.manualRunCount ?? 0);
}

/** Due time of the job's next slot, whatever its status; null: the schedule has no further slot. */
export function nextSlotAtMsOf(job: ScheduleState): number | null {
  return job.cron ? (job.nextSlotAtMs ?? null) : slotAtMs(job, job.nextSlotIndex);
}

/** Why `upcomingSlots` listed fewer slots than asked for. */
export type ScheduleEnd = 'n_runs' | 'date' | 'no_occurrence';

/**
 * The next `count` slots of a loaded job as the daemon will fire them (`job next`): the
 * daemon's own `decide()` stepped from slot to slot, so end conditions (n_runs counts
 * scheduled runs only), stop_after.date, misfire and the calendar are honoured exactly as
 * when firing. A slot already due comes first (the catch-up run the daemon is about to
 * fire, or none with misfire=skip when stale). Overlap skips cannot be foreseen: every
 * listed slot is assumed to fire. `end` says why fewer than `count` are listed.
 */
export function upcomingSlots(job: ScheduleState, nowMs: number, count: number, misfireGraceMs: number): { slotsAtMs: number[]; end: ScheduleEnd | null } {
  const state: ScheduleState = { ...job };
  const slotsAtMs: number[] = [];
  for (let steps = 0; slotsAtMs.length < count && steps <= count + 1; steps++) {
    const { nextRunAtMs } = nextRunOf(state);
    if (nextRunAtMs === null) break;
    const d = decide(state, Math.max(nextRunAtMs, nowMs), { hasOpenRun: false, misfireGraceMs });
    if (!d) break;
    if (d.fire) slotsAtMs.push(d.fire.slotAtMs);
    state.nextSlotIndex = d.nextSlotIndex;
    state.nextSlotAtMs = d.nextSlotAtMs;
    state.runCount += d.fire ? 1 : 0;
    if (d.finished) break;
  }
  if (slotsAtMs.length >= count) return { slotsAtMs, end: null };
  const end: ScheduleEnd =
    state.stopAfterRuns !== null && scheduledRuns(state) >= state.stopAfterRuns ? 'n_runs' : nextSlotAtMsOf(state) === null ? 'no_occurrence' : 'date';
  return { slotsAtMs, end };
}

/**
 * How long a run's transient failures are retried (SPEC §3): half the gap to the job's next
 * slot, at most `maxMs` — the interval for an interval job; for a calendar job the time
 * from `fromMs` (the run's slot, or now for a run now) to `nextSlotAtMs`, or the whole
 * window when no slot lies ahead. One rule for scheduled runs (loop.ts) and runs now.
 */
export function retryWindowMs(job: { cron: string | null; intervalSeconds: number }, nextSlotAtMs: number | null, fromMs: number, maxMs: number): number {
  if (job.cron === null) return Math.min(maxMs, (job.intervalSeconds * 1000) / 2);
  if (nextSlotAtMs === null || nextSlotAtMs <= fromMs) return maxMs;
  return Math.min(maxMs, (nextSlotAtMs - fromMs) / 2);
}
