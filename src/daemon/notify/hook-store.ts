/** What the failure hooks read and write of a job (daemon/notify/failure-hooks.ts): a few columns, never the action body. */
import type { OnFailure } from '../../core/on-failure.ts';
import type { InactiveReason, JobStatus } from '../../core/vocabulary.ts';
import type { Db } from '../store/open.ts';
import { preparedFor } from '../store/prepared.ts';

export interface HookState {
  name: string;
  status: JobStatus;
  inactiveReason: InactiveReason | null;
  onFailure: OnFailure | null;
  notified: boolean;
}

interface HookStateRow {
  name: string;
  status: JobStatus;
  inactive_reason: string | null;
  on_failure: string | null;
  failure_notified: number;
}

const statements = preparedFor((db) => ({
  // An index probe (schema.ts jobs_with_on_failure), not a scan of every job.
  hooked: db.$client.prepare("SELECT id FROM jobs WHERE on_failure IS NOT NULL AND status != 'deleted'").pluck(),
  state: db.$client.prepare('SELECT name, status, inactive_reason, on_failure, failure_notified FROM jobs WHERE id = ?'),
  notified: db.$client.prepare('UPDATE jobs SET failure_notified = ? WHERE id = ?'),
  // Through runs_completed: a range of the index, not a scan.
  failedSince: db.$client.prepare("SELECT DISTINCT job_id FROM runs WHERE completed_at_ms >= ? AND state = 'failed'").pluck(),
  newestEnded: db.$client.prepare('SELECT id, state FROM runs WHERE job_id = ? AND completed_at_ms IS NOT NULL ORDER BY id DESC LIMIT 1'),
  inactiveUntold: db.$client.prepare("SELECT id FROM jobs WHERE status = 'inactive' AND failure_notified = 0").pluck(),
}));

/**
 * Jobs whose failure may have gone untold: a run of theirs failed since `sinceMs`, or they
 * are inactive, and no streak is marked told. (The daemon stopped between a failure's commit
 * and its event: failure-hooks.ts catchUp.)
 */
export function untoldCandidates(db: Db, sinceMs: number): { failed: string[]; inactive: string[] } {
  const s = statements(db);
  return { failed: s.failedSince.all(sinceMs) as string[], inactive: s.inactiveUntold.all() as string[] };
}

/** The job's newest ended run: its id and state, or null. */
export function newestEndedRun(db: Db, jobId: string): { id: number; state: string } | null {
  return (statements(db).newestEnded.get(jobId) as { id: number; state: string } | undefined) ?? null;
}

/** The jobs (not deleted) with a failure hook of their own. */
export function hookedJobIds(db: Db): string[] {
  return statements(db).hooked.all() as string[];
}

export function hookState(db: Db, jobId: string): HookState | null {
  const row = statements(db).state.get(jobId) as HookStateRow | undefined;
  if (!row) return null;
  return {
    name: row.name,
    status: row.status,
    inactiveReason: row.inactive_reason === null ? null : (JSON.parse(row.inactive_reason) as InactiveReason),
    onFailure: row.on_failure === null ? null : (JSON.parse(row.on_failure) as OnFailure),
    notified: row.failure_notified !== 0,
  };
}

/** Whether a failure streak of the job has been told (kept across restarts). */
export function setFailureNotified(db: Db, jobId: string, notified: boolean): void {
  statements(db).notified.run(notified ? 1 : 0, jobId);
}
