import { and, asc, desc, eq, gte, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from './open.ts';
import { preparedFor } from './prepared.ts';
import { runs, type RunRow } from './schema.ts';
import type { RunError } from '../../core/vocabulary.ts';

/** All SQL about runs lives here. Every function is synchronous (better-sqlite3). */

export type NewRun = Pick<RunRow, 'jobId' | 'slotAtMs' | 'requestId' | 'firedAtMs' | 'retryUntilMs'>;

/**
 * Insert a pending run. The unique (job, slot) key makes a second insert for the same slot
 * a no-op: it returns undefined, and the caller must not fire.
 */
const insertRunStatement = preparedFor((db) =>
  db.$client
    .prepare(
      `INSERT INTO runs (job_id, slot_at_ms, request_id, fired_at_ms, retry_until_ms, state, attempts)
     VALUES (@jobId, @slotAtMs, @requestId, @firedAtMs, @retryUntilMs, 'pending', 0)
     ON CONFLICT DO NOTHING RETURNING id`,
    )
    .pluck(),
);

/** On the claim path for every fire: a plain statement, the row built here (see runWriteStatements). */
export function insertRun(db: Db, run: NewRun): RunRow | undefined {
  const id = insertRunStatement(db).get(run) as number | undefined;
  if (id === undefined) return undefined;
  return {
    ...run,
    id,
    manual: false,
    state: 'pending',
    attempts: 0,
    httpStatus: null,
    actionId: null,
    actionStatus: null,
    actionDocument: null,
    error: null,
    completedAtMs: null,
  };
}

const getRunStatement = preparedFor((db) =>
  db
    .select()
    .from(runs)
    .where(eq(runs.id, sql.placeholder('id')))
    .prepare(),
);

export function getRun(db: Db, runId: number): RunRow | undefined {
  return getRunStatement(db).get({ id: runId });
}

/**
 * The runner's writes, one per step of every run: plain better-sqlite3 statements, not
 * drizzle ones. Even prepared, drizzle's per-call parameter and result mapping was the
 * daemon's largest cost at 1,000 fires/s (27 % of CPU); these touch no mapping at all.
 * JSON columns are stored as drizzle stores them (JSON.stringify text).
 */
const runWriteStatements = preparedFor((db) => ({
  attempt: db.$client.prepare('UPDATE runs SET attempts = ?, fired_at_ms = ? WHERE id = ?'),
  error: db.$client.prepare('UPDATE runs SET error = ? WHERE id = ?'),
  status: db.$client.prepare(
    `UPDATE runs SET state = @state, http_status = coalesce(@httpStatus, http_status), action_id = @actionId,
       action_status = @actionStatus, action_document = @actionDocument, error = NULL, completed_at_ms = @completedAtMs
     WHERE id = @id`,
  ),
  fail: db.$client.prepare(
    'UPDATE runs SET state = @state, error = @error, completed_at_ms = @completedAtMs, http_status = coalesce(@httpStatus, http_status) WHERE id = @id',
  ),
}));

/** Count a submission attempt and record when the run fired. */
export function recordAttempt(db: Db, runId: number, attempts: number, firedAtMs: number): void {
  runWriteStatements(db).attempt.run(attempts, firedAtMs, runId);
}

/** A transient failure the run will retry after. */
export function recordRunError(db: Db, runId: number, error: RunError): void {
  runWriteStatements(db).error.run(JSON.stringify(error), runId);
}

export interface ActionStatusUpdate {
  state: 'active' | 'succeeded' | 'failed';
  /** The submission's HTTP status; null keeps the one recorded (a status poll). */
  httpStatus: number | null;
  actionId: string | null;
  actionStatus: string;
  actionDocument: Record<string, unknown> | null;
  /** Set when the action ended. */
  completedAtMs: number | null;
}

/** The provider's latest word on the action; clears any earlier transient error. */
export function recordActionStatus(db: Db, runId: number, u: ActionStatusUpdate): void {
  runWriteStatements(db).status.run({
    id: runId,
    state: u.state,
    httpStatus: u.httpStatus,
    actionId: u.actionId,
    actionStatus: u.actionStatus,
    actionDocument: u.actionDocument === null ? null : JSON.stringify(u.actionDocument),
    completedAtMs: u.completedAtMs,
  });
}

/** The run ended without a terminal status from the provider. `httpStatus` null keeps the submission's. */
export function recordRunFailure(db: Db, runId: number, error: RunError, completedAtMs: number, httpStatus: number | null): void {
  runWriteStatements(db).fail.run({ id: runId, state: 'failed', error: JSON.stringify(error), completedAtMs, httpStatus });
}

export type RunUpdate = Partial<Pick<RunRow, 'state' | 'attempts' | 'httpStatus' | 'actionId' | 'actionStatus' | 'actionDocument' | 'error' | 'completedAtMs'>>;

export function updateRun(db: Db, runId: number, update: RunUpdate): void {
  db.update(runs).set(update).where(eq(runs.id, runId)).run();
}

/** Whether the job has a run whose action has not ended (the overlap rule). Uses runs_open. */
const openRunStatement = preparedFor((db) => db.$client.prepare('SELECT 1 FROM runs WHERE job_id = ? AND completed_at_ms IS NULL LIMIT 1').pluck());

export function hasOpenRun(db: Db, jobId: string): boolean {
  return openRunStatement(db).get(jobId) !== undefined;
}

/**
 * Whether an overlap-allow job already has `cap` runs open (config maxRunsInFlightPerJob):
 * its next slot is then skipped, and `job run` refuses without --force. On the claim path for
 * every due overlap-allow job, so it reads at most `cap` entries of the runs_open index.
 */
const openRunsUpToStatement = preparedFor((db) =>
  db.$client.prepare('SELECT count(*) FROM (SELECT 1 FROM runs WHERE job_id = ? AND completed_at_ms IS NULL LIMIT ?)').pluck(),
);

export function atRunsInFlightCap(db: Db, jobId: string, cap: number): boolean {
  // A cap below 1 would stop the job for good: it counts as 1.
  const limit = Math.max(1, Math.floor(cap));
  return (openRunsUpToStatement(db).get(jobId, limit) as number) >= limit;
}

/** A job's unfinished runs, oldest first (runs_open): what `job delete` closes. */
export function openRunsOfJob(db: Db, jobId: string): RunRow[] {
  return db
    .select()
    .from(runs)
    .where(and(eq(runs.jobId, jobId), isNull(runs.completedAtMs)))
    .orderBy(asc(runs.id))
    .all();
}

/** Runs not yet finished, oldest first: what the runner resumes after a restart. */
export function openRuns(db: Db): RunRow[] {
  return db.select().from(runs).where(isNull(runs.completedAtMs)).orderBy(asc(runs.id)).all();
}

/** How many runs of a job `runs` holds (runs_job_id; store/run-history.ts adds the archived ones). */
export function liveRunCount(db: Db, jobId: string): number {
  return db.select({ n: sql<number>`count(*)` }).from(runs).where(eq(runs.jobId, jobId)).get()?.n ?? 0;
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

/** A job's newest runs in `runs`, newest first (prepared, called per job; store/run-history.ts newestRuns adds archived ones). */
export function liveNewestRuns(db: Db, jobId: string, limit: number): RunRow[] {
  return newestRunsStatement(db).all({ jobId, limit });
}

/** Each job's newest run (runs_job_id, one probe per job), in one statement for a chunk of a list. */
const newestRunOfEachStatement = preparedFor((db) =>
  db
    .select()
    .from(runs)
    .where(
      sql`${runs.id} IN (SELECT (SELECT r.id FROM runs AS r WHERE r.job_id = j.value ORDER BY r.id DESC LIMIT 1) FROM json_each(${sql.placeholder('jobIds')}) AS j)`,
    )
    .prepare(),
);

/** The newest run of each of `jobIds` that has one, by job id. */
export function newestRunOfEach(db: Db, jobIds: readonly string[]): Map<string, RunRow> {
  const rows = newestRunOfEachStatement(db).all({ jobIds: JSON.stringify(jobIds) });
  return new Map(rows.map((run) => [run.jobId, run]));
}

/**
 * Delete up to `batchSize` finished runs completed before `completedBeforeMs` from `runs`
 * (index runs_completed; store/run-history.ts pruneOldRuns does the archive too). Returns how
 * many rows were deleted.
 */
export function pruneOldLiveRuns(db: Db, completedBeforeMs: number, batchSize: number): number {
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

const lastGridSlotStatement = preparedFor((db) => db.$client.prepare('SELECT max(slot_at_ms) FROM runs WHERE job_id = ? AND manual = 0').pluck());

/** Due time of the latest grid slot of the job's runs in `runs` (store/run-history.ts lastFiredSlotAtMs reads both tables). */
export function liveLastGridSlot(db: Db, jobId: string): number | null {
  return (lastGridSlotStatement(db).get(jobId) as number | null | undefined) ?? null;
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

/**
 * A run fired by `job run`, outside the grid (SPEC §2 rule 8): `manual` = 1, so the unique
 * (job, slot) key, which covers grid runs only, does not apply; its request_id is random
 * and stored, so a re-send after a crash reuses it.
 */
export function insertManualRun(db: Db, run: NewRun): RunRow {
  return db
    .insert(runs)
    .values({ ...run, manual: true, state: 'pending', attempts: 0 })
    .returning()
    .get();
}

export interface HistoryQuery {
  /** Keyset paging: only runs with a smaller id (older); null for the newest page. */
  beforeId: number | null;
  /** Only runs fired at or after this instant. */
  sinceMs: number | null;
  state: RunRow['state'] | null;
  limit: number;
}

/** One page of a job's runs in `runs`, newest first (index runs_job_id, read backwards from beforeId). */
export function liveHistoryPage(db: Db, jobId: string, q: HistoryQuery): RunRow[] {
  const conditions = [eq(runs.jobId, jobId)];
  if (q.beforeId !== null) conditions.push(lt(runs.id, q.beforeId));
  if (q.sinceMs !== null) conditions.push(gte(runs.firedAtMs, q.sinceMs));
  if (q.state !== null) conditions.push(eq(runs.state, q.state));
  return db
    .select()
    .from(runs)
    .where(and(...conditions))
    .orderBy(desc(runs.id))
    .limit(q.limit)
    .all();
}

/**
 * Undo the claim of runs never sent (attempts 0), taken back by `job pause`/`job delete`
 * before their slot: the rows go, and their slots count as missed instead of run, so
 * run_count + missed + overlap-skipped still equals the slots decided. One transaction.
 */
const unclaimRunStatement = preparedFor((db) =>
  db.$client.prepare('DELETE FROM runs WHERE id = ? AND job_id = ? AND attempts = 0 AND completed_at_ms IS NULL'),
);
const recountUnclaimedStatement = preparedFor((db) =>
  db.$client.prepare('UPDATE jobs SET run_count = run_count - @removed, missed_slots = missed_slots + @removed WHERE id = @jobId'),
);

export function unclaimRuns(db: Db, jobId: string, runIds: number[]): number {
  if (runIds.length === 0) return 0;
  return db.transaction(() => {
    let removed = 0;
    for (const id of runIds) removed += unclaimRunStatement(db).run(id, jobId).changes;
    if (removed > 0) recountUnclaimedStatement(db).run({ removed, jobId });
    return removed;
  });
}

/** A run as the dashboard's timeline reads it: no action document (up to 1 MiB), only whether it has one. */
export interface TimelineRunRow
  extends Pick<RunRow, 'id' | 'jobId' | 'slotAtMs' | 'firedAtMs' | 'completedAtMs' | 'state' | 'manual' | 'attempts' | 'actionStatus' | 'error'> {
  hasDocument: boolean;
  /** A compacted run's summary, kept when its document went (store/run-history.ts). */
  compactedSummary?: string;
}

const runsInWindowStatement = preparedFor((db) =>
  db
    .select({
      id: runs.id,
      jobId: runs.jobId,
      slotAtMs: runs.slotAtMs,
      firedAtMs: runs.firedAtMs,
      completedAtMs: runs.completedAtMs,
      state: runs.state,
      manual: runs.manual,
      attempts: runs.attempts,
      actionStatus: runs.actionStatus,
      error: runs.error,
      // SQLite reads the type from the record header: the document itself (overflow pages) is not loaded.
      hasDocument: sql<number>`${runs.actionDocument} IS NOT NULL`,
    })
    .from(runs)
    .where(and(gte(runs.slotAtMs, sql.placeholder('since')), lt(runs.slotAtMs, sql.placeholder('until'))))
    .orderBy(desc(runs.slotAtMs), desc(runs.id))
    .limit(sql.placeholder('limit'))
    .prepare(),
);

/**
 * The runs in `runs` of every job whose slot is in [sinceMs, untilMs), newest slot first, at
 * most `limit` (store/run-history.ts runsInWindow adds the archived ones): the dashboard's
 * timeline, read on the API thread's own connection, through the runs_slot index. Without
 * their action documents: runActionDocumentText reads one.
 */
export function liveRunsInWindow(db: Db, sinceMs: number, untilMs: number, limit: number): TimelineRunRow[] {
  return runsInWindowStatement(db)
    .all({ since: sinceMs, until: untilMs, limit })
    .map((r) => ({ ...r, hasDocument: Boolean(r.hasDocument) }));
}

const actionDocumentStatement = preparedFor((db) => db.$client.prepare('SELECT action_document FROM runs WHERE id = ?').pluck());

/** A run's action status document as stored (JSON text), or null: read one at a time, so its reader can count the bytes. */
export function runActionDocumentText(db: Db, runId: number): string | null {
  return (actionDocumentStatement(db).get(runId) as string | null | undefined) ?? null;
}
