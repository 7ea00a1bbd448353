import type { Dispatcher } from 'undici';
import { classify, type Verdict } from '../actions/classify.ts';
import { getActionStatus, releaseAction, submitAction, type ProviderOptions } from '../actions/provider.ts';
import { isTerminal, type ParsedStatus } from '../actions/status.ts';
import type { ResolvedConfig } from '../config/config.ts';
import { incrementErrorCount, getJob, markInactive } from '../db/jobs.ts';
import type { Db } from '../db/open.ts';
import { getRun, openRuns, pruneJobRuns, recordActionStatus, recordAttempt, recordRunError, recordRunFailure } from '../db/runs.ts';
import type { WriteBehind } from '../db/write-behind.ts';
import type { JobRow, RunError, RunRow } from '../db/schema.ts';
import { coerceError, ERROR_CODES, TimerError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { AuthRequiredError, AuthUnavailableError, type TokenProvider } from '../auth/tokens.ts';
import { Cancellation } from '../cancellation.ts';
import { sleep, sleepUntil, type Clock } from './clock.ts';

/** Why no token could be had: the user must act (`auth`), or Auth is down for now (`transient`). */
interface TokenFailure {
  kind: 'auth' | 'transient';
  error: RunError;
  /** For `auth`: the hosted service's `inactive_reason.detail.code`. */
  reason?: string;
}

const PRUNE_EVERY_RUNS = 50;

export interface RunnerDeps {
  db: Db;
  /** Where the run bookkeeping is queued; shared with the scheduler, which flushes it before claiming. */
  writes: WriteBehind;
  clock: Clock;
  log: Logger;
  config: ResolvedConfig;
  dispatcher: Dispatcher;
  tokens: TokenProvider;
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
  readonly #drivers = new Map<number, Promise<void>>();
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
  fire(run: RunRow, job: JobRow): void {
    if (this.#drivers.has(run.id) || this.#stopping.aborted || run.completedAtMs !== null) return;
    const driver = this.#drive(run, job)
      .catch((err: unknown) => this.#deps.log.error({ err: coerceError(err), runId: run.id }, 'run driver failed'))
      .finally(() => {
        this.#drivers.delete(run.id);
        this.#actionIds.delete(run.id);
      });
    this.#drivers.set(run.id, driver);
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

  /** After a restart: re-send submissions whose outcome is unknown, poll accepted actions. */
  resumeOpenRuns(): number {
    const open = openRuns(this.#deps.db);
    for (const run of open) this.track(run.id);
    return open.length;
  }

  /**
   * Stop: no new work, sleeps end now; requests already on the wire get `graceMs` to finish
   * and be recorded, then are cut off. Unfinished runs stay open in the database and are
   * resumed by the next start.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping.abort();
    const all = Promise.allSettled([...this.#drivers.values()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.#cutOff.abort();
    await all;
    this.#deps.writes.close();
  }

  get #stopped(): boolean {
    return this.#stopping.aborted;
  }

  async #drive(run: RunRow, job: JobRow): Promise<void> {
    // Claimed ahead of its slot (or resumed after a very quick restart): never send early.
    // A run already due goes on without yielding (see fire()).
    const early = run.state === 'pending' && run.attempts === 0 && this.#deps.clock.now() < run.slotAtMs;
    if (early) {
      this.#waiting.set(run.id, job.id);
      const due = await sleepUntil(this.#deps.clock, run.slotAtMs, this.#stopping, this.#deps.config.maxTimerDelayMs);
      this.#waiting.delete(run.id);
      if (this.#withdrawn.delete(run.id) || !due) return;
    }
    const state = run.state === 'pending' ? await this.#submit(run, job) : run.state;
    if (state === 'active') await this.#poll(run, job);
  }

  /** Submit until accepted, failed or stopped. Returns the run's state afterwards, or null when stopped. */
  async #submit(run: RunRow, job: JobRow): Promise<'active' | 'done' | null> {
    const { config, clock, db } = this.#deps;
    const runRequest = { ...job.callbackBody, request_id: run.requestId };
    let attempts = run.attempts;
    let retryDelayMs = config.retryInitialMs;
    /**
     * The token the provider has just refused; the next one asked for must differ (a refresh).
     * Refusals in a row end the run and stop the job once REFRESHES_PER_REFUSAL refreshed
     * tokens were refused too (SPEC: 401/403 after a token refresh); after any other answer
     * a later refusal is a new one, refreshed and retried.
     */
    let rejected: string | null = null;
    let refusals = 0;
    while (!this.#stopped) {
      // No await without a scope: see fire().
      const token: string | null | TokenFailure = job.scope ? await this.#token(job, rejected) : null;
      if (isTokenFailure(token)) {
        if (token.kind === 'auth') return this.#authFailed(run, job, token.error, true, token.reason);
        // Globus Auth is down: nothing was sent, so no attempt is counted; wait as for a transient failure.
        if (clock.now() + retryDelayMs > run.retryUntilMs) {
          this.#fail(run, job, { ...token.error, message: `${token.error.message} (gave up)` });
          return 'done';
        }
        this.#write(() => recordRunError(db, run.id, token.error));
        this.#deps.log.warn({ jobId: job.id, runId: run.id, error: token.error }, 'no token yet; will retry');
        if (!(await sleep(clock, retryDelayMs, this.#stopping))) return null;
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
      this.#write(() => recordAttempt(db, run.id, attempt, firedAtMs));
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
          if (typeof token === 'string' && refusals < REFRESHES_PER_REFUSAL) {
            rejected = token;
            refusals += 1;
            continue;
          }
          return this.#authFailed(run, job, verdict.error, true);
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
          rejected = null;
          refusals = 0;
          this.#write(() => recordRunError(db, run.id, error));
          this.#deps.log.warn({ jobId: job.id, runId: run.id, attempts, error }, 'submission failed; will retry');
          if (!(await sleep(clock, waitMs, this.#stopping))) return null;
          retryDelayMs = Math.min(retryDelayMs * 2, config.retryMaxMs);
        }
      }
    }
    return null;
  }

  /** Poll an accepted action with backoff until it is SUCCEEDED or FAILED. */
  async #poll(run: RunRow, job: JobRow): Promise<void> {
    const { config, clock } = this.#deps;
    let delayMs = config.pollInitialMs;
    let rejected: string | null = null;
    let refusals = 0; // as in #submit
    const actionId = this.#actionIds.get(run.id) ?? this.#readRun(run.id)?.actionId;
    if (!actionId) return;
    while (await sleep(clock, delayMs, this.#stopping)) {
      const token = await this.#token(job, rejected);
      if (isTokenFailure(token)) {
        if (token.kind === 'auth') return void this.#authFailed(run, job, token.error, false, token.reason);
        this.#deps.log.warn({ jobId: job.id, runId: run.id, error: token.error }, 'no token for the status poll; will retry');
        delayMs = Math.min(Math.max(delayMs * 2, config.pollInitialMs), config.pollMaxMs);
        continue;
      }
      const outcome = await getActionStatus(job.callbackUrl, actionId, token, this.#http);
      if (this.#cutOff.aborted) return;
      const verdict: Verdict = classify(outcome);
      switch (verdict.kind) {
        case 'ok':
          if (this.#recordStatus(run, job, verdict.status, null) === 'done') return;
          rejected = null;
          refusals = 0;
          break;
        case 'auth':
          if (typeof token === 'string' && refusals < REFRESHES_PER_REFUSAL) {
            rejected = token;
            refusals += 1;
            delayMs = 0;
            continue;
          }
          return void this.#authFailed(run, job, verdict.error, false);
        case 'permanent':
          return this.#fail(
            run,
            job,
            {
              ...verdict.error,
              code: verdict.error.httpStatus === 404 ? 'ACTION_STATUS_UNKNOWN' : verdict.error.code,
              message: `status poll: ${verdict.error.message}`,
            },
            false,
          );
        case 'transient':
          rejected = null;
          refusals = 0;
          this.#deps.log.warn({ jobId: job.id, runId: run.id, error: verdict.error }, 'status poll failed; will retry');
      }
      delayMs = Math.min(Math.max(delayMs * 2, config.pollInitialMs), config.pollMaxMs);
    }
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
      this.#write(() => recordActionStatus(db, run.id, { ...update, state: 'active', completedAtMs: null }));
      return 'active';
    }
    const failed = status.status === 'FAILED';
    const completedAtMs = clock.now();
    this.#write(() => {
      recordActionStatus(db, run.id, { ...update, state: failed ? 'failed' : 'succeeded', completedAtMs });
      if (failed) incrementErrorCount(db, job.id);
      this.#pruneNowAndThen(job);
    });
    // debug, not info: a 1-second job would write 86,400 lines a day; failures are warnings.
    this.#deps.log.debug({ jobId: job.id, runId: run.id, actionId, status: status.status }, 'run completed');
    if (actionId) void this.#release(job, actionId);
    return 'done';
  }

  /**
   * Keep a job's finished runs at retentionRunsPerJob, checked on every PRUNE_EVERY_RUNS-th
   * run of the job rather than on every run: the check reads up to that many index
   * entries, and a job may briefly hold PRUNE_EVERY_RUNS runs too many.
   */
  #pruneNowAndThen(job: JobRow): void {
    // `job` is the row as claimed, before this run was counted: this is run runCount + 1
    // (one off for a run now or a run resumed after a restart: a cadence, not a count).
    if ((job.runCount + 1) % PRUNE_EVERY_RUNS === 0) pruneJobRuns(this.#deps.db, job.id, this.#deps.config.retentionRunsPerJob);
  }

  /**
   * Fail the run. `fromSubmission`: the error answers the run request, so its HTTP status is
   * the run's submission status; a failed status poll keeps the submission's (SPEC §3).
   */
  #fail(run: RunRow, job: JobRow, error: RunError, fromSubmission = true): void {
    const { db, clock } = this.#deps;
    const completedAtMs = clock.now();
    const httpStatus = fromSubmission && error.httpStatus !== undefined ? error.httpStatus : null;
    this.#write(() => {
      recordRunFailure(db, run.id, error, completedAtMs, httpStatus);
      incrementErrorCount(db, job.id);
      this.#pruneNowAndThen(job);
    });
    this.#deps.log.warn({ jobId: job.id, runId: run.id, error }, 'run failed');
  }

  /**
   * 401/403 that a token refresh did not cure (or no token to refresh): the run fails and
   * the job waits for the user, in the hosted service's shape.
   */
  #authFailed(run: RunRow, job: JobRow, error: RunError, fromSubmission: boolean, reason?: string): 'done' {
    this.#fail(run, job, error, fromSubmission);
    const nowMs = this.#deps.clock.now();
    this.#write(() => markInactive(
      this.#deps.db,
      job.id,
      {
        cause: 'globus_auth_requirements',
        detail: {
          code: reason ?? (error.httpStatus === 403 ? 'PermissionDenied' : 'AuthenticationFailed'),
          message: error.message,
          authorization_parameters: { required_scopes: job.scope ? [job.scope] : [] },
        },
      },
      nowMs,
    ));
    return 'done';
  }

  /** Queue a bookkeeping write (see WriteBehind). */
  #write(write: () => void): void {
    this.#deps.writes.add(write);
  }

  /** Read a run as it stands, queued writes included. */
  #readRun(runId: number): RunRow | undefined {
    this.#deps.writes.flush();
    return getRun(this.#deps.db, runId);
  }

  /** A token for the job's scope (null without one), or why there is none. */
  async #token(job: JobRow, rejected: string | null): Promise<string | null | TokenFailure> {
    if (!job.scope) return null;
    try {
      return await this.#deps.tokens.getToken(job.scope, { rejected });
    } catch (err) {
      const e = coerceError(err);
      if (e instanceof AuthUnavailableError) return { kind: 'transient', error: { code: 'AUTH_UNAVAILABLE', message: e.message } };
      // A corrupt token cache needs the user too (logout, login), like a refused refresh.
      const reason = e instanceof AuthRequiredError ? e.reason : e instanceof TimerError && e.code === ERROR_CODES.TOKEN_CACHE_INVALID ? 'TokenCacheInvalid' : undefined;
      return { kind: 'auth', reason, error: { code: 'AUTH_REQUIRED', message: `no usable token for scope ${job.scope}: ${e.message}` } };
    }
  }

  /** Best effort (SPEC §3): a provider that refuses or fails a release changes nothing. */
  async #release(job: JobRow, actionId: string): Promise<void> {
    const token = await this.#token(job, null);
    const outcome = await releaseAction(job.callbackUrl, actionId, isTokenFailure(token) ? null : token, this.#http);
    this.#deps.log.debug({ jobId: job.id, actionId, outcome: outcome.kind === 'response' ? outcome.httpStatus : outcome.code }, 'release');
  }
}

function isTokenFailure(token: string | null | TokenFailure): token is TokenFailure {
  return token !== null && typeof token === 'object';
}
