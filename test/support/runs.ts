import { randomUUID } from 'node:crypto';
import { requestIdFor } from '../../src/actions/request-id.ts';
import type { Db } from '../../src/daemon/store/open.ts';
import { insertRun, recordActionStatus, recordAttempt } from '../../src/daemon/store/runs.ts';

/**
 * A grid run of `slotAtMs` written as the runner writes one (claimed, sent 2 ms late, ended
 * SUCCEEDED 45 s later with the provider's `doc`): a store's history built without firing,
 * for the compaction tests and the storage bench.
 */
export function writeSucceededRun(db: Db, jobId: string, slotAtMs: number, doc: Record<string, unknown>): void {
  const run = insertRun(db, { jobId, slotAtMs, requestId: requestIdFor(jobId, slotAtMs), firedAtMs: slotAtMs + 2, retryUntilMs: slotAtMs + 60_000 })!;
  recordAttempt(db, run.id, 1, slotAtMs + 2);
  recordActionStatus(db, run.id, {
    state: 'succeeded',
    httpStatus: 202,
    actionId: randomUUID(),
    actionStatus: 'SUCCEEDED',
    actionDocument: doc,
    completedAtMs: slotAtMs + 45_000,
  });
}
