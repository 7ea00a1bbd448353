/**
 * A job's schedule as the RPC gives it (interval or calendar), checked and placed: its
 * anchor and first slot. Shared by job.submit and job.update; pure (the clock is a parameter).
 */

import { InvalidInputError } from './errors.ts';
import { checkCron, checkTimezone, cronFor, initialOccurrence, occurrenceAfter } from './calendar.ts';
import { initialSlotIndex, latestSlotIndexAt, slotAtMs } from './slots.ts';
import { checkIntervalSeconds } from './input.ts';
import { localTimezone } from './time.ts';

/** Either an interval grid (`cron` null) or a calendar (`intervalSeconds` 0), as stored in jobs. */
export interface ScheduleKind {
  intervalSeconds: number;
  cron: string | null;
  timezone: string | null;
}

type ZoneParams = { timezone?: string | null; client_timezone?: string | null };

/**
 * The zone a calendar job is stored with (issue 12 item 10): the one given, else the
 * client's (the CLI sends its user's zone: the one `0 2 * * *` was meant in, and the one an
 * offset-less `--start` is read in), else the daemon's own. Resolved here once and stored:
 * a daemon restarted under another TZ no longer moves the schedule. Null only when this
 * process has no IANA zone to store (the job then follows the daemon's zone, as jobs
 * submitted before this rule did until the daemon gave them one at start: daemon/store/jobs.ts adoptZoneForCalendarJobsWithoutOne).
 */
export function calendarZone(params: ZoneParams): string | null {
  if (params.timezone != null) return checkTimezone(params.timezone);
  if (params.client_timezone != null) return checkTimezone(params.client_timezone);
  return localTimezone();
}

/** The schedule kind of job.submit: exactly one of interval_seconds and cron; timezone only with cron. */
export function scheduleKindOf(params: { interval_seconds?: number | null; cron?: string | null } & ZoneParams): ScheduleKind {
  const hasInterval = params.interval_seconds !== undefined && params.interval_seconds !== null;
  const hasCron = params.cron !== undefined && params.cron !== null;
  if (hasInterval && hasCron) throw new InvalidInputError('give either interval_seconds (--interval) or cron (--cron), not both');
  if (!hasInterval && !hasCron) throw new InvalidInputError('give the schedule: interval_seconds (--interval) or cron (--cron)');
  if (hasInterval) {
    if (params.timezone != null) throw new InvalidInputError('timezone (--timezone) applies only to a calendar job (--cron)');
    return { intervalSeconds: checkIntervalSeconds(params.interval_seconds!), cron: null, timezone: null };
  }
  const timezone = calendarZone(params);
  return { intervalSeconds: 0, cron: checkCron(params.cron!, timezone), timezone };
}

export interface Placement {
  nextSlotIndex: number;
  /** Null: a calendar that never occurs at or after the start. */
  nextSlotAtMs: number | null;
}

/**
 * The first slot of a new job: a start in the past anchors the schedule and the job waits
 * for its next slot, except that one at most `graceMs` old still fires (slots.ts).
 */
export function initialPlacement(kind: ScheduleKind, startAtMs: number, nowMs: number, graceMs: number): Placement {
  if (kind.cron === null) {
    const grid = { startAtMs, intervalSeconds: kind.intervalSeconds };
    const nextSlotIndex = initialSlotIndex(grid, nowMs, graceMs);
    return { nextSlotIndex, nextSlotAtMs: slotAtMs(grid, nextSlotIndex) };
  }
  return { nextSlotIndex: 0, nextSlotAtMs: initialOccurrence(cronFor(kind.cron, kind.timezone), startAtMs, nowMs, graceMs) };
}

/**
 * Re-anchoring after a change of schedule (job update): the new schedule's first slot
 * strictly after `afterMs` (now, or the last slot already fired if that is later), and not
 * before the start. No catch-up for slots of the old schedule, nor of the new one before
 * `afterMs`. A calendar job's index keeps counting from `countFrom`.
 */
export function reanchoredPlacement(kind: ScheduleKind, startAtMs: number, afterMs: number, countFrom: number): Placement {
  if (kind.cron === null) {
    const grid = { startAtMs, intervalSeconds: kind.intervalSeconds };
    // The slot after the latest one due by afterMs (-1 before the start: slot 0).
    const nextSlotIndex = latestSlotIndexAt(grid, afterMs) + 1;
    return { nextSlotIndex, nextSlotAtMs: slotAtMs(grid, nextSlotIndex) };
  }
  return { nextSlotIndex: countFrom, nextSlotAtMs: occurrenceAfter(cronFor(kind.cron, kind.timezone), Math.max(afterMs, startAtMs - 1)) };
}
