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
}));

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
