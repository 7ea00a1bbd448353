import type { Logger } from '../../log/logger.ts';
import { OncePer } from '../../util/once-per.ts';
import type { Db } from './open.ts';

const RETRY_AFTER_FAILURE_MS = 1_000;
/** While commits keep failing (a full disk), the failure is logged once per this, not at every retry. */
const LOG_FAILURE_EVERY_MS = 60_000;

/**
 * Write-behind for the runner's bookkeeping: every write of a turn of the event loop
 * commits in one transaction at its end, instead of one commit per write. At 1,000 fires/s
 * a run's four or five writes (attempt, status, completion, counters) were as many
 * commits; now a burst of runs shares one.
 *
 * Safe because each write only records what the provider already said: a crash before the
 * flush leaves the run open, and the next start re-sends it with the same request_id (the
 * provider deduplicates) or polls it again. Readers that must see the latest state call
 * `flush()` first. A failed commit (disk full) keeps the writes and retries them, in order,
 * a second later: bookkeeping catches up once space returns.
 */
export class WriteBehind {
  readonly #db: Db;
  readonly #log: Logger;
  #queue: (() => void)[] = [];
  /** The flush at the end of this turn. */
  #flushSoon: NodeJS.Immediate | null = null;
  /**
   * The retry after a failed commit. Its own field, never cleared as an Immediate: Node's
   * clearImmediate() given a Timeout decrements its count of queued immediates all the same,
   * and once that count reads 0 with one queued, the check phase skips it for good — the
   * daemon's next setImmediate never ran (a batch sat uncommitted) and, at shutdown, the
   * process never ended (torture disk-full, 1 run in 4 after a full spell).
   */
  #retry: NodeJS.Timeout | null = null;
  #closed = false;
  #onCommit: (() => void) | null = null;
  /** Since when commits fail (null: they do not), and how many retries failed. */
  #failingSinceMs: number | null = null;
  #failures = 0;
  /**
   * A full disk fails every retry: logged once a minute, not once a second. Not reset when a
   * commit works again: a disk at its edge fails and works by turns, and each spell logged
   * afresh was two lines a second (issue 17 disk-self-full torture).
   */
  readonly #failureLog = new OncePer(LOG_FAILURE_EVERY_MS);
  /** Whether this spell's failure was logged: then so is its end, else neither. */
  #failureTold = false;
  #onFailing: (() => void) | null = null;

  constructor(db: Db, log: Logger) {
    this.#db = db;
    this.#log = log;
  }

  /** Queue a synchronous write; it commits with the others at the end of this turn. */
  add(write: () => void): void {
    // After close (the database is about to close): a run finishing that late stays open
    // in the database and is resumed by the next start, as after a crash.
    if (this.#closed) return;
    this.#queue.push(write);
    this.#flushSoon ??= setImmediate(() => this.flush());
  }

  /** Commit everything queued now. Never throws: a failure is logged and retried. */
  flush(): void {
    this.#cancelPending();
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    try {
      this.#db.transaction(() => {
        for (const write of batch) write();
      });
    } catch (err) {
      this.#failed(batch, err);
      return;
    }
    if (this.#failingSinceMs !== null) {
      if (this.#failureTold) this.#log.info({ failedForMs: Date.now() - this.#failingSinceMs, failedCommits: this.#failures }, 'recording runs works again');
      this.#failingSinceMs = null;
      this.#failures = 0;
      this.#failureTold = false;
    }
    // After the commit, so whoever is told reads what was written (daemon/events/hub.ts).
    this.#onCommit?.();
  }

  /** Whether commits are failing now (a full disk, a read-only file): new work is refused meanwhile (job-service.ts). */
  get failing(): boolean {
    return this.#failingSinceMs !== null;
  }

  /**
   * Call `listener` when commits start to fail (once per spell of failures): the daemon frees
   * what it owns (daemon.ts: truncates the WAL) before the retries go on.
   */
  onFailing(listener: () => void): void {
    this.#onFailing = listener;
  }

  /**
   * Call `listener` after each commit of queued writes (one listener: the event hub). Not
   * after a failed one: the writes are retried, and the listener hears of them then. It runs
   * inside whoever flushed (the scheduler's claim, a reader): it must only take note.
   */
  onCommit(listener: () => void): void {
    this.#onCommit = listener;
  }

  #failed(batch: (() => void)[], err: unknown): void {
    this.#queue = [...batch, ...this.#queue];
    const nowMs = Date.now();
    this.#failures += 1;
    const first = this.#failingSinceMs === null;
    this.#failingSinceMs ??= nowMs;
    // Once a minute, not once a second: a full disk must not also fill the log.
    const told = this.#failureLog.take();
    if (told) {
      this.#failureTold = true;
      this.#log.error(
        { err, writes: this.#queue.length, failedCommits: this.#failures, failingForMs: nowMs - this.#failingSinceMs, notLogged: told.held },
        'recording runs failed; retrying every second (logged once a minute until it works again)',
      );
    }
    if (first) {
      try {
        this.#onFailing?.();
      } catch (listenerErr) {
        this.#log.warn({ err: listenerErr }, 'freeing space after a failed commit failed');
      }
    }
    // unref: a retry pending at shutdown must not keep the process alive.
    if (!this.#closed) this.#retry = setTimeout(() => this.flush(), RETRY_AFTER_FAILURE_MS).unref();
  }

  /** Commit what is queued (one try) and take no more writes: the database closes next. */
  close(): void {
    this.flush();
    this.#closed = true;
    this.#cancelPending();
  }

  #cancelPending(): void {
    if (this.#flushSoon) clearImmediate(this.#flushSoon);
    if (this.#retry) clearTimeout(this.#retry);
    this.#flushSoon = null;
    this.#retry = null;
  }

  get queued(): number {
    return this.#queue.length;
  }
}
