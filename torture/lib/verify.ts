/**
 * The guarantees every scenario checks, from the provider's records and the database
 * (opened read-only after the daemon has stopped):
 * - no slot submitted under two request_ids, no request_id used for two slots, and every
 *   request the provider saw belongs to a run the database knows;
 * - every decided slot is accounted for: scheduled runs + missed + overlap-skipped since the
 *   snapshot equals the slots the job's schedule has moved past since the snapshot;
 * - no run left open (pending/active) once the daemon has settled;
 * - `PRAGMA integrity_check` is ok; no job lost, and no job's definition changed.
 */
import Database from 'better-sqlite3';
import { type ArchiveRow, fromArchiveRow } from '../../src/daemon/store/run-history.ts';
import type { RecordedRequest } from '../../test/support/provider.ts';
import { emptyResult, type ScenarioResult } from './scenario.ts';

/** The columns that define a job: none of them may change behind the user's back. */
const DEFINITION = [
  'id',
  'name',
  'start_at_ms',
  'interval_seconds',
  'stop_after_date_ms',
  'stop_after_runs',
  'scope',
  'callback_url',
  'callback_body',
  'overlap',
  'misfire',
] as const;

/** Where each schedule stood at the snapshot: slots decided so far and how they were accounted. */
const PROGRESS = 'next_slot_index, run_count, run_count - manual_run_count AS scheduled_runs, missed_slots, overlap_skipped_slots';

export type JobDefinition = Record<(typeof DEFINITION)[number], unknown> & {
  next_slot_index: number;
  run_count: number;
  scheduled_runs: number;
  missed_slots: number;
  overlap_skipped_slots: number;
};

/** Snapshot job definitions (and where each schedule stood) before the torture starts. */
export function snapshotJobs(dbFile: string): Map<string, JobDefinition> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    // The daemon may already have claimed a slot or two by now: verify() counts from here.
    const rows = db.prepare(`SELECT ${DEFINITION.join(', ')}, ${PROGRESS} FROM jobs`).all() as JobDefinition[];
    return new Map(rows.map((r) => [String(r.id), r]));
  } finally {
    db.close();
  }
}

interface RunRow {
  job_id: string;
  slot_at_ms: number;
  request_id: string;
  state: string;
}

/** Runs compacted to run_archive (issue 17: each job keeps only its newest runs whole) count as runs too; in the runs table's column names. */
export function archivedRuns(db: Database.Database): (RunRow & { fired_at_ms: number })[] {
  const hasArchive = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_archive'").get();
  if (!hasArchive) return [];
  return (db.prepare('SELECT * FROM run_archive').all() as ArchiveRow[]).map(fromArchiveRow).map((r) => ({
    job_id: r.jobId,
    slot_at_ms: r.slotAtMs,
    request_id: r.requestId,
    state: r.state,
    fired_at_ms: r.firedAtMs,
  }));
}

interface JobRow extends JobDefinition {
  status: string;
}

/**
 * Check the database (the daemon must be stopped) against the provider's run requests.
 * `before` is the snapshot taken before the daemon first ran.
 */
export function verify(scenario: string, dbFile: string, runRequests: readonly RecordedRequest[], before: Map<string, JobDefinition>): ScenarioResult {
  const result = emptyResult(scenario);
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    result.integrity = (db.pragma('integrity_check', { simple: true }) as string) ?? 'no answer';
    const runs = [...(db.prepare('SELECT job_id, slot_at_ms, request_id, state FROM runs').all() as RunRow[]), ...archivedRuns(db)];
    const jobs = db.prepare(`SELECT ${DEFINITION.join(', ')}, ${PROGRESS}, status FROM jobs`).all() as JobRow[];

    // request_id ↔ slot, both ways.
    const runByRequest = new Map(runs.map((r) => [r.request_id, r]));
    const requestsBySlot = new Map<string, Set<string>>();
    const slotsByRequest = new Map<string, Set<string>>();
    for (const req of runRequests) {
      const requestId = (req.body as { request_id?: unknown } | null)?.request_id;
      if (typeof requestId !== 'string') {
        result.violations.push(`a run request without request_id at ${req.path}`);
        continue;
      }
      const run = runByRequest.get(requestId);
      if (!run) {
        result.violations.push(`request_id ${requestId} reached the provider but no run in the database has it`);
        continue;
      }
      const slot = `${run.job_id}@${run.slot_at_ms}`;
      (requestsBySlot.get(slot) ?? requestsBySlot.set(slot, new Set()).get(slot)!).add(requestId);
      (slotsByRequest.get(requestId) ?? slotsByRequest.set(requestId, new Set()).get(requestId)!).add(slot);
    }
    result.runsFired = slotsByRequest.size;
    for (const ids of requestsBySlot.values()) if (ids.size > 1) result.duplicates += ids.size - 1;
    for (const slots of slotsByRequest.values()) if (slots.size > 1) result.duplicates += slots.size - 1;
    const sentToProvider = new Set(slotsByRequest.keys());
    for (const r of runs) {
      if (r.state === 'succeeded' && !sentToProvider.has(r.request_id)) {
        result.violations.push(`run ${r.request_id} is recorded as succeeded but the provider never saw it`);
      }
      if (r.state === 'pending' || r.state === 'active') result.stuckRuns += 1;
    }

    // Every decided slot is fired or counted.
    const ranSlots = new Map<string, number>();
    for (const r of runs) ranSlots.set(r.job_id, (ranSlots.get(r.job_id) ?? 0) + 1);
    for (const job of jobs) {
      const was = before.get(String(job.id));
      if (!was) {
        result.violations.push(`job ${job.id} appeared from nowhere`);
        continue;
      }
      const decided = job.next_slot_index - was.next_slot_index;
      const accounted =
        job.scheduled_runs - was.scheduled_runs + (job.missed_slots - was.missed_slots) + (job.overlap_skipped_slots - was.overlap_skipped_slots);
      result.slotsChecked += decided;
      if (accounted < decided) result.missedUncounted += decided - accounted;
      if (accounted > decided) result.violations.push(`job ${job.id}: ${accounted} slots accounted for but only ${decided} decided`);
      if ((ranSlots.get(String(job.id)) ?? 0) !== job.run_count) {
        result.violations.push(`job ${job.id}: run_count ${job.run_count} but ${ranSlots.get(String(job.id)) ?? 0} run rows`);
      }
      for (const col of DEFINITION) {
        if (JSON.stringify(job[col]) !== JSON.stringify(was[col])) result.violations.push(`job ${job.id}: ${col} changed`);
      }
    }
    for (const id of before.keys()) if (!jobs.some((j) => String(j.id) === id)) result.violations.push(`job ${id} was lost`);
  } finally {
    db.close();
  }
  return result;
}
