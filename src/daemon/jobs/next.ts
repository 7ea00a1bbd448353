/**
 * `job next` (RPC job.next): a job's next slots as the daemon will fire them. The slots
 * come from the pure `upcomingSlots` (core/slots.ts), which steps the daemon's own
 * `decide()`; this file adds the job's status and the words.
 */

import type { JobRow } from '../store/schema.ts';
import type { NextSlotsResult } from '../../contract/protocol.ts';
import { formatIsoInZone } from '../../core/calendar.ts';
import { upcomingSlots } from '../../core/slots.ts';
import { formatIso, formatIsoOrNull } from '../../core/time.ts';

export const DEFAULT_NEXT_COUNT = 5;

/** How a slot of this job is written: a calendar job's in its zone (where DST shows), others in UTC as everywhere else. */
function formatSlot(job: Pick<JobRow, 'cron' | 'timezone'>, atMs: number): string {
  return job.cron === null ? formatIso(atMs) : formatIsoInZone(atMs, job.timezone);
}

export function nextSlots(job: JobRow, nowMs: number, count: number, misfireGraceMs: number): NextSlotsResult {
  switch (job.status) {
    case 'deleted':
      return { slots: [], note: 'the job is deleted: it never runs again' };
    case 'finished':
      return { slots: [], note: 'the job is finished: it never runs again (lift its end condition with job update to schedule it again)' };
    case 'inactive': {
      const cause = job.inactiveReason?.cause;
      const why = cause === 'user' || cause === undefined ? 'paused' : `inactive (${cause})`;
      return { slots: [], note: `the job is ${why}: nothing runs until globus-timer job resume ${job.id}` };
    }
    case 'loaded':
      break;
  }
  const { slotsAtMs, end } = upcomingSlots(job, nowMs, count, misfireGraceMs);
  const slots = slotsAtMs.map((atMs) => formatSlot(job, atMs));
  const more = slots.length === 0 ? 'no further runs' : `no runs after ${slots.length === 1 ? 'this one' : 'these'}`;
  let note: string | null = null;
  if (end === 'n_runs') note = `${more}: stop_after.n_runs is ${job.stopAfterRuns}`;
  else if (end === 'date') note = `${more}: stop_after.date is ${formatIsoOrNull(job.stopAfterDateMs)}`;
  else if (end === 'no_occurrence') note = `${more}: the cron expression has no further occurrence`;
  return { slots, note };
}
