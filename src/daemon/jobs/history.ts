import { getJob } from '../store/jobs.ts';
import type { Db } from '../store/open.ts';
import { historyPage, type HistoryRun } from '../store/run-history.ts';
import { InvalidInputError, JobNotFoundError } from '../../core/errors.ts';
import type { HistoryEntry, HistoryPage, HistoryParams } from '../../contract/protocol.ts';
import { toRunResult } from './document.ts';
import { fillPage } from './page.ts';
import { checkRunState } from '../../core/input.ts';
import { parseDateTime } from '../../core/time.ts';
import { summarizeRun } from '../../core/run-summary.ts';

const HISTORY_DEFAULT_LIMIT = 20;
const HISTORY_MAX_PAGE = 1000;

/**
 * `job.history`: a job's runs, newest first, one page at a time (keyset paging on runs.id,
 * so any depth costs the same). Deleted jobs keep their history. `since` keeps runs fired at
 * or after it; `status` is a run state (pending, active, succeeded, failed).
 */
export function jobHistory(db: Db, params: HistoryParams): HistoryPage {
  const job = getJob(db, params.job_id);
  if (!job) throw new JobNotFoundError(params.job_id);
  const limit = params.limit ?? HISTORY_DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > HISTORY_MAX_PAGE) {
    throw new InvalidInputError(`invalid limit ${limit}: give a whole number from 1 to ${HISTORY_MAX_PAGE}`);
  }
  const rows = historyPage(db, job.id, {
    beforeId: params.cursor ? decodeHistoryCursor(params.cursor) : null,
    sinceMs: params.since ? parseDateTime(params.since, 'since') : null,
    state: params.status ? checkRunState(params.status) : null,
    limit: limit + 1,
  });
  // Bounded by size too (page.ts): runs carry their provider's status documents.
  const { items, last, more } = fillPage(rows, toHistoryEntry, limit);
  return { runs: items, next_cursor: more && last ? encodeHistoryCursor(last.id) : null };
}

/** A run as `job history` shows it (and as run events carry it, daemon/events/hub.ts). */
export function toHistoryEntry(run: HistoryRun): HistoryEntry {
  return {
    ...toRunResult(run),
    lateness_ms: run.manual ? null : run.firedAtMs - run.slotAtMs,
    manual: run.manual,
    // An archived run's document is gone: its summary was kept when it was compacted.
    summary: run.compactedSummary ?? summarizeRun(run),
  };
}

function encodeHistoryCursor(runId: number): string {
  return Buffer.from(`run:${runId}`).toString('base64url');
}

function decodeHistoryCursor(cursor: string): number {
  const m = /^run:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new InvalidInputError('invalid cursor: pass the next_cursor of the previous page unchanged');
  return Number(m[1]);
}
