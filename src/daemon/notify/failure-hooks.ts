/**
 * Told when it fails (issue 16 item 5): after a run ends FAILED, or a job goes inactive
 * for a reason other than the user's pause, run the job's failure hook (`--on-failure CMD`,
 * `--notify`), or the daemon-wide default for a job that sets none; and again when the job
 * recovers (its first run SUCCEEDED after a failure was told).
 *
 * - Once per streak: a failure repeated on every run is told once. Whether a streak has been
 *   told is stored on the job (jobs.failure_notified), so a daemon restarted mid-streak does
 *   not tell it again; it is stored when the hook is queued, so a hook the daemon stops
 *   before it ran is not run again (at most once, as cron's MAILTO).
 * - Cost: the hub notes only runs of jobs with a hook (an in-memory set, kept as jobs are
 *   submitted, updated and deleted), and a daemon without hooks does not even subscribe, so
 *   it notes and reads nothing for them. Processes are
 *   started on a turn of their own (setImmediate), never inside the hub's delivery; at most
 *   MAX_RUNNING at once, the rest queued (at most MAX_QUEUED, then dropped with a warning).
 * - The hook's environment is a scrubbed copy of the daemon's (HOOK_ENV_KEPT): never a token
 *   or a client secret. Its output (capped) and how it ended go to the daemon log.
 */
import os from 'node:os';
import type { DaemonEvent, RunEvent } from '../../contract/protocol.ts';
import { coerceError } from '../../core/errors.ts';
import { historyLine } from '../../core/history-line.ts';
import type { OnFailure } from '../../core/on-failure.ts';
import type { InactiveReason } from '../../core/vocabulary.ts';
import type { Logger } from '../../log/logger.ts';
import { printable } from '../../util/printable.ts';
import type { EventHub } from '../events/hub.ts';
import type { Db } from '../store/open.ts';
import { desktopNotification, type Urgency } from './desktop.ts';
import { hookedJobIds, hookState, newestEndedRun, setFailureNotified, untoldCandidates, type HookState } from './hook-store.ts';
import { runHook, type HookOutcome, type RunningHook } from './run-hook.ts';

/** Hooks running at once: a burst of failures (a provider down for every job) does not fork hundreds of shells. */
const MAX_RUNNING = 4;
/** Hooks waiting beyond those; more are dropped, with a warning each. */
const MAX_QUEUED = 100;
/** Between SIGTERM at the time limit and SIGKILL. */
const KILL_GRACE_MS = 5_000;
/** At shutdown, the grace running hooks get: the daemon's stop must not wait on them. */
const STOP_GRACE_MS = 500;
/** How far back a start looks for a failure that went untold (the daemon stopped before its event): a day. */
const CATCH_UP_WINDOW_MS = 86_400_000;
/** The longest GLOBUS_TIMER_ERROR. */
const ERROR_MAX_CHARS = 500;

/** The daemon's variables a hook keeps (LC_* as well); everything else, its secrets among them, is dropped. */
const HOOK_ENV_KEPT = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'TZ',
  'SHELL',
  'DISPLAY',
  'WAYLAND_DISPLAY',
  'DBUS_SESSION_BUS_ADDRESS',
  'XDG_RUNTIME_DIR',
] as const;

/** GLOBUS_TIMER_RUN_STATUS: a run FAILED, the job went INACTIVE, or it recovered (its run SUCCEEDED). */
type NoticeStatus = 'FAILED' | 'INACTIVE' | 'SUCCEEDED';

interface Notice {
  jobId: string;
  name: string;
  status: NoticeStatus;
  /** One line: why it failed or stopped; empty for a recovery. */
  error: string;
  run: RunEvent['run'] | null;
  hook: OnFailure;
}

interface Pending {
  notice: Notice;
  kind: 'command' | 'desktop';
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface FailureHooksDeps {
  db: Db;
  events: EventHub;
  log: Logger;
  /** config onFailureTimeoutMs. */
  timeoutMs: number;
  /** The daemon-wide hook (config.ts onFailureDefaultFromEnv), for jobs without their own. */
  defaultHook: OnFailure | null;
  /** The daemon's environment, scrubbed for each hook; default process.env. */
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  killGraceMs?: number;
}

export class FailureHooks {
  readonly #deps: FailureHooksDeps;
  readonly #hooked: Set<string>;
  /** Subscribed to the hub only while some job has a hook (or the default is set): else the hub has nothing to read for us. */
  #unsubscribe: (() => void) | null = null;
  #queue: Pending[] = [];
  readonly #running = new Map<RunningHook, Pending>();
  #pumpScheduled: NodeJS.Immediate | null = null;
  #closed = false;

  constructor(deps: FailureHooksDeps) {
    this.#deps = deps;
    this.#hooked = new Set(hookedJobIds(deps.db));
    this.#listen();
    this.#catchUp();
  }

  /**
   * At start: a failure committed just before the daemon stopped (its event not yet out, the
   * hub publishes after the commit) was never told, and its job is not marked told. Its
   * streak is told now: a job whose newest ended run failed within CATCH_UP_WINDOW_MS, or
   * that is inactive for a reason not the user's, and is not marked told.
   */
  #catchUp(): void {
    if (!this.#unsubscribe) return;
    const { db, log } = this.#deps;
    try {
      const { failed, inactive } = untoldCandidates(db, Date.now() - CATCH_UP_WINDOW_MS);
      for (const jobId of failed) {
        if (!this.#wants(jobId)) continue;
        const newest = newestEndedRun(db, jobId);
        const event = newest?.state === 'failed' ? this.#deps.events.runEvent(newest.id) : null;
        if (event) this.#runEnded(event);
      }
      for (const jobId of inactive) if (this.#wants(jobId)) this.#jobInactive(jobId);
    } catch (err) {
      log.warn({ err: coerceError(err) }, 'untold failures not looked for');
    }
    if (this.#queue.length > 0) this.#schedulePump();
  }

  /** A job was submitted, updated, paused, resumed or deleted: whether it has a hook now. Cheap: one row by its key. */
  jobChanged(jobId: string): void {
    const state = hookState(this.#deps.db, jobId);
    if (state?.onFailure && state.status !== 'deleted') this.#hooked.add(jobId);
    else this.#hooked.delete(jobId);
    this.#listen();
  }

  #listen(): void {
    const wanted = !this.#closed && (this.#deps.defaultHook !== null || this.#hooked.size > 0);
    if (wanted && !this.#unsubscribe) {
      this.#unsubscribe = this.#deps.events.subscribe((events) => this.#onEvents(events), { runs: 'completed', jobs: (id) => this.#wants(id) });
    } else if (!wanted && this.#unsubscribe) {
      this.#unsubscribe();
      this.#unsubscribe = null;
    }
  }

  /** Run nothing more; stop running hooks (SIGTERM, then SIGKILL) and wait for them. */
  async stop(): Promise<void> {
    this.#closed = true;
    this.#listen();
    if (this.#pumpScheduled) clearImmediate(this.#pumpScheduled);
    if (this.#queue.length > 0) this.#deps.log.warn({ dropped: this.#queue.length }, 'daemon stopping: queued failure hooks not run');
    this.#queue = [];
    const running = [...this.#running.keys()];
    for (const hook of running) hook.stop(STOP_GRACE_MS);
    await Promise.all(running.map((h) => h.done));
  }

  #wants(jobId: string): boolean {
    return this.#deps.defaultHook !== null || this.#hooked.has(jobId);
  }

  #onEvents(events: DaemonEvent[]): void {
    for (const e of events) {
      if (!this.#wants(e.job_id)) continue;
      try {
        if (e.type === 'job') {
          if (e.status === 'inactive') this.#jobInactive(e.job_id);
        } else if (e.run.completed_at !== null) this.#runEnded(e);
      } catch (err) {
        // A read or write that fails (the database closing) loses a notice, never the daemon.
        this.#deps.log.warn({ err: coerceError(err), jobId: e.job_id }, 'failure hook not run');
      }
    }
    if (this.#queue.length > 0) this.#schedulePump();
  }

  /** The job's hook, its own or the default; null without one, or once deleted. */
  #hookOf(state: HookState | null): OnFailure | null {
    if (!state || state.status === 'deleted') return null;
    return state.onFailure ?? this.#deps.defaultHook;
  }

  #runEnded(e: RunEvent): void {
    const { db } = this.#deps;
    const state = hookState(db, e.job_id);
    const hook = this.#hookOf(state);
    if (!state || !hook) return;
    if (e.run.run_state === 'failed') {
      // Closed because the job was deleted: the user's doing, not a failure.
      if (e.run.errors?.code === 'JOB_DELETED' || state.notified) return;
      setFailureNotified(db, e.job_id, true);
      this.#enqueue({ jobId: e.job_id, name: state.name, status: 'FAILED', error: clip(e.run.summary || 'failed'), run: e.run, hook });
    } else if (e.run.run_state === 'succeeded' && state.notified) {
      setFailureNotified(db, e.job_id, false);
      this.#enqueue({ jobId: e.job_id, name: state.name, status: 'SUCCEEDED', error: '', run: e.run, hook });
    }
  }

  #jobInactive(jobId: string): void {
    const { db } = this.#deps;
    const state = hookState(db, jobId);
    const hook = this.#hookOf(state);
    // Paused by the user, or resumed again since: nothing to tell.
    if (!state || !hook || state.status !== 'inactive' || state.notified) return;
    const reason = state.inactiveReason;
    if (!reason || reason.cause === 'user') return;
    setFailureNotified(db, jobId, true);
    this.#enqueue({ jobId, name: state.name, status: 'INACTIVE', error: clip(reasonLine(reason)), run: null, hook });
  }

  #enqueue(notice: Notice): void {
    const { log } = this.#deps;
    const vars = hookVariables(notice);
    const env = { ...scrubbedEnv(this.#deps.env ?? process.env), ...vars };
    const pending: Pending[] = [];
    if (notice.hook.command !== null) pending.push({ notice, kind: 'command', file: '/bin/sh', args: ['-c', notice.hook.command], env });
    if (notice.hook.notify) {
      const { title, body, urgency } = desktopText(notice);
      const desktop = desktopNotification(title, body, urgency, env, this.#deps.platform);
      if (desktop) pending.push({ notice, kind: 'desktop', file: desktop.file, args: desktop.args, env: { ...env, ...desktop.env } });
      else
        log.warn(
          { jobId: notice.jobId, status: notice.status },
          "no desktop session to notify (no D-Bus session bus, DISPLAY or WAYLAND_DISPLAY in the daemon's environment)",
        );
    }
    for (const p of pending) {
      if (this.#queue.length >= MAX_QUEUED) {
        log.warn({ jobId: notice.jobId, status: notice.status, hook: p.kind }, `failure hook dropped: ${MAX_QUEUED} are waiting already`);
        continue;
      }
      this.#queue.push(p);
    }
  }

  /** Processes start on a turn of their own: a fork is not done inside the hub's delivery (or the firing path). */
  #schedulePump(): void {
    this.#pumpScheduled ??= setImmediate(() => {
      this.#pumpScheduled = null;
      this.#pump();
    });
  }

  #pump(): void {
    while (!this.#closed && this.#running.size < MAX_RUNNING) {
      const next = this.#queue.shift();
      if (!next) return;
      const hook = runHook({
        file: next.file,
        args: next.args,
        env: next.env,
        cwd: next.env.HOME || os.homedir(),
        timeoutMs: this.#deps.timeoutMs,
        killGraceMs: this.#deps.killGraceMs ?? KILL_GRACE_MS,
      });
      this.#running.set(hook, next);
      void hook.done.then((outcome) => {
        this.#running.delete(hook);
        this.#logOutcome(next, outcome);
        if (this.#queue.length > 0) this.#schedulePump();
      });
    }
  }

  #logOutcome({ notice, kind }: Pending, o: HookOutcome): void {
    const fields = {
      jobId: notice.jobId,
      status: notice.status,
      hook: kind,
      exitCode: o.exitCode,
      signal: o.signal ?? undefined,
      durationMs: o.durationMs,
      stdout: o.stdout || undefined,
      stderr: o.stderr || undefined,
      droppedOutputBytes: o.droppedBytes || undefined,
    };
    const { log } = this.#deps;
    if (o.startError !== null) log.warn({ ...fields, error: o.startError }, `failure hook could not start (${o.startError})`);
    else if (o.timedOut) log.warn({ ...fields, timeoutMs: this.#deps.timeoutMs }, 'failure hook stopped at its time limit');
    else if (o.exitCode === 0) log.info(fields, 'failure hook ran');
    else log.warn(fields, o.exitCode === null ? `failure hook killed by ${o.signal}` : `failure hook exited with status ${o.exitCode}`);
  }
}

/** The daemon's environment reduced to HOOK_ENV_KEPT and LC_*. */
function scrubbedEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && ((HOOK_ENV_KEPT as readonly string[]).includes(key) || key.startsWith('LC_'))) kept[key] = value;
  }
  return kept;
}

/** What the hook is told, each value one printable line (an argument or a variable cannot carry a NUL). */
function hookVariables(n: Notice): Record<string, string> {
  const run = n.run;
  return {
    GLOBUS_TIMER_JOB_ID: n.jobId,
    GLOBUS_TIMER_JOB_NAME: printable(n.name),
    GLOBUS_TIMER_RUN_STATUS: n.status,
    GLOBUS_TIMER_ERROR: printable(n.error),
    GLOBUS_TIMER_HISTORY_LINE: run ? printable(historyLine(run)) : '',
    GLOBUS_TIMER_SLOT: run?.slot ?? '',
    GLOBUS_TIMER_REQUEST_ID: run?.request_id ?? '',
    GLOBUS_TIMER_ACTION_ID: run?.action_id ?? '',
  };
}

function desktopText(n: Notice): { title: string; body: string; urgency: Urgency } {
  const name = printable(n.name);
  if (n.status === 'SUCCEEDED') return { title: `${name}: recovered`, body: printable(n.run?.summary || 'the run succeeded'), urgency: 'normal' };
  if (n.status === 'INACTIVE') return { title: `${name}: stopped`, body: printable(n.error), urgency: 'critical' };
  return { title: `${name}: run failed`, body: printable(n.error), urgency: 'critical' };
}

/** Why a job went inactive, in one line: its cause and what its detail says. */
function reasonLine(reason: InactiveReason): string {
  const d = reason.detail;
  let detail = '';
  if (typeof d === 'string') detail = d;
  else if (typeof d === 'object' && d !== null) {
    const { message, code } = d as { message?: unknown; code?: unknown };
    detail = [code, message].filter((v): v is string => typeof v === 'string' && v !== '').join(': ');
  }
  return detail ? `${reason.cause}: ${detail}` : reason.cause;
}

function clip(text: string): string {
  const one = printable(text);
  return one.length <= ERROR_MAX_CHARS ? one : `${one.slice(0, ERROR_MAX_CHARS - 1)}…`;
}
