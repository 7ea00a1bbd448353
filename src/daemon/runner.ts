import type { Dispatcher } from 'undici';
import { classify, type Verdict } from '../actions/classify.ts';
import { cancelAction, getActionStatus, releaseAction, submitAction, type ProviderOptions, type ProviderOutcome } from '../actions/provider.ts';
import { isTerminal, isUsableActionId, type ParsedStatus } from '../actions/status.ts';
import type { ResolvedConfig } from '../config/config.ts';
import { incrementErrorCount, getJob, markInactive } from './store/jobs.ts';
import type { Db } from './store/open.ts';
import { pruneJobRuns } from './store/run-history.ts';
import { getRun, openRuns, openRunsOfJob, recordActionStatus, recordAttempt, recordRunError, recordRunFailure } from './store/runs.ts';
import type { WriteBehind } from './store/write-behind.ts';
import type { JobRow, RunRow } from './store/schema.ts';
import { authRequirementsReason, type InactiveReason, type RunError } from '../core/vocabulary.ts';
import { AuthRequiredError, AuthUnavailableError, coerceError, ERROR_CODES, TimerError } from '../core/errors.ts';
import type { Logger } from '../log/logger.ts';
import type { TokenProvider } from '../auth/tokens.ts';
import { STRICT_TOKEN_RULES, tokenDestinationRefusal, type TokenRules } from '../auth/token-rules.ts';
import { Cancellation } from '../util/cancellation.ts';
import { sleep, sleepUntil, type Clock } from '../core/clock.ts';
import type { EventHub } from './events/hub.ts';

/**
 * A refusal that stands: the run fails with `error`, and its job waits for the user, inactive
 * for `inactive` (in the hosted service's shape), decided where the refusal is known.
 */
interface Refusal {
  error: RunError;
  inactive: InactiveReason;
}

/** Why no token could be had: the user must act (`auth`), or Auth is down for now (`transient`). */
type TokenFailure = ({ kind: 'auth' } & Refusal) | { kind: 'transient'; error: RunError };

const PRUNE_EVERY_RUNS = 50;

/**
 * After a restart the first status polls of the active runs resumed are spread evenly over
 * this much per run (at most pollMaxMs in all) instead of all leaving at pollInitialMs: a
 * daemon stopped with thousands of runs in flight must not send thousands of polls at once
 * (issue 11 item 4). 1,000 runs: over 20 s; 15,000 or more: over pollMaxMs (5 min).
 */
const RESUME_POLL_SPREAD_PER_RUN_MS = 20;

const DAY_MS = 86_400_000;

/** One run being driven. */
interface Driven {
  jobId: string;
  /** Aborted on stop, and when the run's job is deleted: the run's sleeps end at once. */
  wake: Cancellation;
  /** Set by `job delete` (closeRunsOfDeletedJob): the run is no longer followed but closed (#closeDeleted). */
  deleted: boolean;
  /** Settles when the driver ends. */
  done: Promise<void> | null;
}

export interface RunnerDeps {
  db: Db;
  /** Where the run bookkeeping is queued; shared with the scheduler, which flushes it before claiming. */
  writes: WriteBehind;
  clock: Clock;
  log: Logger;
  config: ResolvedConfig;
  dispatcher: Dispatcher;
  tokens: TokenProvider;
  /** Where a job's token may go (auth/token-rules.ts), checked before every request that carries one. Default: the strict rules. */
  tokenRules?: TokenRules;
  /** Told of every run write, and of a job made inactive (issue 16's watchers). */
  events?: EventHub;
  /** Told when a run of a job ended (as its write is committed): daemon/compaction.ts compacts the job's older runs later. */
  onRunEnded?: (jobId: string) => void;
}

/**
 * Refreshed tokens tried for refusals in a row before a run fails and its job becomes
 * inactive. Two, not one: a refresh already in flight when the provider refused a token
 * (one run's refusal, another's refresh) can hand out a token issued before whatever made
 * the provider refuse (a revocation, Auth dropping tokens); the second refresh starts after
 * the refusal, so its refusal is a real one.
 */
const REFRESHES_PER_REFUSAL = 2;

/**
 * The refusal bookkeeping of one run's requests, shared by the submission, the status polls
 * and the best-effort cancel and release: the token the provider has just refused, which the
 * next one asked for must differ from (a refresh), and the refusals in a row. Once
 * REFRESHES_PER_REFUSAL refreshed tokens were refused too, the refusal stands (SPEC: 401/403
 * after a token refresh); after any other answer a later refusal is a new one.
 */
class Refusals {
  /** Pass to #token: the token just refused, or null. */
  rejected: string | null = null;
  #inARow = 0;

  /** The provider refused `token`: true when a refreshed token should be tried. */
  refused(token: unknown): boolean {
    if (typeof token !== 'string' || this.#inARow >= REFRESHES_PER_REFUSAL) return false;
    this.rejected = token;
    this.#inARow += 1;
    return true;
  }

  /** The provider answered something else. */
  answered(): void {
    this.rejected = null;
    this.#inARow = 0;
  }
}

/**
 * Drives each run from submission to its end (SPEC §3): POST the run request, retry
 * transient failures with the same request_id until the run's retry deadline, poll
 * ACTIVE/INACTIVE actions with backoff, release them when done, and record every step.
 *
 * One async driver per open run; the scheduler hands runs over with `track()` and never
 * waits on them. Every state change is written before the next network call, so a run
 * interrupted by a crash resumes from the database (`resumeOpenRuns`).
 */
export class Runner {
  readonly #deps: RunnerDeps;
  readonly #drivers = new Map<number, Driven>();
  /**
   * The action id of each run being driven, once the provider gave one. Kept here, not
   * read back: its write may still be queued, or failing (disk full), and a run that lost
   * its action id would never be polled to its end.
   */
  readonly #actionIds = new Map<number, string>();
  /**
   * Runs claimed ahead of their slot and not yet sent (run id → job id), and those of them a
   * `job pause` or `job delete` took back: such a run wakes at its slot and is not sent.
   */
  readonly #waiting = new Map<number, string>();
  readonly #withdrawn = new Set<number>();
  /** Aborted on stop: sleeps end at once and no new work starts. */
  readonly #stopping = new Cancellation();
  /** Aborted when the shutdown grace period is over: in-flight requests are cut off. */
  readonly #cutOff = new Cancellation();
  readonly #http: ProviderOptions;

  constructor(deps: RunnerDeps) {
    this.#deps = deps;
    this.#http = {
      dispatcher: deps.dispatcher,
      timeoutMs: deps.config.actionTimeoutMs,
      maxResponseBytes: deps.config.maxResponseBytes,
      cancel: this.#cutOff,
    };
  }

  /** Runs being driven right now (submitting, retrying or polling). */
  get inFlight(): number {
    return this.#drivers.size;
  }

  /** Start driving a run from the database (after a restart, or by id). Returns at once; idempotent. */
  track(runId: number): void {
    this.#deps.writes.flush();
    const run = getRun(this.#deps.db, runId);
    const job = run && getJob(this.#deps.db, run.jobId);
    if (run && job) this.fire(run, job);
  }

  /**
   * Start driving a run the scheduler has just committed, with the rows it already holds:
   * nothing is read back, and a job without a scope reaches the HTTP request without
   * yielding, so the request leaves within the scheduler's own turn. Returns at once.
   */
  fire(run: RunRow, job: JobRow, firstPollDelayMs = this.#deps.config.pollInitialMs): void {
    if (this.#drivers.has(run.id) || this.#stopping.aborted || run.completedAtMs !== null) return;
    const driven: Driven = { jobId: job.id, wake: new Cancellation(), deleted: false, done: null };
    this.#drivers.set(run.id, driven);
    driven.done = this.#drive(run, job, driven, firstPollDelayMs)
      .catch((err: unknown) => this.#deps.log.error({ err: coerceError(err), runId: run.id }, 'run driver failed'))
      .finally(() => {
        this.#drivers.delete(run.id);
        this.#actionIds.delete(run.id);
      });
  }

  /**
   * Take back the runs of a job that were claimed ahead of their slot and are not sent yet
   * (`job pause`, `job delete` answer before the slot: the job must not fire after that).
   * Returns their ids; the caller removes them from the database in the same turn, before
   * any of them wakes. A run already sent goes on to its end.
   */
  withdraw(jobId: string): number[] {
    const ids: number[] = [];
    for (const [runId, owner] of this.#waiting) {
      if (owner === jobId && !this.#withdrawn.has(runId)) {
        this.#withdrawn.add(runId);
        ids.push(runId);
      }
    }
    return ids;
  }

  /**
   * `job delete`, once the job is marked deleted and its runs not yet sent are withdrawn:
   * stop following its open runs at once and close them (#closeDeleted). A driver asleep (a
   * poll or retry backoff) wakes now and sends nothing more; one with a request on the wire
   * closes its run when the answer is in. An open run no driver holds gets one that only
   * closes it.
   */
  closeRunsOfDeletedJob(jobId: string): void {
    for (const driven of this.#drivers.values()) {
      if (driven.jobId !== jobId) continue;
      driven.deleted = true;
      driven.wake.abort();
    }
    this.#deps.writes.flush();
    const job = getJob(this.#deps.db, jobId);
    if (job?.status !== 'deleted') return;
    for (const run of openRunsOfJob(this.#deps.db, jobId)) this.fire(run, job);
  }

  /**
   * After a restart: re-send submissions whose outcome is unknown, poll accepted actions;
   * a deleted job's runs are closed and runs past their lifetime abandoned (#drive). The
   * first polls are spread over a window that grows with their number
   * (RESUME_POLL_SPREAD_PER_RUN_MS); pending runs are re-sent at once (there are at most
   * maxRunsInFlightPerJob per job, and each is sent once before its retry window is over).
   */
  resumeOpenRuns(): number {
    const { db, config } = this.#deps;
    this.#deps.writes.flush();
    const open = openRuns(db);
    const active = open.filter((run) => run.state === 'active').length;
    const spreadMs = Math.min(config.pollMaxMs, active * RESUME_POLL_SPREAD_PER_RUN_MS);
    const jobs = new Map<string, JobRow | undefined>();
    let nth = 0;
    for (const run of open) {
      if (!jobs.has(run.jobId)) jobs.set(run.jobId, getJob(db, run.jobId));
      const job = jobs.get(run.jobId);
      if (!job) continue;
      const offsetMs = run.state === 'active' ? Math.floor((nth++ * spreadMs) / active) : 0;
      this.fire(run, job, config.pollInitialMs + offsetMs);
    }
    return open.length;
  }

  /**
   * Stop: no new work, sleeps end now; requests already on the wire get `graceMs` to finish
   * and be recorded, then are cut off. Unfinished runs stay open in the database and are
   * resumed by the next start.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping.abort();
    const drivers = [...this.#drivers.values()];
    for (const driven of drivers) driven.wake.abort();
    const all = Promise.allSettled(drivers.map((driven) => driven.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.#cutOff.abort();
    await all;
    this.#deps.writes.close();
  }

  async #drive(run: RunRow, job: JobRow, driven: Driven, firstPollDelayMs: number): Promise<void> {
    const nowMs = this.#deps.clock.now();
    // Found at start-up (resumeOpenRuns) or by `job delete`: a deleted job's run is closed,
    // never sent or polled again; a run past its lifetime is abandoned. Neither is true of a
    // run the scheduler has just claimed.
    if (job.status === 'deleted') return this.#closeDeleted(run, job);
    if (this.#outlived(run, nowMs)) return this.#abandon(run, job);
    // Claimed ahead of its slot (or resumed after a very quick restart): never send early.
    // A run already due goes on without yielding (see fire()).
    const early = run.state === 'pending' && run.attempts === 0 && nowMs < run.slotAtMs;
    if (early) {
      this.#waiting.set(run.id, job.id);
      const due = await sleepUntil(this.#deps.clock, run.slotAtMs, driven.wake, this.#deps.config.maxTimerDelayMs);
      this.#waiting.delete(run.id);
      if (this.#withdrawn.delete(run.id)) return;
      if (!due) return driven.deleted ? this.#closeDeleted(run, job) : undefined;
    }
    const state = run.state === 'pending' ? await this.#submit(run, job, driven) : run.state;
    const end = state === 'active' ? await this.#poll(run, job, driven, firstPollDelayMs) : state;
    // Deleted meanwhile: a run still open is closed. (An answer already on the wire that
    // ended the run was recorded as it came; one that accepted it gave the id to cancel.)
    if (driven.deleted && end !== 'done') await this.#closeDeleted(run, job);
  }

  /**
   * Submit until accepted, failed, stopped or deleted. Returns the run's state afterwards, or
   * null when stopped or deleted first.
   */
  async #submit(run: RunRow, job: JobRow, driven: Driven): Promise<'active' | 'done' | null> {
    const { config, clock, db } = this.#deps;
    const runRequest = { ...job.callbackBody, request_id: run.requestId };
    let attempts = run.attempts;
    let retryDelayMs = config.retryInitialMs;
    const refusals = new Refusals();
    while (!driven.wake.aborted) {
      // No await without a scope: see fire().
      const token: string | null | TokenFailure = job.scope ? await this.#token(job, refusals.rejected) : null;
      // Stopped or deleted while the token was fetched: nothing more is sent.
      if (driven.wake.aborted) return null;
      if (isTokenFailure(token)) {
        if (token.kind === 'auth') return this.#refusalStands(run, job, token, true);
        // Globus Auth is down: nothing was sent, so no attempt is counted; wait as for a transient failure.
        if (clock.now() + retryDelayMs > run.retryUntilMs) {
          this.#fail(run, job, { ...token.error, message: `${token.error.message} (gave up)` });
          return 'done';
        }
        this.#write(run, () => recordRunError(db, run.id, token.error));
        this.#deps.log.warn({ jobId: job.id, runId: run.id, error: token.error }, 'no token yet; will retry');
        if (!(await sleep(clock, retryDelayMs, driven.wake))) return null;
        retryDelayMs = Math.min(retryDelayMs * 2, config.retryMaxMs);
        continue;
      }
      attempts += 1;
      const sentAtMs = clock.now();
      const submission = submitAction(job.callbackUrl, runRequest, token, this.#http);
      // Counted once the request is under way, off the firing path. A crash right here
      // loses one count, never a request: the run is still pending and is re-sent. The
      // first send is when the run really fired.
      const firedAtMs = attempts === 1 ? sentAtMs : run.firedAtMs;
      const attempt = attempts;
      this.#write(run, () => recordAttempt(db, run.id, attempt, firedAtMs));
      const outcome = await submission;
      // Cut off by shutdown: the provider may or may not have the request. Leave the run
      // pending; the next start re-sends it with the same request_id.
      if (this.#cutOff.aborted) return null;
      const verdict = classify(outcome);
      this.#deps.log.debug({ jobId: job.id, runId: run.id, attempts, verdict: verdict.kind }, 'submission answered');
      switch (verdict.kind) {
        case 'ok':
          return this.#recordStatus(run, job, verdict.status, verdict.httpStatus);
        case 'auth':
          if (refusals.refused(token)) continue;
          return this.#refusalStands(run, job, authRefusal(job, verdict.error), true);
        case 'permanent':
          this.#fail(run, job, verdict.error);
          return 'done';
        case 'transient': {
          const waitMs = Math.max(retryDelayMs, verdict.retryAfterMs ?? 0);
          if (clock.now() + waitMs > run.retryUntilMs) {
            this.#fail(run, job, { ...verdict.error, message: `${verdict.error.message} (gave up after ${attempts} attempts)` });
            return 'done';
          }
          const error = verdict.error;
          refusals.answered();
          this.#write(run, () => recordRunError(db, run.id, error));
          this.#deps.log.warn({ jobId: job.id, runId: run.id, attempts, error }, 'submission failed; will retry');
          if (!(await sleep(clock, waitMs, driven.wake))) return null;
          retryDelayMs = Math.min(retryDelayMs * 2, config.retryMaxMs);
        }
      }
    }
    return null;
  }

  /**
   * Poll an accepted action with backoff until it is SUCCEEDED or FAILED, or the run outlives
   * config.runLifetimeDays. Returns 'done' once the run is completed, null when stopped or
   * deleted first.
   *
   * `job pause` does not end this: runs already in flight are followed to their end (the
   * transfer underway is the user's data, and its result matters), bounded by the lifetime.
   */
  async #poll(run: RunRow, job: JobRow, driven: Driven, firstDelayMs: number): Promise<'done' | null> {
    const { config, clock } = this.#deps;
    let delayMs = firstDelayMs;
    const refusals = new Refusals();
    const actionId = this.#actionIds.get(run.id) ?? this.#readRun(run.id)?.actionId ?? null;
    if (!isUsableActionId(actionId)) {
      // Only a row stored before action ids were checked (parseActionStatus) can get here.
      const message = `no usable action id (${JSON.stringify(actionId)}) to follow the action with`;
      this.#fail(run, job, { code: 'ACTION_INVALID_RESPONSE', message }, false);
      return 'done';
    }
    while (await sleep(clock, delayMs, driven.wake)) {
      if (this.#outlived(run)) {
        await this.#abandon(run, job);
        return 'done';
      }
      const token = await this.#token(job, refusals.rejected);
      // Stopped or deleted while the token was fetched: nothing more is sent.
      if (driven.wake.aborted) return null;
      if (isTokenFailure(token)) {
        if (token.kind === 'auth') return this.#refusalStands(run, job, token, false);
        this.#deps.log.warn({ jobId: job.id, runId: run.id, error: token.error }, 'no token for the status poll; will retry');
        delayMs = Math.min(Math.max(delayMs * 2, config.pollInitialMs), config.pollMaxMs);
        continue;
      }
      const outcome = await getActionStatus(job.callbackUrl, actionId, token, this.#http);
      if (this.#cutOff.aborted) return null;
      const verdict: Verdict = classify(outcome);
      switch (verdict.kind) {
        case 'ok':
          if (this.#recordStatus(run, job, verdict.status, null) === 'done') return 'done';
          refusals.answered();
          break;
        case 'auth':
          if (refusals.refused(token)) {
            delayMs = 0;
            continue;
          }
          return this.#refusalStands(run, job, authRefusal(job, verdict.error), false);
        case 'permanent':
          this.#fail(
            run,
            job,
            {
              ...verdict.error,
              code: verdict.error.httpStatus === 404 ? 'ACTION_STATUS_UNKNOWN' : verdict.error.code,
              message: `status poll: ${verdict.error.message}`,
            },
            false,
          );
          return 'done';
        case 'transient':
          refusals.answered();
          this.#deps.log.warn({ jobId: job.id, runId: run.id, error: verdict.error }, 'status poll failed; will retry');
      }
      delayMs = Math.min(Math.max(delayMs * 2, config.pollInitialMs), config.pollMaxMs);
    }
    return null;
  }

  /**
   * Whether the run is past config.runLifetimeDays, counted from fired_at: the first send,
   * or for a run never sent the time it was claimed to fire at. Not from its slot: the
   * catch-up run of a job with a long interval (or a monthly cron) can have a slot weeks old.
   */
  #outlived(run: RunRow, nowMs = this.#deps.clock.now()): boolean {
    return nowMs - run.firedAtMs > this.#deps.config.runLifetimeDays * DAY_MS;
  }

  /**
   * A run still open past its lifetime: completed as failed with RUN_ABANDONED and no longer
   * followed, so no run polls with the user's token forever. Counted in n_errors: its outcome
   * is unknown here, which the user should see. Its action is released (best effort), not
   * cancelled: it may still be doing the user's work.
   */
  async #abandon(run: RunRow, job: JobRow): Promise<void> {
    const current = this.#readRun(run.id);
    if (!current || current.completedAtMs !== null) return;
    const where = current.actionStatus ?? (current.state === 'pending' ? 'not accepted by the provider' : current.state);
    const message = `still ${where} after ${this.#deps.config.runLifetimeDays} days; no longer followed; see the provider for its outcome`;
    this.#fail(run, job, { code: 'RUN_ABANDONED', message }, false);
    const actionId = this.#actionIds.get(run.id) ?? current.actionId;
    if (actionId !== null) await this.#release(job, actionId);
  }

  /**
   * Close a run of a deleted job (`job delete`, or found open at start-up): nothing more is
   * polled or retried. An accepted action (ACTIVE/INACTIVE) is cancelled, then released, best
   * effort; a run the provider never accepted gets nothing more. (A submission whose answer
   * was lost, a timeout say, may have started an action whose id we never learned: there is
   * nothing to address a cancel to.) The run is completed as failed with JOB_DELETED, its
   * message saying what the provider answered to the cancel; not counted in n_errors, as
   * the user ended it. Cut off by shutdown before the answer, it stays open and the next
   * start closes it.
   */
  async #closeDeleted(run: RunRow, job: JobRow): Promise<void> {
    const current = this.#readRun(run.id);
    if (!current || current.completedAtMs !== null) return;
    const actionId = this.#actionIds.get(run.id) ?? current.actionId;
    let message = 'the job was deleted before the provider accepted this run; nothing was cancelled';
    if (current.state === 'active' && isUsableActionId(actionId)) {
      const answer = await this.#bestEffort(job, (token) => cancelAction(job.callbackUrl, actionId, token, this.#http));
      if (this.#cutOff.aborted) return;
      message = `the job was deleted while its action was ${current.actionStatus ?? 'ACTIVE'}; ${describeCancel(answer)}`;
    }
    this.#fail(run, job, { code: 'JOB_DELETED', message }, false, false);
    if (actionId !== null) void this.#release(job, actionId);
  }

  /** Record a status document; a terminal one completes the run and releases the action. */
  #recordStatus(run: RunRow, job: JobRow, status: ParsedStatus, httpStatus: number | null): 'active' | 'done' {
    const { db, clock } = this.#deps;
    const actionId = status.actionId ?? this.#actionIds.get(run.id) ?? this.#readRun(run.id)?.actionId ?? null;
    if (actionId) this.#actionIds.set(run.id, actionId);
    if (!isTerminal(status.status) && !actionId) {
      this.#fail(run, job, {
        code: 'ACTION_INVALID_RESPONSE',
        message: `provider reported ${status.status} without an action_id, so the action cannot be followed`,
        ...(httpStatus !== null ? { httpStatus } : {}),
        providerError: status.document,
      });
      return 'done';
    }
    const update = { httpStatus, actionId, actionStatus: status.status, actionDocument: status.document };
    if (!isTerminal(status.status)) {
      this.#write(run, () => recordActionStatus(db, run.id, { ...update, state: 'active', completedAtMs: null }));
      return 'active';
    }
    const failed = status.status === 'FAILED';
    const completedAtMs = clock.now();
    this.#write(
      run,
      () => {
        recordActionStatus(db, run.id, { ...update, state: failed ? 'failed' : 'succeeded', completedAtMs });
        if (failed) incrementErrorCount(db, job.id);
        this.#ended(job);
      },
      true,
    );
    // debug, not info: a 1-second job would write 86,400 lines a day; failures are warnings.
    this.#deps.log.debug({ jobId: job.id, runId: run.id, actionId, status: status.status }, 'run completed');
    if (actionId) void this.#release(job, actionId);
    return 'done';
  }

  /**
   * A run of `job` ended (inside its write). Keep the job's finished runs at
   * retentionRunsPerJob, checked on every PRUNE_EVERY_RUNS-th run of the job rather than on
   * every run: the check reads up to that many index entries, and a job may briefly hold
   * PRUNE_EVERY_RUNS runs too many. Compaction only takes note here: it moves runs later, off
   * the firing path.
   */
  #ended(job: JobRow): void {
    // `job` is the row as claimed, before this run was counted: this is run runCount + 1
    // (one off for a run now or a run resumed after a restart: a cadence, not a count).
    if ((job.runCount + 1) % PRUNE_EVERY_RUNS === 0) pruneJobRuns(this.#deps.db, job.id, this.#deps.config.retentionRunsPerJob);
    this.#deps.onRunEnded?.(job.id);
  }

  /**
   * Fail the run. `fromSubmission`: the error answers the run request, so its HTTP status is
   * the run's submission status; a failed status poll keeps the submission's (SPEC §3).
   */
  #fail(run: RunRow, job: JobRow, error: RunError, fromSubmission = true, countsAsError = true): void {
    const { db, clock } = this.#deps;
    const completedAtMs = clock.now();
    const httpStatus = fromSubmission && error.httpStatus !== undefined ? error.httpStatus : null;
    this.#write(
      run,
      () => {
        recordRunFailure(db, run.id, error, completedAtMs, httpStatus);
        if (countsAsError) incrementErrorCount(db, job.id);
        this.#ended(job);
      },
      true,
    );
    if (countsAsError) this.#deps.log.warn({ jobId: job.id, runId: run.id, error }, 'run failed');
    else this.#deps.log.info({ jobId: job.id, runId: run.id, error }, 'run closed');
  }

  /**
   * The one way a refusal ends a run, for its submission and its status polls alike: no token
   * the user need not act for (#token: no login or consent, a refused refresh, a corrupt
   * cache, a destination the token rules refuse), or a provider's 401/403 that refreshed
   * tokens did not cure (Refusals). The run fails and the job waits for the user.
   */
  #refusalStands(run: RunRow, job: JobRow, { error, inactive }: Refusal, fromSubmission: boolean): 'done' {
    this.#fail(run, job, error, fromSubmission);
    const nowMs = this.#deps.clock.now();
    this.#deps.writes.add(() => markInactive(this.#deps.db, job.id, inactive, nowMs));
    this.#deps.events?.jobChanged(job.id);
    return 'done';
  }

  /**
   * Queue a bookkeeping write of `run` (see WriteBehind), and tell the event hub, which reads
   * the run back once the write has committed. `ended`: the write completes the run.
   */
  #write(run: RunRow, write: () => void, ended = false): void {
    this.#deps.writes.add(write);
    this.#deps.events?.runChanged(run.id, run.jobId, ended);
  }

  /** Read a run as it stands, queued writes included. */
  #readRun(runId: number): RunRow | undefined {
    this.#deps.writes.flush();
    return getRun(this.#deps.db, runId);
  }

  /**
   * A token for the job's scope (null without one), or why there is none. The one way a
   * token reaches a request, so the token rules hold for every submission, poll and
   * release, and for jobs made before the rules or by a client that skipped the CLI: a
   * token that may not go to the job's URL is never fetched, and the job waits for the
   * user (who changes its URL or scope, or deletes it).
   */
  async #token(job: JobRow, rejected: string | null): Promise<string | null | TokenFailure> {
    if (!job.scope) return null;
    const refusal = tokenDestinationRefusal(job.scope, job.callbackUrl, this.#deps.tokenRules ?? STRICT_TOKEN_RULES);
    if (refusal) {
      // A token the rules keep from the job's URL: no login helps, the job itself must change.
      const inactive: InactiveReason = { cause: 'token_destination', detail: `${refusal}; delete the job and submit it again` };
      return { kind: 'auth', error: { code: 'TOKEN_DESTINATION_REFUSED', message: refusal }, inactive };
    }
    try {
      return await this.#deps.tokens.getToken(job.scope, { rejected });
    } catch (err) {
      const e = coerceError(err);
      if (e instanceof AuthUnavailableError) return { kind: 'transient', error: { code: 'AUTH_UNAVAILABLE', message: e.message } };
      // A corrupt token cache needs the user too (logout, login), like a refused refresh.
      const reason =
        e instanceof AuthRequiredError ? e.reason : e instanceof TimerError && e.code === ERROR_CODES.TOKEN_CACHE_INVALID ? 'TokenCacheInvalid' : undefined;
      const error: RunError = { code: 'AUTH_REQUIRED', message: `no usable token for scope ${job.scope}: ${e.message}` };
      return { kind: 'auth', ...authRefusal(job, error, reason) };
    }
  }

  /** Best effort (SPEC §3): a provider that refuses or fails a release changes nothing. */
  async #release(job: JobRow, actionId: string): Promise<void> {
    if (!isUsableActionId(actionId)) return;
    const outcome = await this.#bestEffort(job, (token) => releaseAction(job.callbackUrl, actionId, token, this.#http));
    this.#deps.log.debug({ jobId: job.id, actionId, outcome: outcome.kind === 'response' ? outcome.httpStatus : outcome.code }, 'release');
  }

  /**
   * A best-effort request about an action (cancel, release). Its token comes from #token like
   * every other, and a refused token gets refreshed ones as a submission's would (Refusals).
   * With no token to be had it goes without one, and the provider decides.
   */
  async #bestEffort(job: JobRow, send: (token: string | null) => Promise<ProviderOutcome>): Promise<ProviderOutcome> {
    const refusals = new Refusals();
    for (;;) {
      const token = await this.#token(job, refusals.rejected);
      const outcome = await send(isTokenFailure(token) ? null : token);
      if (this.#cutOff.aborted || classify(outcome).kind !== 'auth' || !refusals.refused(token)) return outcome;
    }
  }
}

/**
 * A refusal the user mends by logging in or consenting to the job's scope: the job waits with
 * the hosted service's `globus_auth_requirements`. `code` is its `detail.code`; by default it
 * follows the provider's answer (403: PermissionDenied, else AuthenticationFailed).
 */
function authRefusal(job: JobRow, error: RunError, code?: string): Refusal {
  const detailCode = code ?? (error.httpStatus === 403 ? 'PermissionDenied' : 'AuthenticationFailed');
  return { error, inactive: authRequirementsReason(job.scope, detailCode, error.message) };
}

function isTokenFailure(token: string | null | TokenFailure): token is TokenFailure {
  return token !== null && typeof token === 'object';
}

/** What the provider answered to a cancel request, for the run's JOB_DELETED message. */
function describeCancel(outcome: ProviderOutcome): string {
  const verdict = classify(outcome);
  if (verdict.kind === 'ok') return `the provider answered the cancel request with HTTP ${verdict.httpStatus} (action ${verdict.status.status})`;
  return `the cancel request was not confirmed: ${verdict.error.message}`;
}
