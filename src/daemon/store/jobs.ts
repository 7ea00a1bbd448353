import { and, asc, eq, isNotNull, isNull, lte, sql } from 'drizzle-orm';
import type { Db } from './open.ts';
import { preparedFor } from './prepared.ts';
import { jobs, type JobRow, type NewJobRow } from './schema.ts';
import { deleteArchivedRunsOfJob } from './run-history.ts';
import type { InactiveReason, JobStatus } from '../../core/vocabulary.ts';

/** All SQL about jobs lives here. Every function is synchronous (better-sqlite3). */

/**
 * Insert a job. An interval job's next_slot_at_ms is derived from its grid when not given
 * (start + index * interval); a calendar job's must be given (null: it never occurs).
 */
export function insertJob(db: Db, row: NewJobRow): JobRow {
  const nextSlotAtMs = row.nextSlotAtMs !== undefined || row.cron ? (row.nextSlotAtMs ?? null) : row.startAtMs + row.nextSlotIndex * row.intervalSeconds * 1000;
  return db
    .insert(jobs)
    .values({ ...row, nextSlotAtMs })
    .returning()
    .get();
}

const getJobStatement = preparedFor((db) =>
  db
    .select()
    .from(jobs)
    .where(eq(jobs.id, sql.placeholder('id')))
    .prepare(),
);

export function getJob(db: Db, jobId: string): JobRow | undefined {
  return getJobStatement(db).get({ id: jobId });
}

export interface JobPageKey {
  submittedAtMs: number;
  id: string;
}

/**
 * Jobs in submission order after a key (keyset paging: fast at any depth), prepared: a list
 * of 10,000 jobs reads 200 chunks, and building the query each time cost more than running it.
 * The key is a row value, not `a > x OR (a = x AND b > y)`: SQLite seeks the jobs_submitted
 * index with it, where the OR form scans the index from its start for every chunk.
 */
const listJobsStatements = preparedFor((db) => {
  const notDeleted = sql`(${sql.placeholder('showDeleted')} OR ${jobs.status} <> 'deleted')`;
  const inOrder = (where: ReturnType<typeof sql>) =>
    db.select().from(jobs).where(where).orderBy(asc(jobs.submittedAtMs), asc(jobs.id)).limit(sql.placeholder('limit')).prepare();
  return {
    first: inOrder(notDeleted),
    after: inOrder(and(notDeleted, sql`(${jobs.submittedAtMs}, ${jobs.id}) > (${sql.placeholder('submittedAtMs')}, ${sql.placeholder('id')})`) ?? notDeleted),
  };
});

/**
 * Jobs in submission order after `after`, `chunkRows` at a time: a caller that stops early
 * (a job.list page full of large bodies) has not loaded the rest, and one that needs more
 * per job (their newest runs) reads that for a whole chunk at once.
 */
export function* iterateJobChunks(
  db: Db,
  { after, showDeleted, chunkRows }: { after: JobPageKey | null; showDeleted: boolean; chunkRows: number },
): Generator<JobRow[]> {
  const statements = listJobsStatements(db);
  const base = { showDeleted: showDeleted ? 1 : 0, limit: chunkRows };
  for (let key = after; ; ) {
    const rows = key ? statements.after.all({ ...base, ...key }) : statements.first.all(base);
    if (rows.length > 0) yield rows;
    const last = rows.at(-1);
    if (!last || rows.length < chunkRows) return;
    key = { submittedAtMs: last.submittedAtMs, id: last.id };
  }
}

/** A job as a search by id names it. */
export type JobIdMatch = Pick<JobRow, 'id' | 'name' | 'status'>;

/**
 * Jobs whose id starts with `prefix` (only hex digits and hyphens: core/job-id.ts, so no
 * GLOB wildcard), the first `limit` in id order, and how many match in all. GLOB on the
 * primary key is an index range, never a scan.
 */
const idPrefixStatements = preparedFor((db) => ({
  first: db.$client.prepare('SELECT id, name, status FROM jobs WHERE id GLOB ? ORDER BY id LIMIT ?'),
  count: db.$client.prepare('SELECT count(*) FROM jobs WHERE id GLOB ?').pluck(),
}));

export function jobsWithIdPrefix(db: Db, prefix: string, limit: number): { jobs: JobIdMatch[]; total: number } {
  const { first, count } = idPrefixStatements(db);
  const pattern = `${prefix}*`;
  return { jobs: first.all(pattern, limit) as JobIdMatch[], total: count.get(pattern) as number };
}

/** Remove a job for good (`job purge`); its runs go with it (runs.job_id cascades; the archived ones by run-history.ts). */
export function deleteJobForGood(db: Db, jobId: string): void {
  db.delete(jobs).where(eq(jobs.id, jobId)).run();
  deleteArchivedRunsOfJob(db, jobId);
}

/** Loaded jobs whose next slot is due at `nowMs`, earliest first (index range on next_run_at_ms). */
const dueJobsStatement = preparedFor((db) =>
  db
    .select()
    .from(jobs)
    .where(and(isNotNull(jobs.nextRunAtMs), lte(jobs.nextRunAtMs, sql.placeholder('nowMs'))))
    .orderBy(asc(jobs.nextRunAtMs))
    .limit(sql.placeholder('limit'))
    .prepare(),
);

export function dueJobs(db: Db, nowMs: number, limit: number): JobRow[] {
  return dueJobsStatement(db).all({ nowMs, limit });
}

/** The earliest next run of any job, or null when nothing is scheduled. */
const earliestStatement = preparedFor((db) =>
  db.$client.prepare('SELECT next_run_at_ms FROM jobs WHERE next_run_at_ms IS NOT NULL ORDER BY next_run_at_ms LIMIT 1').pluck(),
);

/** Read every time the scheduler arms its timer: a plain statement (see runs.ts). */
export function earliestNextRunAtMs(db: Db): number | null {
  return (earliestStatement(db).get() as number | undefined) ?? null;
}

export interface ScheduleUpdate {
  status: JobStatus;
  nextSlotIndex: number;
  /** Due time of slot nextSlotIndex, kept in step with it (null: no further slot). */
  nextSlotAtMs: number | null;
  nextRunAtMs: number | null;
  runCount: number;
  lastRanAtMs: number | null;
  missedSlots: number;
  overlapSkippedSlots: number;
}

/** On the claim path for every due job: a plain statement (see runs.ts, runWriteStatements). */
const updateScheduleStatement = preparedFor((db) =>
  db.$client.prepare(
    `UPDATE jobs SET status = @status, next_slot_index = @nextSlotIndex, next_slot_at_ms = @nextSlotAtMs, next_run_at_ms = @nextRunAtMs,
       run_count = @runCount, last_ran_at_ms = @lastRanAtMs, missed_slots = @missedSlots,
       overlap_skipped_slots = @overlapSkippedSlots, updated_at_ms = @updatedAtMs
     WHERE id = @id`,
  ),
);

export function updateSchedule(db: Db, jobId: string, update: ScheduleUpdate, nowMs: number): void {
  updateScheduleStatement(db).run({ ...update, updatedAtMs: nowMs, id: jobId });
}

/** What `job update` may change in one write (daemon/jobs/update.ts). */
export type JobDefinitionUpdate = Pick<
  NewJobRow,
  | 'name'
  | 'startAtMs'
  | 'intervalSeconds'
  | 'cron'
  | 'timezone'
  | 'stopAfterDateMs'
  | 'stopAfterRuns'
  | 'callbackBody'
  | 'overlap'
  | 'misfire'
  | 'status'
  | 'nextSlotIndex'
  | 'nextSlotAtMs'
  | 'nextRunAtMs'
  | 'onFailure'
>;

export function updateJobDefinition(db: Db, jobId: string, update: JobDefinitionUpdate, nowMs: number): JobRow {
  return db
    .update(jobs)
    .set({ ...update, updatedAtMs: nowMs })
    .where(eq(jobs.id, jobId))
    .returning()
    .get()!;
}

/** Soft delete: the job never runs again; it and its runs stay readable. */
export function markDeleted(db: Db, jobId: string, nowMs: number): void {
  db.update(jobs).set({ status: 'deleted', nextRunAtMs: null, updatedAtMs: nowMs }).where(eq(jobs.id, jobId)).run();
}

/** Stop a loaded job until a user acts (auth failure, pause). Deleted and finished jobs stay as they are. */
export function markInactive(db: Db, jobId: string, reason: InactiveReason, nowMs: number): void {
  db.update(jobs)
    .set({ status: 'inactive', inactiveReason: reason, nextRunAtMs: null, updatedAtMs: nowMs })
    .where(and(eq(jobs.id, jobId), eq(jobs.status, 'loaded')))
    .run();
}

/** Schedule an inactive job again from `nextRunAtMs` (null: it turned out finished). Returns whether it was inactive. */
export function markResumed(db: Db, jobId: string, nextRunAtMs: number | null, nowMs: number): boolean {
  const result = db
    .update(jobs)
    .set({ status: nextRunAtMs === null ? 'finished' : 'loaded', inactiveReason: null, nextRunAtMs, updatedAtMs: nowMs })
    .where(and(eq(jobs.id, jobId), eq(jobs.status, 'inactive')))
    .run();
  return result.changes === 1;
}

const incrementErrorCountStatement = preparedFor((db) => db.$client.prepare('UPDATE jobs SET error_count = error_count + 1 WHERE id = ?'));

/** On every failed run (see runs.ts for why a plain statement). */
export function incrementErrorCount(db: Db, jobId: string): void {
  incrementErrorCountStatement(db).run(jobId);
}

export function countJobsByStatus(db: Db): Record<JobStatus, number> {
  const counts: Record<JobStatus, number> = { loaded: 0, inactive: 0, finished: 0, deleted: 0 };
  const rows = db.select({ status: jobs.status, n: sql<number>`count(*)` }).from(jobs).groupBy(jobs.status).all();
  for (const row of rows) counts[row.status] = row.n;
  return counts;
}

/** Count a run fired by `job run`: in n_runs, and in manual_run_count so that stop_after.n_runs leaves it out. */
export function countManualRun(db: Db, jobId: string, firedAtMs: number): void {
  db.update(jobs)
    .set({
      runCount: sql`${jobs.runCount} + 1`,
      manualRunCount: sql`${jobs.manualRunCount} + 1`,
      lastRanAtMs: firedAtMs,
      updatedAtMs: firedAtMs,
    })
    .where(eq(jobs.id, jobId))
    .run();
}

/**
 * Calendar jobs submitted before zones were stored at submit (issue 12 item 10) have none
 * (timezone null) and followed the daemon's zone at every decision, so a daemon restarted
 * under another TZ moved them. At every start the daemon gives each such job the zone it
 * runs in now, the one those jobs have been following, so from then on they keep it. Code
 * rather than a migration: SQL cannot know the zone. Nothing stores a null zone any more
 * (schedule.ts calendarZone), so after the first start this finds nothing, and finds it by
 * an index probe (jobs_calendar_without_zone), never a scan of every job. Returns how many.
 */
export function adoptZoneForCalendarJobsWithoutOne(db: Db, zone: string): number {
  return db
    .update(jobs)
    .set({ timezone: zone })
    .where(and(isNotNull(jobs.cron), isNull(jobs.timezone)))
    .run().changes;
}

const jobsWithMoreRunsStatement = preparedFor((db) => db.$client.prepare('SELECT id FROM jobs WHERE id > ? AND run_count > ? ORDER BY id LIMIT ?').pluck());

/**
 * A page of the ids of jobs that have fired more than `runs` runs, after `afterId` in id
 * order: those that may have runs to compact (daemon/compaction.ts's sweep at start). The
 * primary key in order, the count read from each row: a page costs `limit` rows or so.
 */
export function jobsWithMoreRunsThan(db: Db, runs: number, afterId: string, limit: number): string[] {
  return jobsWithMoreRunsStatement(db).all(afterId, runs, limit) as string[];
}
