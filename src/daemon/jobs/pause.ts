import { getJob, markInactive } from '../store/jobs.ts';
import type { Db } from '../store/open.ts';
import type { JobRow } from '../store/schema.ts';
import type { InactiveReason } from '../../core/vocabulary.ts';
import { InvalidInputError, JobDeletedError, JobNotFoundError } from '../../core/errors.ts';
import { hasUnsafeChars } from '../../util/printable.ts';

/**
 * Pause a loaded job (SPEC §2 rule 7): it becomes `inactive` with `inactive_reason
 * {cause: "user", detail: note}` and no next run. Its next slot (next_slot_index,
 * next_slot_at_ms) stays as it is, so that resume applies the misfire rule to the slots
 * missed meanwhile. A run in flight is not cancelled: it runs to its end and is recorded,
 * within the run lifetime (config runLifetimeDays; runner #poll); one claimed ahead of its
 * slot and not yet sent is taken back (JobService #unclaim).
 *
 * Any other job (already paused or inactive, finished) is left as it is and `paused` is
 * false: pausing twice is a no-op, not an error. A deleted job is an error (JOB_DELETED, exit
 * 1): no command can act on it any more, and a script must not read "nothing to do" as done.
 */
export function pauseJob(db: Db, jobId: string, note: string | null, nowMs: number): { job: JobRow; paused: boolean } {
  const job = getJob(db, jobId);
  if (!job) throw new JobNotFoundError(jobId);
  if (job.status === 'deleted') throw new JobDeletedError(jobId);
  if (job.status !== 'loaded') return { job, paused: false };
  const detail = note?.trim();
  // Shown later by `job status` and `job list` in a terminal: printable text only (util/printable.ts).
  if (detail && hasUnsafeChars(detail))
    throw new InvalidInputError('invalid --note: give printable text, without control characters or bidirectional overrides');
  const reason: InactiveReason = detail ? { cause: 'user', detail } : { cause: 'user' };
  // Read and write in one synchronous turn: nothing else touches the job in between.
  markInactive(db, job.id, reason, nowMs);
  return { job: getJob(db, jobId)!, paused: true };
}
