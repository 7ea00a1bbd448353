import { requestIdFor } from '../../actions/request-id.ts';
import { summarizeRun } from '../../core/run-summary.ts';
import { RUN_STATES, type RunError, type RunState } from '../../core/vocabulary.ts';
import type { Db } from './open.ts';
import { preparedFor } from './prepared.ts';
import {
  type HistoryQuery,
  liveHistoryPage,
  liveLastGridSlot,
  liveNewestRuns,
  liveRunCount,
  liveRunsInWindow,
  pruneOldLiveRuns,
  type TimelineRunRow,
} from './runs.ts';
import { runs, type RunRow } from './schema.ts';
import { and, asc, eq, isNotNull, lt, sql } from 'drizzle-orm';

/**
 * A job's runs as one history, wherever each is kept (issue 17): `runs` holds the open runs,
 * each job's newest `keepFull` runs and its newest failure, with the provider's whole status
 * document; `run_archive` holds the older ones compacted to what `job history` prints
 * (schema.ts runArchive). Runs move there by `compactJobRuns` (daemon/compaction.ts calls it
 * off the firing path); every reader of finished runs — history, the job document, the
 * timeline, retention, purge — comes through here and reads both, merged by run id.
 */

/** A run as history reads it: an archived one has no document, and its summary was kept. */
export type HistoryRun = RunRow & { compactedSummary?: string };

// ---------------------------------------------------------------------------------------
// Packing

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A canonical (lower-case, hyphenated) UUID as its 16 bytes; any other id as the text it is (lossless either way). */
function packId(id: string): Buffer | string {
  return UUID.test(id) ? Buffer.from(id.replaceAll('-', ''), 'hex') : id;
}

function unpackId(key: Buffer | string): string {
  if (typeof key === 'string') return key;
  const h = key.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const STATE_MASK = 0b11;
const MANUAL_BIT = 0b100;
const ATTEMPTS_SHIFT = 3;

function packFlags(run: Pick<RunRow, 'state' | 'manual' | 'attempts'>): number {
  return RUN_STATES.indexOf(run.state) | (run.manual ? MANUAL_BIT : 0) | (run.attempts << ATTEMPTS_SHIFT);
}

/** The error as history shows it: without the provider's error document (up to 1 MiB), which only the newest runs keep. */
function compactError(error: RunError | null): RunError | null {
  if (!error) return null;
  const { code, message, httpStatus } = error;
  return httpStatus === undefined ? { code, message } : { code, message, httpStatus };
}

/** A row of run_archive as stored (torture/lib/verify.ts reads them too, through fromArchiveRow). */
export interface ArchiveRow {
  id: number;
  job_key: Buffer | string;
  slot_at_ms: number;
  fired_delta_ms: number;
  completed_delta_ms: number;
  flags: number;
  http_status: number | null;
  request_key: Buffer | string | null;
  action_key: Buffer | string | null;
  action_status: string | null;
  summary: string | null;
  error: string | null;
}

function toArchiveRow(run: RunRow): ArchiveRow {
  const error = compactError(run.error);
  // Kept only when the document gave it: a failed run's summary is its error's, said again on reading.
  const summary = summarizeRun(run);
  const derivable = summary === summarizeRun({ ...run, actionDocument: null, error });
  return {
    id: run.id,
    job_key: packId(run.jobId),
    slot_at_ms: run.slotAtMs,
    fired_delta_ms: run.firedAtMs - run.slotAtMs,
    completed_delta_ms: run.completedAtMs! - run.firedAtMs,
    flags: packFlags(run),
    http_status: run.httpStatus,
    request_key: !run.manual && run.requestId === requestIdFor(run.jobId, run.slotAtMs) ? null : packId(run.requestId),
    action_key: run.actionId === null ? null : packId(run.actionId),
    action_status: run.actionStatus,
    summary: derivable ? null : summary,
    error: error ? JSON.stringify(error) : null,
  };
}

export function fromArchiveRow(row: ArchiveRow): HistoryRun {
  const jobId = unpackId(row.job_key);
  const manual = (row.flags & MANUAL_BIT) !== 0;
  const state = RUN_STATES[row.flags & STATE_MASK] as RunState;
  const attempts = row.flags >>> ATTEMPTS_SHIFT;
  const firedAtMs = row.slot_at_ms + row.fired_delta_ms;
  const error = row.error === null ? null : (JSON.parse(row.error) as RunError);
  const run: RunRow = {
    id: row.id,
    jobId,
    slotAtMs: row.slot_at_ms,
    manual,
    requestId: row.request_key === null ? requestIdFor(jobId, row.slot_at_ms) : unpackId(row.request_key),
    state,
    firedAtMs,
    // Not kept: only an open run retries, and an archived run has ended.
    retryUntilMs: firedAtMs,
    attempts,
    httpStatus: row.http_status,
    actionId: row.action_key === null ? null : unpackId(row.action_key),
    actionStatus: row.action_status,
    actionDocument: null,
    error,
    completedAtMs: firedAtMs + row.completed_delta_ms,
  };
  return { ...run, compactedSummary: row.summary ?? summarizeRun(run) };
}

// ---------------------------------------------------------------------------------------
// Compaction

const compactStatements = preparedFor((db) => ({
  boundary: db.$client.prepare('SELECT id FROM runs WHERE job_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?').pluck(),
  // Runs move oldest first, so a job's newest failure is always in runs: a failed run may go if a newer one is there.
  newerFailure: db.$client.prepare("SELECT 1 FROM runs WHERE job_id = ? AND id > ? AND state = 'failed' LIMIT 1").pluck(),
  candidates: db
    .select()
    .from(runs)
    .where(
      and(
        eq(runs.jobId, sql.placeholder('jobId')),
        lt(runs.id, sql.placeholder('boundaryId')),
        isNotNull(runs.completedAtMs),
        lt(runs.completedAtMs, sql.placeholder('endedBeforeMs')),
      ),
    )
    .orderBy(asc(runs.id))
    .limit(sql.placeholder('limit'))
    .prepare(),
  insert: db.$client.prepare(
    `INSERT OR REPLACE INTO run_archive (id, job_key, slot_at_ms, fired_delta_ms, completed_delta_ms, flags, http_status, request_key, action_key, action_status, summary, error)
     VALUES (@id, @job_key, @slot_at_ms, @fired_delta_ms, @completed_delta_ms, @flags, @http_status, @request_key, @action_key, @action_status, @summary, @error)`,
  ),
  remove: db.$client.prepare('DELETE FROM runs WHERE id = ?'),
}));

/**
 * Move up to `limit` of a job's finished runs that are not among its newest `keepFull` (nor
 * its newest failure) to run_archive, oldest first, in one transaction. Only runs that ended
 * before `endedBeforeMs`: one that just ended may still be read back whole (the event hub
 * reads a run after its commit). Open runs are never touched. Returns how many moved, and
 * whether there may be more (`limit` runs were looked at).
 */
export function compactJobRuns(db: Db, jobId: string, keepFull: number, endedBeforeMs: number, limit: number): { moved: number; more: boolean } {
  const s = compactStatements(db);
  return db.transaction(() => {
    const boundaryId = s.boundary.get(jobId, Math.max(0, keepFull - 1)) as number | undefined;
    if (boundaryId === undefined) return { moved: 0, more: false };
    const candidates = s.candidates.all({ jobId, boundaryId, endedBeforeMs, limit });
    let moved = 0;
    for (const run of candidates) {
      if (run.state === 'failed' && s.newerFailure.get(jobId, run.id) === undefined) continue;
      s.insert.run(toArchiveRow(run));
      s.remove.run(run.id);
      moved++;
    }
    return { moved, more: candidates.length === limit };
  });
}

// ---------------------------------------------------------------------------------------
// Reading both

/** The ids below which and above which an archived page is read (run ids are positive and safe integers). */
const NO_ID_ABOVE = Number.MAX_SAFE_INTEGER;
const NO_ID_BELOW = 0;

const archivedPageStatement = preparedFor((db) =>
  db.$client.prepare(
    `SELECT * FROM run_archive
     WHERE job_key = @jobKey AND id > @afterId AND id < @beforeId
       AND (@sinceMs IS NULL OR slot_at_ms + fired_delta_ms >= @sinceMs)
       AND (@state IS NULL OR flags & ${STATE_MASK} = @state)
     ORDER BY id DESC LIMIT @limit`,
  ),
);

function archivedPage(db: Db, jobId: string, q: HistoryQuery, afterId: number | null): HistoryRun[] {
  const rows = archivedPageStatement(db).all({
    jobKey: packId(jobId),
    afterId: afterId ?? NO_ID_BELOW,
    beforeId: q.beforeId ?? NO_ID_ABOVE,
    sinceMs: q.sinceMs,
    state: q.state === null ? null : RUN_STATES.indexOf(q.state),
    limit: q.limit,
  }) as ArchiveRow[];
  return rows.map(fromArchiveRow);
}

/** The first `limit` of two lists, each ordered by `before`, in that order. */
function mergeOrdered<T>(a: T[], b: T[], limit: number, before: (x: T, y: T) => boolean): T[] {
  const out: T[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < a.length || j < b.length)) {
    if (j >= b.length || (i < a.length && before(a[i]!, b[j]!))) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

const newerId = (x: { id: number }, y: { id: number }) => x.id > y.id;

/**
 * Archived runs that may belong on a page of `live` runs: all of them (by the query) when the
 * live page is short, else only those newer than its oldest run — none, unless a job keeps
 * fewer full runs than a page holds or its kept failure is old. One index probe either way.
 */
function withArchived(db: Db, jobId: string, q: HistoryQuery, live: HistoryRun[]): HistoryRun[] {
  const afterId = live.length >= q.limit ? live[live.length - 1]!.id : null;
  return mergeOrdered(live, archivedPage(db, jobId, q, afterId), q.limit, newerId);
}

/** One page of a job's runs, newest first, from both tables (keyset paging on the run id: any depth costs the same). */
export function historyPage(db: Db, jobId: string, q: HistoryQuery): HistoryRun[] {
  return withArchived(db, jobId, q, liveHistoryPage(db, jobId, q));
}

/** A job's newest runs, newest first (the job document's results). */
export function newestRuns(db: Db, jobId: string, limit: number): HistoryRun[] {
  return withArchived(db, jobId, { beforeId: null, sinceMs: null, state: null, limit }, liveNewestRuns(db, jobId, limit));
}

const archivedInWindowStatement = preparedFor((db) =>
  db.$client.prepare('SELECT * FROM run_archive WHERE slot_at_ms >= ? AND slot_at_ms < ? ORDER BY slot_at_ms DESC, id DESC LIMIT ?'),
);

/**
 * The runs of every job whose slot is in [sinceMs, untilMs), newest slot first, at most
 * `limit`, from both tables (indexes runs_slot and run_archive_slot): the dashboard's
 * timeline. Archived runs have no document.
 */
export function runsInWindow(db: Db, sinceMs: number, untilMs: number, limit: number): TimelineRunRow[] {
  const archived = (archivedInWindowStatement(db).all(sinceMs, untilMs, limit) as ArchiveRow[]).map((row): TimelineRunRow => {
    const run = fromArchiveRow(row);
    return { ...pickTimeline(run), hasDocument: false, compactedSummary: run.compactedSummary! };
  });
  const laterSlot = (x: TimelineRunRow, y: TimelineRunRow) => x.slotAtMs > y.slotAtMs || (x.slotAtMs === y.slotAtMs && x.id > y.id);
  return mergeOrdered(liveRunsInWindow(db, sinceMs, untilMs, limit), archived, limit, laterSlot);
}

function pickTimeline(r: RunRow): Omit<TimelineRunRow, 'hasDocument'> {
  const { id, jobId, slotAtMs, firedAtMs, completedAtMs, state, manual, attempts, actionStatus, error } = r;
  return { id, jobId, slotAtMs, firedAtMs, completedAtMs, state, manual, attempts, actionStatus, error };
}

// ---------------------------------------------------------------------------------------
// Counting and removing

const archiveStatements = preparedFor((db) => ({
  count: db.$client.prepare('SELECT count(*) FROM run_archive WHERE job_key = ?').pluck(),
  deleteJob: db.$client.prepare('DELETE FROM run_archive WHERE job_key = ?'),
  lastGridSlot: db.$client.prepare(`SELECT max(slot_at_ms) FROM run_archive WHERE job_key = ? AND flags & ${MANUAL_BIT} = 0`).pluck(),
  pruneEndedBefore: db.$client.prepare(
    `DELETE FROM run_archive WHERE id IN (
       SELECT id FROM run_archive WHERE slot_at_ms < @beforeMs AND slot_at_ms + fired_delta_ms + completed_delta_ms < @beforeMs
       ORDER BY slot_at_ms LIMIT @limit)`,
  ),
  // The `keep`-th newest run of a job across both tables: a merge of two index scans, no sort.
  boundary: db.$client
    .prepare(
      `SELECT id FROM (SELECT id FROM runs WHERE job_id = @jobId UNION ALL SELECT id FROM run_archive WHERE job_key = @jobKey)
     ORDER BY id DESC LIMIT 1 OFFSET @offset`,
    )
    .pluck(),
  pruneLive: db.$client.prepare(
    `DELETE FROM runs WHERE id IN (
       SELECT id FROM runs WHERE job_id = @jobId AND id < @boundaryId AND completed_at_ms IS NOT NULL ORDER BY id LIMIT @limit)`,
  ),
  pruneArchived: db.$client.prepare(
    'DELETE FROM run_archive WHERE id IN (SELECT id FROM run_archive WHERE job_key = @jobKey AND id < @boundaryId ORDER BY id LIMIT @limit)',
  ),
}));

/** How many runs a job has, kept whole or archived: what `job purge` removes with it. */
export function countRunsOfJob(db: Db, jobId: string): number {
  return liveRunCount(db, jobId) + (archiveStatements(db).count.get(packId(jobId)) as number);
}

/** A job's archived runs go with it (`job purge`; its live runs go by the foreign key's cascade). */
export function deleteArchivedRunsOfJob(db: Db, jobId: string): void {
  archiveStatements(db).deleteJob.run(packId(jobId));
}

/** Due time of the latest grid slot a run of the job was fired for (manual runs excluded), in either table; or null. */
export function lastFiredSlotAtMs(db: Db, jobId: string): number | null {
  const live = liveLastGridSlot(db, jobId);
  const archived = archiveStatements(db).lastGridSlot.get(packId(jobId)) as number | null;
  return live === null ? archived : archived === null ? live : Math.max(live, archived);
}

/**
 * Delete up to `limit` finished runs that ended before `endedBeforeMs` (retention by age),
 * from runs first, then from the archive (by its slot index: a run ends after its slot).
 * Small batches keep each write short, so pruning never holds up a fire. Returns how many.
 */
export function pruneOldRuns(db: Db, endedBeforeMs: number, limit: number): number {
  const live = pruneOldLiveRuns(db, endedBeforeMs, limit);
  if (live >= limit) return live;
  return live + archiveStatements(db).pruneEndedBefore.run({ beforeMs: endedBeforeMs, limit: limit - live }).changes;
}

/** How many runs one per-job prune deletes at most: it runs inside the runner's write batch. */
const PRUNE_JOB_RUNS_BATCH = 500;

/**
 * Keep only the newest `keep` runs of a job across both tables (unfinished ones are never
 * deleted), oldest first and at most `limit` per call: a job far over the limit (the limit
 * lowered, a restore) is trimmed over several calls instead of in one long delete that would
 * hold up fires.
 */
export function pruneJobRuns(db: Db, jobId: string, keep: number, limit = PRUNE_JOB_RUNS_BATCH): number {
  const s = archiveStatements(db);
  const jobKey = packId(jobId);
  const boundaryId = s.boundary.get({ jobId, jobKey, offset: Math.max(0, keep - 1) }) as number | undefined;
  if (boundaryId === undefined) return 0;
  const archived = s.pruneArchived.run({ jobKey, boundaryId, limit }).changes;
  return archived + s.pruneLive.run({ jobId, boundaryId, limit: limit - archived }).changes;
}
