/**
 * The daemon's one source of events (issue 16): run changes and job changes, built once
 * and handed to every listener (the RPC socket's watchers, the dashboard's stream, the
 * failure hooks).
 *
 * A run change is taken note of when the runner queues its write, and read back only after
 * the write-behind has committed it (WriteBehind.onCommit), so an event never tells of a
 * state the database does not hold; a commit that fails (disk full) holds its events back
 * until the retry lands. Nothing is noted unless some listener wants it (`Interest`): a
 * daemon nobody watches pays a Set lookup per write, no query. With listeners, it is one
 * read of each changed run (and its job) per batch, whatever their number.
 */
import { progressOf } from '../../contract/events.ts';
import type { DaemonEvent, JobEvent, RunEvent } from '../../contract/protocol.ts';
import { coerceError, JobNotFoundError } from '../../core/errors.ts';
import type { Logger } from '../../log/logger.ts';
import { toHistoryEntry } from '../jobs/history.ts';
import { getJob } from '../store/jobs.ts';
import type { Db } from '../store/open.ts';
import { getRun, openRuns, openRunsOfJob } from '../store/runs.ts';
import type { JobRow, RunRow } from '../store/schema.ts';
import type { WriteBehind } from '../store/write-behind.ts';

export interface Interest {
  /** 'all': every run change (sent, accepted, each status poll, ended); 'completed': only runs that ended. Job events always. */
  runs: 'all' | 'completed';
  /** Whether runs of this job are wanted at all, asked before a change is noted. Default: every job. */
  jobs?: (jobId: string) => boolean;
}

/** The longest error message an event carries: the summary line says the rest. */
const EVENT_MESSAGE_MAX_CHARS = 1_000;

function clip(text: string): string {
  return text.length <= EVENT_MESSAGE_MAX_CHARS ? text : `${text.slice(0, EVENT_MESSAGE_MAX_CHARS - 1)}…`;
}

/** Open runs told to a watcher of every job when it starts: the newest; more would not fit one reply. */
const MAX_OPEN_RUNS_TOLD = 1_000;

type Listener = (events: DaemonEvent[]) => void;

interface Subscription {
  listener: Listener;
  interest: Interest;
}

export interface EventHubDeps {
  db: Db;
  /** The runner's write-behind: run events wait for its commits. */
  writes: WriteBehind;
  log: Logger;
  /** Resolves when the scheduler is not about to fire (api/jobs.ts betweenFires): a publish never lands on a due slot. */
  betweenFires?: () => Promise<void>;
}

/**
 * The least time between two publishes: changes in between go out together. Twenty a second
 * is smooth to the eye, and at hundreds of runs a second it turns hundreds of reads, frames
 * and writes per watcher into twenty.
 */
const PUBLISH_EVERY_MS = 50;

export class EventHub {
  readonly #deps: EventHubDeps;
  readonly #subs = new Set<Subscription>();
  /** Runs whose writes are queued, not yet committed. */
  #noted = new Set<number>();
  /** Runs committed, to be read and told at the next publish. */
  #committed = new Set<number>();
  /** Jobs changed (their writes commit at once: the job service writes directly). */
  #jobs = new Set<string>();
  #scheduled = false;
  #lastPublishMs = 0;

  constructor(deps: EventHubDeps) {
    this.#deps = deps;
    deps.writes.onCommit(() => this.#onCommit());
  }

  /** Listen; returns the unsubscribe function. Each batch comes after its commit, oldest first. */
  subscribe(listener: Listener, interest: Interest = { runs: 'all' }): () => void {
    const sub: Subscription = { listener, interest };
    this.#subs.add(sub);
    return () => this.#subs.delete(sub);
  }

  /** Whether anyone listens at all: with no listener, run writes are not even noted. */
  get listened(): boolean {
    return this.#subs.size > 0;
  }

  /** The runner queued a write of this run. */
  runChanged(runId: number, jobId: string, ended: boolean): void {
    if (this.#subs.size === 0 || this.#noted.has(runId)) return;
    for (const { interest } of this.#subs) {
      if ((ended || interest.runs === 'all') && (interest.jobs?.(jobId) ?? true)) {
        this.#noted.add(runId);
        return;
      }
    }
  }

  /** A job's row changed (submitted, updated, paused, resumed, made inactive, deleted), committed already or queued. */
  jobChanged(jobId: string): void {
    if (this.#subs.size === 0) return;
    this.#jobs.add(jobId);
    this.#schedule();
  }

  /**
   * The open runs of these jobs (null: of every job, the newest MAX_OPEN_RUNS_TOLD), as events,
   * oldest first: what a new watcher starts from. Queued writes are committed first, so a run
   * that has just ended is not told as open. An unknown job id is refused.
   */
  openRunEvents(jobIds: string[] | null): RunEvent[] {
    const { db, writes } = this.#deps;
    writes.flush();
    if (jobIds === null) {
      const runs = openRuns(db).slice(-MAX_OPEN_RUNS_TOLD);
      const jobs = new Map<string, JobRow | undefined>();
      return runs.map((run) => {
        if (!jobs.has(run.jobId)) jobs.set(run.jobId, getJob(db, run.jobId));
        return this.#runEventOf(run, jobs.get(run.jobId));
      });
    }
    const found = jobIds.map((id) => {
      const job = getJob(db, id.toLowerCase());
      if (!job) throw new JobNotFoundError(id);
      return job;
    });
    return found.flatMap((job) => openRunsOfJob(db, job.id).map((run) => this.#runEventOf(run, job)));
  }

  /** A run as an event, read now (after a restart: failure-hooks.ts catchUp); null when it is gone. */
  runEvent(runId: number): RunEvent | null {
    const run = getRun(this.#deps.db, runId);
    return run ? this.#runEventOf(run, getJob(this.#deps.db, run.jobId)) : null;
  }

  /**
   * A run as watchers are told it: its history entry without the provider's documents (its
   * status document, and the error document kept in `errors.providerError`), which may be a
   * megabyte each; the summary and the error's code and message say what happened.
   */
  #runEventOf(run: RunRow, job: JobRow | undefined): RunEvent {
    const { data: _document, errors, ...entry } = toHistoryEntry(run);
    const error = errors && { code: errors.code, message: clip(errors.message), ...(errors.httpStatus !== undefined ? { httpStatus: errors.httpStatus } : {}) };
    return {
      type: 'run',
      job_id: run.jobId,
      job_name: job?.name ?? '',
      run_id: run.id,
      run: { ...entry, errors: error },
      progress: progressOf(run.actionDocument),
    };
  }

  #onCommit(): void {
    if (this.#noted.size === 0) return;
    for (const id of this.#noted) this.#committed.add(id);
    this.#noted.clear();
    this.#schedule();
  }

  /**
   * Publish on a turn of its own (a commit can happen inside the scheduler's claim, which must
   * not wait on listeners), at most every PUBLISH_EVERY_MS, and between fires.
   */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const waitMs = Math.max(0, this.#lastPublishMs + PUBLISH_EVERY_MS - performance.now());
    const go = async () => {
      await this.#deps.betweenFires?.();
      this.#scheduled = false;
      this.#lastPublishMs = performance.now();
      this.#publish();
    };
    // unref: a publish pending at shutdown must not keep the daemon alive.
    if (waitMs > 0) setTimeout(() => void go(), waitMs).unref();
    else setImmediate(() => void go());
  }

  #publish(): void {
    const runIds = this.#committed;
    const jobIds = this.#jobs;
    this.#committed = new Set();
    this.#jobs = new Set();
    if (this.#subs.size === 0) return;
    const { db } = this.#deps;
    const jobs = new Map<string, JobRow | undefined>();
    const jobOf = (id: string) => {
      if (!jobs.has(id)) jobs.set(id, getJob(db, id));
      return jobs.get(id);
    };
    const events: DaemonEvent[] = [];
    try {
      for (const id of jobIds) {
        const job = jobOf(id);
        if (job) events.push({ type: 'job', job_id: id, status: job.status } satisfies JobEvent);
      }
      for (const id of runIds) {
        const run = getRun(db, id);
        if (run) events.push(this.#runEventOf(run, jobOf(run.jobId)));
      }
    } catch (err) {
      // A read that fails (the database closing at shutdown) loses these events, never a run.
      this.#deps.log.warn({ err: coerceError(err) }, 'run events not read; watchers miss them');
      return;
    }
    if (events.length > 0) this.#deliver(events);
  }

  #deliver(events: DaemonEvent[]): void {
    for (const { listener, interest } of [...this.#subs]) {
      const wanted = events.filter(
        (e) => e.type === 'job' || ((interest.runs === 'all' || e.run.completed_at !== null) && (interest.jobs?.(e.job_id) ?? true)),
      );
      if (wanted.length === 0) continue;
      // The same array when all is wanted: a listener may key its serialized form on it.
      try {
        listener(wanted.length === events.length ? events : wanted);
      } catch (err) {
        this.#deps.log.error({ err: coerceError(err) }, 'an event listener failed');
      }
    }
  }
}
