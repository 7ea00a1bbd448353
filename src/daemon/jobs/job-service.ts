import { randomUUID } from 'node:crypto';
import type { ResolvedConfig } from '../../config/config.ts';
import {
  countJobsByStatus,
  deleteJobForGood,
  getJob,
  insertJob,
  iterateJobChunks,
  jobsWithIdPrefix,
  markDeleted,
  markResumed,
  type JobIdMatch,
  type JobPageKey,
} from '../store/jobs.ts';
import type { Db } from '../store/open.ts';
import { hasOpenRun, newestRunOfEach, unclaimRuns } from '../store/runs.ts';
import { countRunsOfJob, newestRuns } from '../store/run-history.ts';
import type { JobRow, RunRow } from '../store/schema.ts';
import { DEFAULT_POLICY, type InactiveReason, type JobStatus } from '../../core/vocabulary.ts';
import { ERROR_CODES, InvalidInputError, JobDeletedError, JobNotFoundError, TimerError } from '../../core/errors.ts';
import { MAX_PAGE_BYTES, type JobDocument, type JobPage, type ListJobsParams, type ResumeResult, type SubmitJobParams } from '../../contract/protocol.ts';
import type { HistoryPage, HistoryParams, PauseParams, PauseResult, RunNowParams, RunNowResult } from '../../contract/protocol.ts';
import type { Clock } from '../../core/clock.ts';
import { checkScope } from '../../core/scopes.ts';
import { STRICT_TOKEN_RULES, tokenDestinationRefusal, type TokenRules } from '../../auth/token-rules.ts';
import { nextRunOf } from '../../core/slots.ts';
import { RESULTS_IN_DOCUMENT, toJobDocument, toRunResult } from './document.ts';
import { jobHistory } from './history.ts';
import { pauseJob } from './pause.ts';
import { runNow, type RunNowDeps } from './run-now.ts';
import { checkActionBody, checkActionUrl, checkName, checkStopAfterDate, checkStopAfterRuns, STOP_DATE } from '../../core/input.ts';
import { parseDateTime } from '../../core/time.ts';
import { initialPlacement, scheduleKindOf } from '../../core/schedule.ts';
import type { NextSlotsParams, NextSlotsResult, UpdateJobParams, UpdateJobResult } from '../../contract/protocol.ts';
import { DEFAULT_NEXT_COUNT, nextSlots } from './next.ts';
import type { JobRef, PurgeParams, PurgeResult, ResolveJobIdsParams, ResolveJobIdsResult } from '../../contract/protocol.ts';
import { parseJobId } from '../../core/job-id.ts';
import { fillPage } from './page.ts';
import { updateJob } from './update.ts';
import { onFailureOfSubmit } from '../../core/on-failure.ts';

export interface JobServiceDeps {
  db: Db;
  clock: Clock;
  config: ResolvedConfig;
  /**
   * A job changed (made, updated, paused, resumed, deleted), committed: the scheduler re-arms
   * (its schedule may have changed) and the event hub tells watchers (daemon.ts).
   */
  onScheduleChange: (jobId: string) => void;
  /** `job run`: hand a run to the runner, and commit its queued writes first (see run-now.ts). */
  fireRun?: RunNowDeps['fireRun'];
  flushRunWrites?: RunNowDeps['flushRunWrites'];
  /** The runner's `withdraw`: runs of a job claimed ahead of their slot and not sent yet. */
  withdrawRuns?: ((jobId: string) => number[]) | undefined;
  /**
   * The runner's `closeRunsOfDeletedJob`: stop following a deleted job's runs, cancel and
   * release their actions. Absent (tests of the service alone): they are closed at the next start.
   */
  closeDeletedJobRuns?: ((jobId: string) => void) | undefined;
  /** Where a job's token may go (auth/token-rules.ts): checked when a job is submitted or resumed. Default: the strict rules. */
  tokenRules?: TokenRules;
  /** Whether the run bookkeeping cannot commit now (a full disk): new jobs and runs are refused meanwhile (write-behind.ts). */
  storeFailing?: () => boolean;
}

const DEFAULT_PAGE_SIZE = 100;
/** Jobs read from the database at a time while a page fills: few, as each may hold a 1 MiB body. */
const LIST_CHUNK_ROWS = 50;
/** The candidates an ambiguous id prefix names. */
const AMBIGUOUS_CANDIDATES_SHOWN = 5;

/** What the RPC methods do with jobs; the RPC layer only checks types and calls these. */
export class JobService {
  readonly #deps: JobServiceDeps;

  readonly #tokenRules: TokenRules;

  constructor(deps: JobServiceDeps) {
    this.#deps = deps;
    this.#tokenRules = deps.tokenRules ?? STRICT_TOKEN_RULES;
  }

  /**
   * Make a job. With `inactive` (the REST API's job whose scope has no consent yet) it is
   * made inactive for that reason, in the same insert: it never runs before `job resume`.
   */
  submit(params: SubmitJobParams, opts: { inactive?: InactiveReason | undefined } = {}): JobDocument {
    this.#refuseWhileStoreFails('submitted');
    const { db, clock, config } = this.#deps;
    const nowMs = clock.now();
    const kind = scheduleKindOf(params);
    const startAtMs = params.start ? parseDateTime(params.start, 'start') : nowMs;
    const stopAfterDateMs = params.stop_after?.date ? parseDateTime(params.stop_after.date, STOP_DATE) : null;
    const stopAfterRuns = params.stop_after?.n_runs != null ? checkStopAfterRuns(params.stop_after.n_runs) : null;
    const scope = params.scope?.trim() ? checkScope(params.scope, 'scope') : null;
    const callbackUrl = checkActionUrl(params.callback_url);
    const refusal = scope === null ? null : tokenDestinationRefusal(scope, callbackUrl, this.#tokenRules);
    if (refusal) throw new InvalidInputError(refusal);
    const placement = initialPlacement(kind, startAtMs, nowMs, config.misfireGraceMs);
    if (stopAfterDateMs !== null) checkStopAfterDate(STOP_DATE, stopAfterDateMs, { startAtMs, nowMs, firstSlotAtMs: placement.nextSlotAtMs });
    const schedule = {
      startAtMs,
      ...kind,
      ...placement,
      runCount: 0,
      stopAfterRuns,
      stopAfterDateMs,
      overlap: params.policy?.overlap ?? DEFAULT_POLICY.overlap,
      misfire: params.policy?.misfire ?? DEFAULT_POLICY.misfire,
    } as const;
    const { nextRunAtMs, finished } = nextRunOf(schedule);
    const job = insertJob(db, {
      id: randomUUID(),
      name: checkName(params.name),
      ...schedule,
      scope,
      callbackUrl,
      callbackBody: checkActionBody(params.callback_body),
      onFailure: onFailureOfSubmit(params.on_failure),
      ...(finished
        ? { status: 'finished' as const, nextRunAtMs }
        : opts.inactive
          ? { status: 'inactive' as const, inactiveReason: opts.inactive, nextRunAtMs: null }
          : { status: 'loaded' as const, nextRunAtMs }),
      submittedAtMs: nowMs,
      updatedAtMs: nowMs,
    });
    this.#deps.onScheduleChange(job.id);
    return toJobDocument(job, []);
  }

  get(jobId: string): JobDocument {
    return this.#document(this.#find(jobId), RESULTS_IN_DOCUMENT);
  }

  /**
   * One page of jobs; each document carries only its newest run, which is what lists show.
   * At most `limit` jobs and MAX_PAGE_BYTES of them (page.ts), so a page always fits a frame.
   */
  list(params: ListJobsParams, { maxBytes = MAX_PAGE_BYTES }: { maxBytes?: number } = {}): JobPage {
    const { db } = this.#deps;
    // One read transaction for the page: its jobs and their runs from one snapshot, and one
    // WAL read lock taken instead of one per statement (each costs system calls: a page of
    // 100 jobs read statement by statement was twice as slow).
    const { items, last, more } = db.$client.transaction(() => {
      const chunks = iterateJobChunks(db, {
        after: params.cursor ? decodeCursor(params.cursor) : null,
        showDeleted: params.show_deleted ?? false,
        chunkRows: LIST_CHUNK_ROWS,
      });
      return fillPage(withNewestRun(db, chunks), ({ job, newest }) => toJobDocument(job, newest ? [newest] : []), params.limit ?? DEFAULT_PAGE_SIZE, maxBytes);
    })();
    return { jobs: items, next_cursor: more && last ? encodeCursor({ submittedAtMs: last.job.submittedAtMs, id: last.job.id }) : null };
  }

  /** Full ids for what a user typed: a full id in any case, or a unique prefix (job-id.ts); all or nothing. */
  resolve(params: ResolveJobIdsParams): ResolveJobIdsResult {
    return { jobs: params.job_ids.map((text) => this.#resolveOne(text)) };
  }

  #resolveOne(text: string): JobRef {
    const ref = parseJobId(text);
    if (ref.kind === 'id') return jobRef(this.#find(ref.id));
    const { jobs, total } = jobsWithIdPrefix(this.#deps.db, ref.prefix, AMBIGUOUS_CANDIDATES_SHOWN);
    const [only] = jobs;
    if (total === 1 && only) return jobRef(only);
    if (total === 0)
      throw new TimerError(ERROR_CODES.JOB_NOT_FOUND, `no job id starts with ${ref.prefix}; list jobs with: globus-timer job list --show-deleted`);
    const shown = jobs.map((j) => `${j.id} (${j.name}, ${j.status})`).join(', ');
    const rest = total > jobs.length ? ` …and ${total - jobs.length} more` : '';
    throw new InvalidInputError(`the job id ${ref.prefix} is ambiguous: ${total} jobs start with it: ${shown}${rest}; give more of the id`);
  }

  /**
   * `job purge`: remove deleted jobs and their runs for good, all or nothing (see
   * PurgeParams). A deleted job's open runs are being closed by the runner (their actions
   * cancelled: closeRunsOfDeletedJob); removing them from under it would lose that outcome,
   * so such a job is refused until they are closed.
   */
  purge(params: PurgeParams): PurgeResult {
    const { db } = this.#deps;
    this.#deps.flushRunWrites?.(); // a run the runner has just closed counts as closed
    return db.transaction(() => {
      const jobs = new Map<string, JobRow>();
      for (const text of params.job_ids) {
        const job = this.#findFullId(text);
        if (job.status !== 'deleted') {
          throw new TimerError(
            ERROR_CODES.JOB_NOT_DELETED,
            `job ${job.id} is ${job.status}, not deleted: only deleted jobs are purged; nothing was purged. Delete it first: globus-timer job delete ${job.id}`,
          );
        }
        if (hasOpenRun(db, job.id)) {
          throw new TimerError(
            ERROR_CODES.RUN_IN_PROGRESS,
            `job ${job.id} still has runs being closed (their actions are being cancelled); nothing was purged. Try again in a moment`,
          );
        }
        jobs.set(job.id, job);
      }
      const purged = [...jobs.values()].map((job) => ({ ...jobRef(job), runs: countRunsOfJob(db, job.id) }));
      if (!params.dry_run) for (const job of jobs.values()) deleteJobForGood(db, job.id);
      return { purged };
    });
  }

  /**
   * Soft delete: never runs again; history stays readable by id and with show_deleted. Its
   * runs not yet sent are taken back; those already sent are no longer followed (their
   * actions cancelled and released, the runs closed as JOB_DELETED: runner.ts #closeDeleted).
   */
  delete(jobId: string): JobDocument {
    const job = this.#find(jobId);
    if (job.status !== 'deleted') {
      markDeleted(this.#deps.db, job.id, this.#deps.clock.now());
      this.#unclaim(job.id);
      // After the unclaim: the runs it took back are gone, and must not be closed as well.
      this.#deps.closeDeletedJobRuns?.(job.id);
      this.#deps.onScheduleChange(job.id);
    }
    return this.get(jobId);
  }

  /**
   * Schedule an inactive job again. Its next slot is the one it stopped at, now in the
   * past, so the scheduler applies the misfire rule as for any missed slot: one catch-up
   * run (coalesce) or wait for the next slot on the grid (skip).
   */
  resume(jobId: string): ResumeResult {
    // The runner's queued bookkeeping first: an auth failure it is about to record must not
    // land after this answer ("not inactive", then inactive after all).
    this.#deps.flushRunWrites?.();
    const job = this.#find(jobId);
    // Not "nothing to resume" (exit 0): a deleted job can never be resumed, and says so.
    if (job.status === 'deleted') throw new JobDeletedError(jobId);
    let resumed = false;
    // A job the token rules stop would only stop again at its next run.
    const refusal = job.status === 'inactive' && job.scope ? tokenDestinationRefusal(job.scope, job.callbackUrl, this.#tokenRules) : null;
    if (refusal) throw new InvalidInputError(`${refusal}; delete the job and submit it again`);
    if (job.status === 'inactive') {
      resumed = markResumed(this.#deps.db, job.id, nextRunOf(job).nextRunAtMs, this.#deps.clock.now());
      if (resumed) this.#deps.onScheduleChange(job.id);
    }
    return { job: this.get(jobId), resumed };
  }

  /** Pause a loaded job (pause.ts); any other job is left as it is (`paused` false). */
  pause(params: PauseParams): PauseResult {
    // The runner's queued bookkeeping first: a run that just ended shows as ended, and an auth
    // failure it is about to record (markInactive) is not overwritten by this pause.
    this.#deps.flushRunWrites?.();
    const { paused, job } = pauseJob(this.#deps.db, params.job_id, params.note ?? null, this.#deps.clock.now());
    if (paused) {
      this.#unclaim(job.id);
      this.#deps.onScheduleChange(job.id);
    }
    return { job: this.get(params.job_id), paused };
  }

  /** Fire one extra run now, outside the grid (run-now.ts). */
  runNow(params: RunNowParams): RunNowResult {
    this.#refuseWhileStoreFails('run');
    const { run } = runNow(this.#deps, params.job_id, params.force ?? false);
    return { job: this.get(params.job_id), run: toRunResult(run) };
  }

  history(params: HistoryParams): HistoryPage {
    this.#deps.flushRunWrites?.(); // runs that ended a moment ago show as ended
    return jobHistory(this.#deps.db, params);
  }

  /** Change a job from its next slot on (update.ts). */
  update(params: UpdateJobParams): UpdateJobResult {
    const { reanchored } = updateJob(this.#deps.db, this.#deps.clock.now(), params);
    const job = this.get(params.job_id);
    this.#deps.onScheduleChange(job.job_id);
    return { job, reanchored };
  }

  /** The next slots as the daemon will fire them (next.ts). */
  next(params: NextSlotsParams): NextSlotsResult {
    const { clock, config } = this.#deps;
    return nextSlots(this.#find(params.job_id), clock.now(), params.count ?? DEFAULT_NEXT_COUNT, config.misfireGraceMs);
  }

  /** A run claimed ahead of its slot for a job that was just paused or deleted is not sent (runner.withdraw). */
  #unclaim(jobId: string): void {
    const ids = this.#deps.withdrawRuns?.(jobId) ?? [];
    unclaimRuns(this.#deps.db, jobId, ids);
  }

  /**
   * While the daemon cannot record runs (write-behind.ts `failing`), nothing new is taken on:
   * a job or a run it could not keep track of. Said plainly, with what to do; it resumes by itself.
   */
  #refuseWhileStoreFails(what: string): void {
    if (!this.#deps.storeFailing?.()) return;
    throw new TimerError(
      ERROR_CODES.STORE_FAILED,
      `the daemon cannot write its database now (is the disk full?), so nothing was ${what}: free space on the file system of its state directory (globus-timer daemon status shows where), then try again; scheduled runs go on by themselves once it can write`,
    );
  }

  countByStatus(): Record<JobStatus, number> {
    return countJobsByStatus(this.#deps.db);
  }

  /** A job by its full id (any case); a prefix is refused: methods that act take resolved ids. */
  #findFullId(text: string): JobRow {
    const ref = parseJobId(text);
    if (ref.kind !== 'id') throw new InvalidInputError(`give the full id of job ${ref.prefix}…: resolve a prefix with job.resolve first`);
    return this.#find(ref.id);
  }

  #find(jobId: string): JobRow {
    const job = getJob(this.#deps.db, jobId);
    if (!job) throw new JobNotFoundError(jobId);
    return job;
  }

  #document(job: JobRow, runs: number): JobDocument {
    return toJobDocument(job, newestRuns(this.#deps.db, job.id, runs));
  }
}

/** Each job of each chunk with its newest run, read for the whole chunk in one statement. */
function* withNewestRun(db: Db, chunks: Iterable<JobRow[]>): Generator<{ job: JobRow; newest: RunRow | undefined }> {
  for (const chunk of chunks) {
    const newest = newestRunOfEach(
      db,
      chunk.map((job) => job.id),
    );
    for (const job of chunk) yield { job, newest: newest.get(job.id) };
  }
}

function jobRef(job: JobIdMatch): JobRef {
  return { job_id: job.id, name: job.name, status: job.status };
}

function encodeCursor(key: JobPageKey): string {
  return Buffer.from(JSON.stringify([key.submittedAtMs, key.id])).toString('base64url');
}

function decodeCursor(cursor: string): JobPageKey {
  try {
    const [submittedAtMs, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof submittedAtMs === 'number' && typeof id === 'string') return { submittedAtMs, id };
  } catch {
    // fall through to the error below
  }
  throw new InvalidInputError('invalid cursor: pass the next_cursor of the previous page unchanged');
}
