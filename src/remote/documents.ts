/**
 * A Timers service's documents (timers-api.md §5: the V1 job document of `/jobs`) → ours
 * (contract/protocol.ts), so that remote mode prints with the same code as local mode; and
 * our job parameters → the bodies the service takes (a TimerJob, a TransferTimer). The
 * reverse of daemon/api/documents.ts and daemon/api/requests.ts.
 *
 * Status words, the service's → ours (as daemon/api/documents.ts maps them the other way):
 *   new, loaded, running, active → loaded;  inactive, paused → inactive;
 *   ended → finished;  deleted, delete_in_progress → deleted.
 * A reply without a field we read, or of another shape, is an error naming the field.
 */

import type { HistoryEntry, JobDocument, RunResult, SubmitJobParams } from '../contract/protocol.ts';
import { ERROR_CODES, InvalidInputError, TimerError } from '../core/errors.ts';
import { summarizeRun } from '../core/run-summary.ts';
import { DEFAULT_POLICY, type InactiveReason, type JobStatus, type RunState } from '../core/vocabulary.ts';
import { formatIso } from '../core/time.ts';

const STATUS_OF: Readonly<Record<string, JobStatus>> = {
  new: 'loaded',
  loaded: 'loaded',
  running: 'loaded',
  active: 'loaded',
  inactive: 'inactive',
  paused: 'inactive',
  ended: 'finished',
  deleted: 'deleted',
  delete_in_progress: 'deleted',
};

/** A reply that is not what the Timers API documents: exit 1, naming the service and the field. */
export class UnexpectedReplyError extends TimerError {
  constructor(service: string, what: string) {
    super(ERROR_CODES.SERVICE_FAILED, `${service} sent a reply this CLI cannot read: ${what}`);
    this.name = 'UnexpectedReplyError';
  }
}

type Json = Record<string, unknown>;

/** Reads fields of one reply, naming the field (`jobs[3].status`) when one is missing or of the wrong type. */
class Reader {
  readonly #service: string;
  readonly #at: string;
  readonly #doc: Json;
  constructor(service: string, doc: unknown, at: string) {
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new UnexpectedReplyError(service, `${at || 'the body'} is not an object`);
    this.#service = service;
    this.#at = at;
    this.#doc = doc as Json;
  }
  #bad(key: string, want: string): never {
    throw new UnexpectedReplyError(this.#service, `${this.#at ? `${this.#at}.` : ''}${key} is not ${want}`);
  }
  string(key: string): string {
    const v = this.#doc[key];
    return typeof v === 'string' ? v : this.#bad(key, 'a string');
  }
  stringOrNull(key: string): string | null {
    const v = this.#doc[key] ?? null;
    return v === null || typeof v === 'string' ? v : this.#bad(key, 'a string or null');
  }
  numberOrNull(key: string): number | null {
    const v = this.#doc[key] ?? null;
    return v === null || (typeof v === 'number' && Number.isFinite(v)) ? v : this.#bad(key, 'a number or null');
  }
  count(key: string): number {
    const v = this.#doc[key] ?? 0;
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : this.#bad(key, 'a count');
  }
  objectOrNull(key: string): Json | null {
    const v = this.#doc[key] ?? null;
    return v === null || (typeof v === 'object' && !Array.isArray(v)) ? (v as Json | null) : this.#bad(key, 'an object or null');
  }
  array(key: string): unknown[] {
    const v = this.#doc[key];
    return Array.isArray(v) ? v : this.#bad(key, 'a list');
  }
  child(key: string): Reader | null {
    const v = this.#doc[key] ?? null;
    return v === null ? null : new Reader(this.#service, v, this.#at ? `${this.#at}.${key}` : key);
  }
  raw(key: string): unknown {
    return this.#doc[key];
  }
  /** A time as the service writes it (`+00:00`, or naive UTC) in ours (`…Z`, milliseconds). */
  timeOrNull(key: string): string | null {
    const text = this.stringOrNull(key);
    if (text === null) return null;
    const ms = Date.parse(/[zZ]$|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
    return Number.isNaN(ms) ? this.#bad(key, 'a date-time') : formatIso(ms);
  }
  time(key: string): string {
    return this.timeOrNull(key) ?? this.#bad(key, 'a date-time');
  }
}

/** A run's state from what the service says of it: the action's status when there is one. */
function runStateOf(status: number | null, data: Json | null, errors: unknown): RunState {
  const action = typeof data?.status === 'string' ? data.status.toUpperCase() : null;
  if (action === 'SUCCEEDED') return 'succeeded';
  if (action === 'FAILED' || (errors !== null && errors !== undefined) || (status !== null && status >= 400)) return 'failed';
  if (action === 'ACTIVE' || action === 'INACTIVE') return 'active';
  return status === null ? 'pending' : 'active';
}

function runResultOf(service: string, raw: unknown, at: string): RunResult {
  const r = new Reader(service, raw, at);
  const data = r.objectOrNull('data');
  const status = r.numberOrNull('status');
  const errors = r.raw('errors') ?? null;
  const ranAt = r.timeOrNull('ran_at') ?? r.time('start_timestamp');
  const actionId = r.stringOrNull('resource_id') ?? (typeof data?.action_id === 'string' ? data.action_id : null);
  return {
    ran_at: ranAt,
    status,
    data,
    errors:
      errors === null
        ? null
        : {
            code: 'ACTION_HTTP',
            message: typeof errors === 'string' ? errors : JSON.stringify(errors),
            ...(status === null ? {} : { httpStatus: status }),
            providerError: errors,
          },
    slot: ranAt,
    run_state: runStateOf(status, data, errors),
    action_id: actionId,
    action_status: typeof data?.status === 'string' ? data.status : null,
    request_id: typeof data?.request_id === 'string' ? data.request_id : '',
    attempts: 1,
    completed_at: r.timeOrNull('end_timestamp'),
  };
}

/** The V1 job document (GET /jobs/{id}, an element of GET /jobs/'s `jobs`) as our JobDocument. */
export function jobFromV1(service: string, raw: unknown, at = ''): JobDocument {
  const r = new Reader(service, raw, at);
  const word = r.string('status');
  const status = STATUS_OF[word.toLowerCase()];
  if (!status) throw new UnexpectedReplyError(service, `${at ? `${at}.` : ''}status "${word}" is not a status this CLI knows`);
  const stop = r.child('stop_after');
  const reason = r.objectOrNull('inactive_reason');
  // A dict with `data` and `page_next`; some recorded replies have a bare list (timers-api.md §5a).
  const bare = Array.isArray(r.raw('results'));
  const results = bare ? null : r.child('results');
  const data = bare ? (r.raw('results') as unknown[]) : results ? results.array('data') : [];
  const resultsAt = at ? `${at}.results.data` : 'results.data';
  const runs = data.map((run, i) => runResultOf(service, run, `${resultsAt}[${i}]`));
  return {
    job_id: r.string('job_id'),
    name: r.stringOrNull('name') ?? '',
    start: r.time('start'),
    interval: r.numberOrNull('interval'),
    cron: null,
    timezone: null,
    stop_after: stop ? { date: stop.timeOrNull('date'), n_runs: stop.numberOrNull('n_runs') } : null,
    scope: r.stringOrNull('scope'),
    callback_url: r.string('callback_url'),
    callback_body: r.objectOrNull('callback_body') ?? {},
    status,
    inactive_reason: status === 'inactive' ? inactiveReasonOf(reason) : null,
    submitted_at: r.time('submitted_at'),
    last_ran_at: r.timeOrNull('last_ran_at'),
    next_run: r.timeOrNull('next_run'),
    n_runs: r.count('n_runs'),
    n_errors: r.count('n_errors'),
    results: { data: runs, page_next: results?.stringOrNull('page_next') ?? null },
    activity: { code: activityOf(status, runs[0]), start_timestamp: null },
    // The hosted service has no policies: what it does is what ours call the defaults.
    policy: { ...DEFAULT_POLICY },
    skipped_slots: { missed: 0, overlap: 0 },
  };
}

/** The service's causes that are ours too are kept; any other is an action error that keeps the service's words in `detail`. */
function inactiveReasonOf(reason: Json | null): InactiveReason {
  const cause = typeof reason?.cause === 'string' ? reason.cause : null;
  const detail = reason?.detail ?? null;
  if (cause === 'user' || cause === 'globus_auth_requirements' || cause === 'action_error') return { cause, detail };
  return { cause: 'action_error', detail: { cause, detail } };
}

function activityOf(status: JobStatus, newest: RunResult | undefined): JobDocument['activity']['code'] {
  if (status === 'inactive') return 'paused';
  if (status === 'finished' || status === 'deleted') return status;
  return newest?.run_state === 'active' ? 'run_in_progress' : 'awaiting_next_run';
}

/** A page of `results` as `job history` rows: the service keeps no slot, so no lateness. */
export function historyEntryOf(run: RunResult): HistoryEntry {
  const summary = summarizeRun({
    state: run.run_state,
    attempts: run.attempts,
    actionStatus: run.action_status,
    actionDocument: run.data,
    error: run.errors,
  });
  return { ...run, lateness_ms: null, manual: false, summary };
}

/** Naive UTC is what the service's own clients send; `+00:00` is what it answers. Ours: an ISO instant. */
function serviceTime(iso: string): string {
  return formatIso(Date.parse(iso));
}

/** A `job submit` as the TimerJob of POST /jobs/ (timers-api.md §3a). */
export function timerJobOf(params: SubmitJobParams, startIso: string): Json {
  const body: Json = {
    name: params.name,
    callback_url: params.callback_url,
    callback_body: params.callback_body,
    start: serviceTime(startIso),
    interval: params.interval_seconds,
  };
  if (params.scope) body.scope = params.scope;
  const stop = params.stop_after;
  if (stop && (stop.date != null || stop.n_runs != null)) {
    body.stop_after = { date: stop.date != null ? serviceTime(stop.date) : null, n_runs: stop.n_runs ?? null };
  }
  return body;
}

/** A `job transfer` as the TransferTimer of POST /v2/timer (§3b): the Transfer task document is the action body's `body`. */
export function transferTimerOf(params: SubmitJobParams, startIso: string): Json {
  const stop = params.stop_after;
  if (stop?.n_runs != null && stop.date != null) {
    throw new InvalidInputError(
      'a transfer timer of the Timers service ends after a number of runs or at a date, not both: give one of --stop-after-runs, --stop-after-date',
    );
  }
  const schedule: Json = { type: 'recurring', interval_seconds: params.interval_seconds, start: serviceTime(startIso) };
  if (stop?.n_runs != null) schedule.end = { condition: 'iterations', count: stop.n_runs };
  else if (stop?.date != null) schedule.end = { condition: 'time', datetime: serviceTime(stop.date) };
  const task = (params.callback_body.body ?? {}) as Json;
  return { timer: { timer_type: 'transfer', name: params.name, schedule, body: { DATA_TYPE: 'transfer', ...task } } };
}
