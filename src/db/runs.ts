import { and, asc, desc, eq, inArray, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from './open.ts';
import { param, preparedFor } from './prepared.ts';
import { runs, type RunRow } from './schema.ts';

/** All SQL about runs lives here. Every function is synchronous (better-sqlite3). */

export type NewRun = Pick<RunRow, 'jobId' | 'slotAtMs' | 'requestId' | 'firedAtMs' | 'retryUntilMs'>;

/**
 * Insert a pending run. The unique (job, slot) key makes a second insert for the same slot
 * a no-op: it returns undefined, and the caller must not fire.
 */
const insertRunStatement = preparedFor((db) =>
  db
    .insert(runs)
    .values({
      jobId: sql.placeholder('jobId'),
      slotAtMs: sql.placeholder('slotAtMs'),
      requestId: sql.placeholder('requestId'),
      firedAtMs: sql.placeholder('firedAtMs'),
      retryUntilMs: sql.placeholder('retryUntilMs'),
      state: 'pending',
      attempts: 0,
    })
    .onConflictDoNothing()
    .returning()
    .prepare(),
);

export function insertRun(db: Db, run: NewRun): RunRow | undefined {
  return insertRunStatement(db).get(run);
}

const getRunStatement = preparedFor((db) =>
  db.select().from(runs).where(eq(runs.id, sql.placeholder('id'))).prepare(),
);

export function getRun(db: Db, runId: number): RunRow | undefined {
  return getRunStatement(db).get({ id: runId });
}

const recordAttemptStatement = preparedFor((db) =>
  db
    .update(runs)
    .set({ attempts: param('attempts'), firedAtMs: param('firedAtMs') })
    .where(eq(runs.id, sql.placeholder('id')))
    .prepare(),
);

/** Count a submission attempt and record when the run fired (on the firing path, so prepared). */
export function recordAttempt(db: Db, runId: number, attempts: number, firedAtMs: number): void {
  recordAttemptStatement(db).run({ id: runId, attempts, firedAtMs });
}

export type RunUpdate = Partial<
  Pick<RunRow, 'state' | 'attempts' | 'httpStatus' | 'actionId' | 'actionStatus' | 'actionDocument' | 'error' | 'completedAtMs'>
>;

export function updateRun(db: Db, runId: number, update: RunUpdate): void {
  db.update(runs).set(update).where(eq(runs.id, runId)).run();
}

/** Whether the job has a run whose action has not ended (the overlap rule). Uses runs_open. */
const openRunStatement = preparedFor((db) =>
  db
    .select({ id: runs.id })
    .from(runs)
    .where(and(eq(runs.jobId, sql.placeholder('jobId')), isNull(runs.completedAtMs)))
    .limit(1)
    .prepare(),
);

export function hasOpenRun(db: Db, jobId: string): boolean {
  return openRunStatement(db).get({ jobId }) !== undefined;
}

/** Runs not yet finished, oldest first: what the runner resumes after a restart. */
export function openRuns(db: Db): RunRow[] {
  return db.select().from(runs).where(isNull(runs.completedAtMs)).orderBy(asc(runs.id)).all();
}

export function countOpenRuns(db: Db): number {
  return db.select({ n: sql<number>`count(*)` }).from(runs).where(isNull(runs.completedAtMs)).get()?.n ?? 0;
}

const newestRunsStatement = preparedFor((db) =>
  db
    .select()
    .from(runs)
    .where(eq(runs.jobId, sql.placeholder('jobId')))
    .orderBy(desc(runs.id))
    .limit(sql.placeholder('limit'))
    .prepare(),
);

/** A job's newest runs, newest first (job documents and lists: prepared, called per job). */
export function newestRuns(db: Db, jobId: string, limit: number): RunRow[] {
  return newestRunsStatement(db).all({ jobId, limit });
}

/**
 * Delete up to `batchSize` finished runs completed before `completedBeforeMs` (index
 * runs_completed). Small batches keep each write transaction short, so pruning never holds
 * up a fire. Returns how many rows were deleted.
 */
export function pruneOldRuns(db: Db, completedBeforeMs: number, batchSize: number): number {
  const ids = db
    .select({ id: runs.id })
    .from(runs)
    .where(lt(runs.completedAtMs, completedBeforeMs))
    .limit(batchSize)
    .all()
    .map((r) => r.id);
  if (ids.length === 0) return 0;
  return db.delete(runs).where(inArray(runs.id, ids)).run().changes;
}

/** Keep only the newest `keep` runs of a job (unfinished ones are never deleted). Index runs_job_id. */
export function pruneJobRuns(db: Db, jobId: string, keep: number): number {
  const boundary = db
    .select({ id: runs.id })
    .from(runs)
    .where(eq(runs.jobId, jobId))
    .orderBy(desc(runs.id))
    .limit(1)
    .offset(keep - 1)
    .get();
  if (!boundary) return 0;
  return db
    .delete(runs)
    .where(and(eq(runs.jobId, jobId), lt(runs.id, boundary.id), isNotNull(runs.completedAtMs)))
    .run().changes;
}

/** fired_at − slot of the newest `limit` runs, in ms (index: the primary key, read backwards). */
export function recentLatenessMs(db: Db, limit: number): number[] {
  return db
    .select({ lateMs: sql<number>`${runs.firedAtMs} - ${runs.slotAtMs}` })
    .from(runs)
    .orderBy(desc(runs.id))
    .limit(limit)
    .all()
    .map((r) => r.lateMs);
}
