import { requestIdFor } from '../actions/request-id.ts';
import type { ResolvedConfig } from '../config/config.ts';
import { dueJobs, earliestNextRunAtMs, updateSchedule, type ScheduleUpdate } from './store/jobs.ts';
import type { Db } from './store/open.ts';
import { atRunsInFlightCap, hasOpenRun, insertRun } from './store/runs.ts';
import type { JobRow, RunRow } from './store/schema.ts';
import { OncePer } from '../util/once-per.ts';
import { coerceError } from '../core/errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { decide, nextRunOf, nextSlotAtMsOf, retryWindowMs } from '../core/slots.ts';

export interface SchedulerDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  config: ResolvedConfig;
  /**
   * Called for each claimed run after its row is committed; must not block (the runner's
   * `fire`, which sends it at its slot, not before).
   */
  onFire: (run: RunRow, job: JobRow) => void;
  /**
   * Called before due jobs are claimed: commits the runner's queued bookkeeping, so the
   * overlap rule sees a run that ended a moment ago as ended.
   */
  beforeClaim?: () => void;
}

/** Retry of a failed pass: 1 s doubling to 5 s, so space coming back is noticed within 5 s. */
const PASS_RETRY_INITIAL_MS = 1_000;
const PASS_RETRY_MAX_MS = 5_000;

/**
 * The anchored tick loop (SPEC §2 rule 9). One timer is armed `fireLeadMs` before the
 * earliest slot of any job, capped at `maxTimerDelayMs` so that suspend and wall-clock
 * jumps are noticed; no polling. On waking, every job due within 2 × `fireLeadMs` is
 * decided (as of its slot) by the pure `decide()`, and its run row and new schedule are
 * committed in one transaction per batch. The runner then sends each run at its slot: the
 * database work is done before the slot, so only the HTTP request is left at the slot.
 * The unique (job, slot) key backs "never twice" if anything else slips.
 */
export class Scheduler {
  readonly #deps: SchedulerDeps;
  #timer: TimerHandle | undefined;
  #armedForMs: number | null = null;
  #running = false;
  /** Consecutive failed passes: the retry backs off while the failure lasts. */
  #failedPasses = 0;
  /** Failed passes are logged once a minute while they last. */
  readonly #passFailureLog = new OncePer(60_000);
  /** Whether this spell of failed passes was logged: then so is its end. */
  #failureTold = false;

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#running = true;
    this.tick();
  }

  stop(): void {
    this.#running = false;
    this.#disarm();
  }

  /** How long until the scheduler wakes to fire next, in ms (0 when due); null when it is not armed. */
  msUntilWake(): number | null {
    return this.#armedForMs === null ? null : Math.max(0, this.#armedForMs - this.#deps.clock.now());
  }

  /** Call after anything changed a schedule (submit, delete): re-arms for the new earliest slot. */
  reschedule(): void {
    if (this.#running) this.#arm();
  }

  /** Fire everything due now, then arm the timer for the next slot. */
  tick(): void {
    if (!this.#running) return;
    this.#disarm();
    try {
      this.#fireDue();
      // Said only for a spell whose failure was said; the once-a-minute log is not reset: a disk
      // at its edge fails and works by turns, and each spell said afresh was 15 lines a minute.
      if (this.#failedPasses > 0 && this.#failureTold) this.#deps.log.info({ failedPasses: this.#failedPasses }, 'scheduler passes work again');
      this.#failedPasses = 0;
      this.#failureTold = false;
    } catch (err) {
      // A failed pass (disk full, locked database) must not kill the loop, nor spin on a
      // failure that lasts: log it and try again after a backoff (1 s, doubling up to 5 s). Nothing was committed for the failed batch; the slots it would
      // have fired are decided (coalesced or skipped) by the first pass that succeeds.
      this.#failedPasses += 1;
      const retryMs = Math.min(PASS_RETRY_INITIAL_MS * 2 ** (this.#failedPasses - 1), PASS_RETRY_MAX_MS, this.#deps.config.maxTimerDelayMs);
      // The first failure, then once a minute while they last (a full disk fails every pass).
      const told = this.#passFailureLog.take();
      if (told) {
        this.#failureTold = true;
        this.#deps.log.error({ err: coerceError(err), failedPasses: this.#failedPasses, retryMs, notLogged: told.held }, 'scheduler pass failed');
      }
      this.#armIn(retryMs);
      return;
    }
    this.#arm();
  }

  #fireDue(): void {
    const { db, clock, config } = this.#deps;
    const nowMs = clock.now();
    const claimUntilMs = nowMs + 2 * config.fireLeadMs;
    this.#deps.beforeClaim?.();
    for (;;) {
      const batch = dueJobs(db, claimUntilMs, config.fireBatchSize);
      if (batch.length === 0) return;
      // Log lines are kept until the batch commits: a pass that fails is rolled back, and
      // its skips and finishes never happened.
      const notes: Note[] = [];
      const fired = db.transaction(() =>
        batch.flatMap((job) => {
          const run = this.#decideJob(job, nowMs, notes);
          return run ? [{ run, job }] : [];
        }),
      );
      for (const [fields, message] of notes) this.#deps.log.info(fields, message);
      for (const { run, job } of fired) this.#deps.onFire(run, job);
      if (batch.length < config.fireBatchSize) return;
    }
  }

  /** Decide one due job inside the batch transaction; returns the run to start, if any. */
  #decideJob(job: JobRow, claimedAtMs: number, notes: Note[]): RunRow | null {
    const { db, config, log } = this.#deps;
    // A job claimed ahead of its slot is decided as of the slot (its run is sent then); an
    // overdue one as of now.
    const nowMs = Math.max(claimedAtMs, job.nextRunAtMs ?? claimedAtMs);
    // One indexed read per due job, before its slot: an overlap-skip job asks whether any
    // run is open, an overlap-allow job whether it has its most runs in flight (at most
    // maxRunsInFlightPerJob index entries).
    const decision = decide(job, nowMs, {
      hasOpenRun: job.overlap === 'skip' && hasOpenRun(db, job.id),
      atRunsInFlightCap: job.overlap === 'allow' && atRunsInFlightCap(db, job.id, config.maxRunsInFlightPerJob),
      misfireGraceMs: config.misfireGraceMs,
    });
    if (!decision) {
      // next_run_at_ms disagrees with next_slot_index (an edited row): trust the slot index,
      // so the job is not picked up again and again in this pass.
      const { nextRunAtMs, finished } = nextRunOf(job);
      updateSchedule(db, job.id, { ...scheduleOf(job), nextSlotAtMs: nextSlotAtMsOf(job), nextRunAtMs, status: finished ? 'finished' : job.status }, nowMs);
      return null;
    }
    let run: RunRow | undefined;
    if (decision.fire) {
      const slotAtMs = decision.fire.slotAtMs;
      run = insertRun(db, {
        jobId: job.id,
        slotAtMs,
        requestId: requestIdFor(job.id, slotAtMs),
        // The planned fire time; the runner records the real one when it sends.
        firedAtMs: nowMs,
        retryUntilMs: nowMs + retryWindowMs(job, decision.nextSlotAtMs, slotAtMs, config.retryWindowMaxMs),
      });
      if (!run) log.error({ jobId: job.id, slotAtMs }, 'slot already has a run; not firing it again');
    }
    updateSchedule(
      db,
      job.id,
      {
        status: decision.finished ? 'finished' : job.status,
        nextSlotIndex: decision.nextSlotIndex,
        nextSlotAtMs: decision.nextSlotAtMs,
        nextRunAtMs: decision.nextRunAtMs,
        runCount: job.runCount + (run ? 1 : 0),
        lastRanAtMs: run ? nowMs : job.lastRanAtMs,
        missedSlots: job.missedSlots + decision.missedSlots,
        overlapSkippedSlots: job.overlapSkippedSlots + decision.overlapSkippedSlots,
      },
      nowMs,
    );
    if (decision.missedSlots || decision.overlapSkippedSlots) {
      notes.push([{ jobId: job.id, missedSlots: decision.missedSlots, overlapSkippedSlots: decision.overlapSkippedSlots }, 'slots skipped']);
    }
    if (decision.finished) notes.push([{ jobId: job.id, runCount: job.runCount + (run ? 1 : 0) }, 'job finished']);
    return run ?? null;
  }

  #arm(): void {
    const { db, clock, config } = this.#deps;
    let nextMs: number | null;
    try {
      nextMs = earliestNextRunAtMs(db);
    } catch (err) {
      this.#deps.log.error({ err: coerceError(err) }, 'cannot read the next slot; retrying');
      nextMs = null;
    }
    const nowMs = clock.now();
    // Wake no later than maxTimerDelayMs from now, even with nothing due: a suspended
    // machine or a wall clock that jumped forward is then noticed within that time.
    const delayMs = nextMs === null ? config.maxTimerDelayMs : Math.min(Math.max(0, Math.floor(nextMs - config.fireLeadMs - nowMs)), config.maxTimerDelayMs);
    if (this.#failedPasses > 0 && this.#timer !== undefined) return; // backing off; see tick()
    this.#armIn(delayMs);
  }

  #armIn(delayMs: number): void {
    const wakeAtMs = this.#deps.clock.now() + delayMs;
    if (this.#timer !== undefined && this.#armedForMs !== null && this.#armedForMs <= wakeAtMs) return;
    this.#disarm();
    this.#armedForMs = wakeAtMs;
    this.#timer = this.#deps.clock.setTimer(() => {
      this.#timer = undefined;
      this.tick();
    }, delayMs);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#deps.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#armedForMs = null;
  }
}

/** A log line (fields, message) held until its transaction commits. */
type Note = [Record<string, unknown>, string];

function scheduleOf(job: JobRow): ScheduleUpdate {
  const { status, nextSlotIndex, nextSlotAtMs, nextRunAtMs, runCount, lastRanAtMs, missedSlots, overlapSkippedSlots } = job;
  return { status, nextSlotIndex, nextSlotAtMs, nextRunAtMs, runCount, lastRanAtMs, missedSlots, overlapSkippedSlots };
}
