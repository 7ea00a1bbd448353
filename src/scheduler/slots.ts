/**
 * Slot arithmetic: pure functions, no clock, no I/O (SPEC §2).
 *
 * Slot k of a job is due at `startAtMs + k * intervalSeconds * 1000`. Lateness never moves
 * the grid; the scheduler only ever moves `nextSlotIndex` forward, which together with the
 * unique (job, slot) key is what makes "never twice" and "never early" hold.
 */

import type { MisfirePolicy, OverlapPolicy } from '../db/schema.ts';

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
  /** 1 when the due slot was skipped because the previous run is still in progress. */
  overlapSkippedSlots: number;
  nextSlotIndex: number;
  /** null when the job is finished. */
  nextRunAtMs: number | null;
  finished: boolean;
}

/**
 * Decide a due job (SPEC §2 rules 1, 4, 5, 6). Returns null when nothing is due yet: a
 * wall clock that jumped backwards lands here, so nothing fires early or twice.
 */
export function decide(
  job: ScheduleState,
  nowMs: number,
  { hasOpenRun, misfireGraceMs }: { hasOpenRun: boolean; misfireGraceMs: number },
): Decision | null {
  let candidate = latestSlotIndexAt(job, nowMs);
  if (candidate < job.nextSlotIndex) return null;
  // Slots after stop_after.date never fire, even if the daemon was down across that date.
  if (job.stopAfterDateMs !== null) {
    const lastAllowed = latestSlotIndexAt(job, job.stopAfterDateMs);
    if (lastAllowed < job.nextSlotIndex) {
      return { fire: null, missedSlots: 0, overlapSkippedSlots: 0, nextSlotIndex: job.nextSlotIndex, nextRunAtMs: null, finished: true };
    }
    candidate = Math.min(candidate, lastAllowed);
  }

  let missedSlots = candidate - job.nextSlotIndex;
  let overlapSkippedSlots = 0;
  let fire: Decision['fire'] = null;
  const candidateAtMs = slotAtMs(job, candidate);
  if (job.misfire === 'skip' && nowMs - candidateAtMs > misfireGraceMs) {
    missedSlots += 1;
  } else if (job.overlap === 'skip' && hasOpenRun) {
    overlapSkippedSlots = 1;
  } else {
    fire = { slotIndex: candidate, slotAtMs: candidateAtMs };
  }

  const runCount = job.runCount + (fire ? 1 : 0);
  const nextSlotIndex = candidate + 1;
  const finished =
    (job.stopAfterRuns !== null && runCount >= job.stopAfterRuns) ||
    (job.stopAfterDateMs !== null && slotAtMs(job, nextSlotIndex) > job.stopAfterDateMs);
  return {
    fire,
    missedSlots,
    overlapSkippedSlots,
    nextSlotIndex,
    nextRunAtMs: finished ? null : slotAtMs(job, nextSlotIndex),
    finished,
  };
}

/**
 * Where a job's schedule starts (or stands, after a change): its next slot, or finished
 * when an end condition already rules out every further slot.
 */
export function nextRunOf(job: ScheduleState): { nextRunAtMs: number | null; finished: boolean } {
  const atMs = slotAtMs(job, job.nextSlotIndex);
  const finished =
    (job.stopAfterRuns !== null && job.runCount >= job.stopAfterRuns) ||
    (job.stopAfterDateMs !== null && atMs > job.stopAfterDateMs);
  return { nextRunAtMs: finished ? null : atMs, finished };
}
