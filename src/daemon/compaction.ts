import type { ResolvedConfig } from '../config/config.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { coerceError } from '../core/errors.ts';
import type { Logger } from '../log/logger.ts';
import { OncePer } from '../util/once-per.ts';
import { jobsWithMoreRunsThan } from './store/jobs.ts';
import type { Db } from './store/open.ts';
import { compactJobRuns } from './store/run-history.ts';
import { giveBackFreePages } from './store/vacuum.ts';

/** How often the noted jobs are compacted (and free pages given back). */
const PASS_EVERY_MS = 10_000;
/** While commits fail for lack of space, sooner: compaction is what frees room inside the file. */
const PASS_EVERY_WHILE_FAILING_MS = 1_000;
/** A run is compacted only once it ended this long ago: the event hub may still read it back whole. */
const SETTLE_MS = 5_000;
/** One step, between two fires: about this long (then the event loop is free again) ... */
const STEP_BUDGET_MS = 2;
/** ... looked at after each chunk of a job's runs moved (a chunk of runs with 4 KB documents: well under a millisecond). */
const CHUNK_RUNS = 8;
/** After a step, a pause as long as the step, and at least STEP_PAUSE_MIN_MS: compaction takes at most about half the time. */
const STEP_PAUSE_MIN_MS = 2;
/**
 * After this much compaction work (ms), wait for the checkpointer to copy the whole WAL (at
 * most WAL_WAIT_MS): each step's transaction rewrites the index pages its runs touched, and
 * under writes that never stop no checkpoint catches up, so the WAL never starts over — a
 * sweep over 100,000 runs grew it to 1.8 GB for a 48 MB store before this wait.
 */
const WORK_BETWEEN_CHECKPOINTS_MS = 50;
const WAL_WAIT_MS = 5_000;
/** Jobs read per page of the sweep at start. */
const SWEEP_PAGE_JOBS = 500;
/** Free pages given back per step (each moves a page from the file's end: a step stays about a millisecond). */
const VACUUM_STEP_PAGES = 32;
const LOG_FAILURE_EVERY_MS = 60_000;

export interface CompactorDeps {
  db: Db;
  clock: Clock;
  config: ResolvedConfig;
  log: Logger;
  /** Resolves when the main thread has a gap before its next fire (api/jobs.ts betweenFires). */
  betweenFires: () => Promise<void>;
  /** Whether the run bookkeeping's commits fail now (a full disk): then each job keeps only its newest run whole. */
  storeFailing: () => boolean;
  /** Resolves once a checkpoint has copied the whole WAL, or after the timeout (store/checkpointer.ts caughtUp). */
  walCaughtUp: (timeoutMs: number) => Promise<void>;
}

/**
 * Compact history (issue 17 item 1): each job keeps its newest `fullRunsPerJob` runs (and its
 * newest failure) whole; older ones move to run_archive as their history line
 * (store/run-history.ts). Off the firing path: the runner only notes which job had a run end
 * (`runEnded`); every PASS_EVERY_MS those jobs are compacted in steps of at most
 * STEP_BUDGET_MS, each awaited until there is a gap between fires, as retention is. At start,
 * a sweep notes every job that has fired more runs than are kept (a store from before, a
 * lowered setting). After a pass, free pages beyond a few MiB go back to the file system.
 *
 * When commits fail for lack of space (`freeSpace`, from the write-behind), every job is swept
 * at once down to its newest run: the provider documents are most of the file, and the pages
 * they free are what the failed writes need.
 */
export class Compactor {
  readonly #deps: CompactorDeps;
  readonly #noted = new Set<string>();
  /** Where the sweep has got to, in job id order; null: no sweep under way. */
  #sweepAfterId: string | null = null;
  /**
   * Set by freeSpace until its sweep has visited every job: each keeps one whole run until
   * then, even once commits work again. The first commit that works often does so on the
   * checkpointer's reserve alone, before compaction freed anything; were the sweep to stop
   * there, the store would fill the disk again at once, with no reserve left to recover by.
   */
  #freeing = false;
  #timer: TimerHandle | undefined;
  #passing: Promise<void> | undefined;
  #stopped = false;
  readonly #failureLog = new OncePer(LOG_FAILURE_EVERY_MS);

  constructor(deps: CompactorDeps) {
    this.#deps = deps;
  }

  /** Sweep every job once, then keep up with the noted ones. */
  start(): void {
    this.#sweepAfterId = '';
    this.#schedule(0);
  }

  /** A run of `jobId` ended: its older runs are compacted at the next pass. */
  runEnded(jobId: string): void {
    this.#noted.add(jobId);
  }

  /** Out of space: sweep every job now (down to its newest run while commits fail). */
  freeSpace(): void {
    this.#sweepAfterId = '';
    this.#freeing = true;
    if (!this.#passing) this.#schedule(0);
  }

  /** Resolves once the pass under way (if any) has ended; nothing touches the database after. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#deps.clock.clearTimer(this.#timer);
    await this.#passing;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#deps.clock.clearTimer(this.#timer);
    this.#timer = this.#deps.clock.setTimer(() => {
      this.#passing = this.#pass().finally(() => {
        this.#passing = undefined;
        this.#schedule(this.#deps.storeFailing() ? PASS_EVERY_WHILE_FAILING_MS : PASS_EVERY_MS);
      });
    }, delayMs);
  }

  async #pass(): Promise<void> {
    const { db, log, betweenFires } = this.#deps;
    try {
      let workMs = 0;
      for (;;) {
        if (this.#noted.size === 0 && this.#sweepAfterId !== null) this.#sweepPage();
        if (this.#noted.size === 0) this.#freeing = false;
        if (this.#noted.size === 0 || this.#stopped) break;
        if (workMs >= WORK_BETWEEN_CHECKPOINTS_MS) {
          await this.#deps.walCaughtUp(WAL_WAIT_MS);
          workMs = 0;
        }
        await betweenFires();
        if (this.#stopped) break;
        const tookMs = this.#step();
        workMs += tookMs;
        await new Promise((resolve) => setTimeout(resolve, Math.max(STEP_PAUSE_MIN_MS, tookMs)));
      }
      while (!this.#stopped && !this.#deps.storeFailing()) {
        await betweenFires();
        if (this.#stopped || giveBackFreePages(db, VACUUM_STEP_PAGES) === 0) break;
      }
      // Not reset when a pass works: a disk at its edge fails and works by turns, and the line came every other pass.
    } catch (err) {
      // A full disk fails these writes too: said once a minute, tried again at the next pass.
      if (this.#failureLog.take()) log.error({ err: coerceError(err) }, 'compacting old runs failed; trying again (logged once a minute)');
    }
  }

  /** Note the next page of jobs the sweep visits; ends the sweep after the last. */
  #sweepPage(): void {
    const keep = this.#keep();
    const ids = jobsWithMoreRunsThan(this.#deps.db, keep, this.#sweepAfterId!, SWEEP_PAGE_JOBS);
    for (const id of ids) this.#noted.add(id);
    this.#sweepAfterId = ids.length === SWEEP_PAGE_JOBS ? ids[ids.length - 1]! : null;
  }

  /** Compact noted jobs, a chunk of runs at a time, for about STEP_BUDGET_MS, in one transaction; a job done leaves the set. Returns how long it took (ms). */
  #step(): number {
    const { db, clock } = this.#deps;
    const keep = this.#keep();
    const nowMs = clock.now();
    const endedBeforeMs = this.#short() ? nowMs : nowMs - SETTLE_MS;
    const startedAt = performance.now();
    const until = startedAt + STEP_BUDGET_MS;
    db.transaction(() => {
      for (const jobId of this.#noted) {
        for (let more = true; more; ) {
          const chunk = compactJobRuns(db, jobId, keep, endedBeforeMs, CHUNK_RUNS);
          more = chunk.more;
          // Nothing more to move now: a run that ends later notes the job again.
          if (!more) this.#noted.delete(jobId);
          if (performance.now() >= until) return;
        }
      }
    });
    return performance.now() - startedAt;
  }

  #keep(): number {
    return this.#short() ? 1 : this.#deps.config.fullRunsPerJob;
  }

  /** Whether space is short: commits fail, or the sweep that their failure started has not finished. */
  #short(): boolean {
    return this.#freeing || this.#deps.storeFailing();
  }
}
