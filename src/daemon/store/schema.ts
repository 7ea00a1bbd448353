import { sql } from 'drizzle-orm';
import { blob, index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type { OnFailure } from '../../core/on-failure.ts';
import { JOB_STATUSES, MISFIRE_POLICIES, OVERLAP_POLICIES, RUN_STATES, type InactiveReason, type RunError } from '../../core/vocabulary.ts';

/**
 * Times are epoch milliseconds (`…AtMs`); the job document turns them into ISO-8601. The
 * words stored (statuses, policies, run states, reasons, error codes) are core/vocabulary.ts's.
 */

export const jobs = sqliteTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    /** The anchor S of the grid: slot k is due at startAtMs + k * intervalSeconds * 1000. */
    startAtMs: integer('start_at_ms').notNull(),
    /** Seconds between slots of an interval job; 0 for a calendar (cron) job. */
    intervalSeconds: integer('interval_seconds').notNull(),
    /**
     * A calendar job's cron expression (SPEC §2 rule 10): its slots are the occurrences at
     * or after startAtMs, computed with croner. Null for an interval job.
     */
    cron: text('cron'),
    /**
     * IANA zone the cron expression is read in, stored at submit (core/schedule.ts
     * calendarZone). Null: a job from before zones were stored, following the daemon's
     * zone until the daemon's next start gives it that zone (daemon/store/jobs.ts adoptZoneForCalendarJobsWithoutOne).
     */
    timezone: text('timezone'),
    stopAfterDateMs: integer('stop_after_date_ms'),
    stopAfterRuns: integer('stop_after_runs'),
    scope: text('scope'),
    callbackUrl: text('callback_url').notNull(),
    callbackBody: text('callback_body', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    overlap: text('overlap', { enum: OVERLAP_POLICIES }).notNull().default('skip'),
    misfire: text('misfire', { enum: MISFIRE_POLICIES }).notNull().default('coalesce'),
    status: text('status', { enum: JOB_STATUSES }).notNull(),
    inactiveReason: text('inactive_reason', { mode: 'json' }).$type<InactiveReason>(),
    submittedAtMs: integer('submitted_at_ms').notNull(),
    /**
     * Index k of the next slot the scheduler will consider (for a calendar job, a count of
     * occurrences). Grows as slots pass; `job update` re-anchoring may set it back on the new
     * grid, never to a slot time already fired (the unique (job, slot) key holds regardless).
     */
    nextSlotIndex: integer('next_slot_index').notNull(),
    /**
     * Due time of slot nextSlotIndex, kept whatever the status (a paused calendar job must
     * know where it stopped); null when the schedule has no further slot.
     */
    nextSlotAtMs: integer('next_slot_at_ms'),
    /** Due time of slot nextSlotIndex while the job is loaded; null otherwise. */
    nextRunAtMs: integer('next_run_at_ms'),
    lastRanAtMs: integer('last_ran_at_ms'),
    /** Fired runs (skipped slots excluded), kept exact when old runs are pruned. */
    runCount: integer('run_count').notNull().default(0),
    /**
     * Of runCount, the runs fired by `job run` outside the grid. stop_after.n_runs counts
     * only the others: a run now leaves the grid unchanged (SPEC §2 rule 8).
     */
    manualRunCount: integer('manual_run_count').notNull().default(0),
    errorCount: integer('error_count').notNull().default(0),
    /** Slots passed over because the daemon was down or the clock jumped (coalesced). */
    missedSlots: integer('missed_slots').notNull().default(0),
    /** Slots skipped because the previous run was still in progress. */
    overlapSkippedSlots: integer('overlap_skipped_slots').notNull().default(0),
    updatedAtMs: integer('updated_at_ms').notNull(),
    /** The job's own failure hook (issue 16 item 5); null: the daemon-wide default, if any (daemon/notify). */
    onFailure: text('on_failure', { mode: 'json' }).$type<OnFailure>(),
    /**
     * A failure streak of this job has been told: further failures are not, the next success
     * tells its recovery. Stored, so that a daemon restarted mid-streak does not tell it again.
     */
    failureNotified: integer('failure_notified', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [
    // The scheduler's "what is due next" lookup: an index range, never a scan.
    index('jobs_next_run_at').on(t.nextRunAtMs),
    // Stable paging order for job.list with a million jobs.
    index('jobs_submitted').on(t.submittedAtMs, t.id),
    // Calendar jobs stored without a zone (before issue 12 item 10), adopted at every start
    // (daemon/store/jobs.ts adoptZoneForCalendarJobsWithoutOne): empty once they are, so that start-up step is an
    // index probe, not a scan of every job.
    index('jobs_calendar_without_zone').on(t.id).where(sql`cron IS NOT NULL AND timezone IS NULL`),
    // The jobs with a failure hook, read at every start (daemon/notify): an index probe, not a scan.
    index('jobs_with_on_failure').on(t.id).where(sql`on_failure IS NOT NULL`),
  ],
);

export const runs = sqliteTable(
  'runs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    /** Due time of the grid slot this run belongs to; for a manual run, when it was asked for. */
    slotAtMs: integer('slot_at_ms').notNull(),
    /** Fired by `job run`, outside the grid (its request_id is random, not derived). */
    manual: integer('manual', { mode: 'boolean' }).notNull().default(false),
    /** Derived from (job, slot): a re-send after a crash or a retry reuses it. */
    requestId: text('request_id').notNull(),
    state: text('state', { enum: RUN_STATES }).notNull(),
    firedAtMs: integer('fired_at_ms').notNull(),
    /** Transient failures are retried until this instant, then the run fails. */
    retryUntilMs: integer('retry_until_ms').notNull(),
    attempts: integer('attempts').notNull().default(0),
    httpStatus: integer('http_status'),
    actionId: text('action_id'),
    actionStatus: text('action_status'),
    actionDocument: text('action_document', { mode: 'json' }).$type<Record<string, unknown>>(),
    error: text('error', { mode: 'json' }).$type<RunError>(),
    completedAtMs: integer('completed_at_ms'),
  },
  (t) => [
    // SPEC §2 rule 2: at most one run per (job, slot), ever. Enforced here, not only in code.
    // Manual runs are outside the grid, so they are not slots and not in this key.
    uniqueIndex('runs_job_slot').on(t.jobId, t.slotAtMs).where(sql`manual = 0`),
    uniqueIndex('runs_request_id').on(t.requestId),
    // Newest runs of a job (job document, history, retention).
    index('runs_job_id').on(t.jobId, t.id),
    // Unfinished runs: overlap checks and recovery after a restart.
    index('runs_open').on(t.jobId).where(sql`completed_at_ms IS NULL`),
    index('runs_completed').on(t.completedAtMs),
    // Every job's runs in a time window, newest first: the dashboard's timeline.
    index('runs_slot').on(t.slotAtMs),
  ],
);

/**
 * Runs past a job's newest few, compacted (issue 17, daemon/compaction.ts): what `job history`
 * prints and nothing else — no provider document, no retry deadline. About 170 bytes a run
 * against 4 KB and more with the document, because every byte that can be derived or packed
 * is: the job's and the action's UUIDs as 16-byte blobs (store/run-archive.ts jobKey; any id
 * that is not a canonical UUID stays text, which the BLOB columns keep as it is), a grid run's
 * request_id not at all (derived from job and slot, actions/request-id.ts), times as deltas,
 * state/manual/attempts in one integer. Keyed by the run's own id, so the rows are appended
 * in order (full pages) and history pages through both tables by id alike. No foreign key:
 * `job purge` deletes a job's archived runs itself (store/jobs.ts deleteJobForGood).
 */
export const runArchive = sqliteTable(
  'run_archive',
  {
    /** The run's id in `runs`, kept: ids order a job's runs across both tables. */
    id: integer('id').primaryKey(),
    jobKey: blob('job_key').notNull(),
    slotAtMs: integer('slot_at_ms').notNull(),
    /** fired_at_ms − slot_at_ms. */
    firedDeltaMs: integer('fired_delta_ms').notNull(),
    /** completed_at_ms − fired_at_ms. */
    completedDeltaMs: integer('completed_delta_ms').notNull(),
    /** The index of the state in RUN_STATES | manual << 2 | attempts << 3 (run-archive.ts packFlags). */
    flags: integer('flags').notNull(),
    httpStatus: integer('http_status'),
    /** Null for a grid run whose request_id is the derived one; else the stored one (blob if a UUID). */
    requestKey: blob('request_key'),
    actionKey: blob('action_key'),
    actionStatus: text('action_status'),
    /** The history line's summary when the document gave it; null when the run's error gives it again. */
    summary: text('summary'),
    /** The run's error without the provider's error document: code, message, http status (JSON). */
    error: text('error'),
  },
  (t) => [
    // A job's runs, newest first: history, the job document, per-job retention.
    index('run_archive_job').on(t.jobKey, t.id),
    // Every job's runs in a time window: the dashboard's timeline and retention by age.
    index('run_archive_slot').on(t.slotAtMs),
  ],
);

export type JobRow = typeof jobs.$inferSelect;
export type NewJobRow = typeof jobs.$inferInsert;
export type RunRow = typeof runs.$inferSelect;
