/**
 * Timers API request bodies (timers-api.md §3) → this daemon's job parameters
 * (contract/protocol.ts), so that a job made through the API is the same job the CLI
 * makes, in the one store. Shapes are checked by the schemas (api/schemas.ts); what needs
 * more is checked here, every problem named with its place (FastAPI's `loc`). The job's
 * own rules (URL, body, names, dates that leave a slot) stay the service's: its
 * InvalidInputError is answered 422 as well.
 *
 * - Times without an offset are UTC (`TimerJob.start` as globus-sdk's own example sends
 *   it, §4); offsets are honoured. They reach the service as `+00:00` instants.
 * - A job that runs once (`interval: null` with `stop_after_n: 1`, or a V2 `once`
 *   schedule) has no form of its own here: it is an interval job with `stop_after.n_runs`
 *   1, its interval the longest there is (MAX_INTERVAL_SECONDS), so no second slot could
 *   come even if its end were lifted; a time in the past means now. The documents show it
 *   as upstream does (interval null, `{"type": "once"}`): api/documents.ts.
 */

import type { SubmitJobParams, UpdateJobParams } from '../../contract/protocol.ts';
import { InvalidInputError, type ValidationProblem } from '../../core/errors.ts';
import { MAX_INTERVAL_SECONDS } from '../../core/input.ts';
import { formatIso, parseDateTime } from '../../core/time.ts';
import { currentTransferParams, transferActionUrl } from '../../core/transfer.ts';
import { TRANSFER_SCOPE } from '../../core/scopes.ts';
import { flowScope, knownScope } from '../../actions/known-scopes.ts';
import { JOB_UPDATE_SCHEMA, RESUME_SCHEMA, TIMER_JOB_SCHEMA, V2_TIMER_CREATE_SCHEMA } from './schemas.ts';
import { checkBody, invalid, missing, throwProblems } from './validate.ts';

/** A flow's run URL at the Flows service, as the hosted Timers service calls it (§8.11). */
function flowRunUrl(flowId: string): string {
  return `https://flows.automate.globus.org/flows/${flowId}/run`;
}

/** What the conversions need besides the body. */
export interface RequestContext {
  /** The daemon's environment: the Transfer AP URL override, the Flows hosts. */
  env: NodeJS.ProcessEnv;
  nowMs: number;
}

type Loc = ValidationProblem['loc'];
type StopAfter = { date?: string | null; n_runs?: number | null };

/** Collects problems while a body is converted; `done()` throws them all at once. */
class Problems {
  readonly list: ValidationProblem[] = [];
  add(p: ValidationProblem): void {
    this.list.push(p);
  }
  /** An instant as `+00:00` text, naive read as UTC; undefined (and a problem) when it does not parse. */
  time(text: string, loc: Loc): number | undefined {
    try {
      return parseDateTime(text, String(loc.at(-1)), 'UTC');
    } catch (err) {
      if (!(err instanceof InvalidInputError)) throw err;
      this.add({ loc, msg: 'invalid datetime format', type: 'value_error.datetime' });
      return undefined;
    }
  }
  /** Whole seconds, 1 to MAX_INTERVAL_SECONDS (a float of a whole number is fine: Python's timedelta sends 60.0). */
  seconds(value: number, loc: Loc): number | undefined {
    if (Number.isInteger(value) && value >= 1 && value <= MAX_INTERVAL_SECONDS) return value;
    this.add(invalid(loc, `the interval must be a whole number of seconds from 1 to ${MAX_INTERVAL_SECONDS}`));
    return undefined;
  }
  done(): void {
    throwProblems(this.list);
  }
}

function isoOrNull(ms: number | undefined): string | null {
  return ms === undefined ? null : formatIso(ms);
}

/** `stop_after` (a date string or `{date, n_runs}`) and `stop_after_n` as one end condition. */
function stopAfterOf(p: Problems, stopAfter: unknown, stopAfterN: number | null | undefined, loc: Loc): StopAfter | null | undefined {
  let end: StopAfter | null | undefined;
  if (typeof stopAfter === 'string') end = { date: isoOrNull(p.time(stopAfter, [...loc, 'stop_after'])) };
  else if (stopAfter === null) end = null;
  else if (stopAfter !== undefined) {
    const { date, n_runs } = stopAfter as StopAfter;
    end = {};
    if (date !== undefined) end.date = date === null ? null : isoOrNull(p.time(date, [...loc, 'stop_after', 'date']));
    if (n_runs !== undefined) end.n_runs = n_runs;
  }
  if (stopAfterN !== undefined) {
    if (end?.n_runs != null && stopAfterN !== null && end.n_runs !== stopAfterN) {
      p.add(invalid([...loc, 'stop_after_n'], 'stop_after_n and stop_after.n_runs differ: give one of them'));
    }
    end = { ...(end ?? {}), n_runs: stopAfterN };
  }
  return end;
}

/** A once job starts at the time given, or now if that is past (or not given). */
function onceStart(startMs: number | undefined, nowMs: number): string {
  return formatIso(startMs === undefined ? nowMs : Math.max(startMs, nowMs));
}

function defaultName(nowMs: number): string {
  return `Timer created ${formatIso(nowMs)}`;
}

interface TimerJobBody {
  callback_url: string;
  callback_body: Record<string, unknown>;
  start: string;
  interval?: number | null;
  name?: string;
  stop_after?: unknown;
  stop_after_n?: number | null;
  scope?: string | null;
}

/**
 * `POST /jobs/` (a `TimerJob`). Without a scope, the one known from the URL (Transfer AP,
 * a flow: actions/known-scopes.ts), as `job submit` does; a job for the legacy Transfer
 * provider is moved to the current one (core/transfer.ts), as `job submit` does too.
 */
export function submitParamsFromTimerJob(body: unknown, ctx: RequestContext): SubmitJobParams {
  const job = checkBody<TimerJobBody>(TIMER_JOB_SCHEMA, body);
  const p = new Problems();
  const loc = ['body'];
  const startMs = p.time(job.start, [...loc, 'start']);
  const end = stopAfterOf(p, job.stop_after, job.stop_after_n, loc);
  const interval = job.interval ?? null;
  let schedule: Pick<SubmitJobParams, 'start' | 'interval_seconds' | 'stop_after'>;
  if (interval === null) {
    if (end?.n_runs !== 1) p.add(invalid([...loc, 'interval'], 'interval may be null only for a job that runs once: give stop_after_n 1'));
    schedule = { start: onceStart(startMs, ctx.nowMs), interval_seconds: MAX_INTERVAL_SECONDS, stop_after: { ...end, n_runs: 1 } };
  } else {
    const seconds = p.seconds(interval, [...loc, 'interval']);
    schedule = { start: isoOrNull(startMs), interval_seconds: seconds ?? 1, stop_after: end ?? null };
  }
  p.done();
  const params: SubmitJobParams = {
    name: job.name ?? defaultName(ctx.nowMs),
    ...schedule,
    callback_url: job.callback_url,
    callback_body: job.callback_body,
    scope: job.scope ?? null,
  };
  const moved = currentTransferParams(params, ctx.env).params;
  return { ...moved, scope: moved.scope ?? knownScope(moved.callback_url, ctx.env) };
}

interface ScheduleBody {
  type: 'once' | 'recurring';
  datetime?: string;
  interval_seconds?: number;
  interval?: number;
  start?: string;
  end?: { condition?: 'time' | 'iterations'; datetime?: string; count?: number; iterations?: number };
}

/** A V2 schedule (§3d) as start, interval and end. `interval` and `end.iterations` are aliases (§8.5); an end with no condition is read from its keys. */
function scheduleOf(p: Problems, s: ScheduleBody, loc: Loc, nowMs: number): Pick<SubmitJobParams, 'start' | 'interval_seconds' | 'stop_after'> {
  if (s.type === 'once') {
    const atMs = s.datetime === undefined ? undefined : p.time(s.datetime, [...loc, 'datetime']);
    return { start: onceStart(atMs, nowMs), interval_seconds: MAX_INTERVAL_SECONDS, stop_after: { n_runs: 1 } };
  }
  const given = s.interval_seconds ?? s.interval;
  let seconds: number | undefined;
  if (given === undefined) p.add(missing([...loc, 'interval_seconds']));
  else seconds = p.seconds(given, [...loc, s.interval_seconds === undefined ? 'interval' : 'interval_seconds']);
  const start = s.start === undefined ? null : isoOrNull(p.time(s.start, [...loc, 'start']));
  let stopAfter: StopAfter | null = null;
  const end = s.end;
  if (end) {
    const endLoc = [...loc, 'end'];
    const condition = end.condition ?? (end.datetime !== undefined ? 'time' : 'iterations');
    if (condition === 'time') {
      if (end.datetime === undefined) p.add(missing([...endLoc, 'datetime']));
      else stopAfter = { date: isoOrNull(p.time(end.datetime, [...endLoc, 'datetime'])) };
    } else {
      const count = end.count ?? end.iterations;
      if (count === undefined) p.add(missing([...endLoc, 'count']));
      else stopAfter = { n_runs: count };
    }
  }
  return { start, interval_seconds: seconds ?? 1, stop_after: stopAfter };
}

interface TimerBody {
  timer: { timer_type: 'transfer' | 'flow'; name?: string; schedule: ScheduleBody; flow_id?: string; body: Record<string, unknown> };
}

/** Keys of a transfer body the SDK removes (data.py:129-130); dropped if a client sends them anyway. */
const TRANSFER_ONLY_AT_SUBMIT = ['submission_id', 'skip_activation_check'];

/**
 * A flow start document's keys → the run request's (an Action Provider request, which the
 * Flows run URL takes): `run_managers`/`run_monitors` are its `manage_by`/`monitor_by`.
 * `tags` and `activity_notification_policy` have no place in a run request here: refused.
 */
const FLOW_KEYS: Readonly<Record<string, string>> = { body: 'body', label: 'label', run_managers: 'manage_by', run_monitors: 'monitor_by' };

function flowRunRequest(p: Problems, start: Record<string, unknown>, loc: Loc): Record<string, unknown> {
  const request: Record<string, unknown> = {};
  if (typeof start.body !== 'object' || start.body === null || Array.isArray(start.body)) p.add(missing([...loc, 'body']));
  for (const [key, value] of Object.entries(start)) {
    const name = Object.hasOwn(FLOW_KEYS, key) ? FLOW_KEYS[key] : undefined;
    if (name) request[name] = value;
    else p.add(invalid([...loc, key], `${key} is not supported by this daemon: give body, label, run_managers, run_monitors`));
  }
  return request;
}

/**
 * `POST /v2/timer` (`{"timer": TransferTimer | FlowTimer}`). A transfer timer runs the
 * Transfer Action Provider with the Transfer scope, exactly as `job transfer` makes it; a
 * flow timer runs the flow's run URL with the flow's scope.
 */
export function submitParamsFromTimer(body: unknown, ctx: RequestContext): SubmitJobParams {
  const { timer } = checkBody<TimerBody>(V2_TIMER_CREATE_SCHEMA, body);
  const p = new Problems();
  const loc = ['body', 'timer'];
  const schedule = scheduleOf(p, timer.schedule, [...loc, 'schedule'], ctx.nowMs);
  let target: Pick<SubmitJobParams, 'callback_url' | 'callback_body' | 'scope'>;
  if (timer.timer_type === 'transfer') {
    const transfer = Object.fromEntries(Object.entries(timer.body).filter(([k]) => !TRANSFER_ONLY_AT_SUBMIT.includes(k)));
    target = { callback_url: transferActionUrl(ctx.env), callback_body: { body: transfer }, scope: TRANSFER_SCOPE };
  } else {
    const flowId = timer.flow_id?.toLowerCase();
    if (flowId === undefined) p.add(missing([...loc, 'flow_id']));
    const request = flowRunRequest(p, timer.body, [...loc, 'body']);
    target = { callback_url: flowRunUrl(flowId ?? ''), callback_body: request, scope: flowScope(flowId ?? '') };
  }
  p.done();
  return { name: timer.name ?? defaultName(ctx.nowMs), ...schedule, ...target };
}

interface JobUpdateBody {
  name?: string;
  interval?: number;
  start?: string;
  stop_after?: unknown;
  stop_after_n?: number | null;
  callback_body?: Record<string, unknown>;
  callback_url?: unknown;
  scope?: unknown;
}

/** Keys a PATCH may carry that cannot change: saying so beats ignoring them. */
const FIXED_KEYS = ['callback_url', 'scope'] as const;

/**
 * `PATCH /jobs/{id}`: `name` as upstream; `interval`, `start`, `stop_after`,
 * `stop_after_n` and `callback_body` are our extension (what `job update` changes).
 */
export function updateParamsFromPatch(jobId: string, body: unknown): UpdateJobParams {
  const patch = checkBody<JobUpdateBody>(JOB_UPDATE_SCHEMA, body);
  const p = new Problems();
  const loc = ['body'];
  for (const key of FIXED_KEYS) {
    if (patch[key] !== undefined) p.add(invalid([...loc, key], `${key} cannot be changed: delete the job and create a new one`));
  }
  const params: UpdateJobParams = { job_id: jobId };
  if (patch.name !== undefined) params.name = patch.name;
  if (patch.interval !== undefined) params.interval_seconds = p.seconds(patch.interval, [...loc, 'interval']) ?? 1;
  if (patch.start !== undefined) params.start = isoOrNull(p.time(patch.start, [...loc, 'start'])) ?? '';
  const end = stopAfterOf(p, patch.stop_after, patch.stop_after_n, loc);
  if (end !== undefined) params.stop_after = end;
  if (patch.callback_body !== undefined) params.callback_body = patch.callback_body;
  if (Object.keys(params).length === 1 && p.list.length === 0) {
    p.add(invalid(loc, 'nothing to update: give name, interval, start, stop_after, stop_after_n or callback_body'));
  }
  p.done();
  return params;
}

/** The most results one GET /jobs/{id} pages in; as `job.history`'s limit. */
const MAX_RESULTS_PAGE = 1000;

/**
 * `GET /jobs/{id}?page_size=N&results_pt=TOKEN` (the OAS's queries): which page of the job's
 * `results`, newest first. Without them, the newest `defaultSize`.
 */
export function resultsPageOf(query: URLSearchParams, defaultSize: number): { limit: number; cursor: string | null } {
  const size = query.get('page_size');
  const limit = size === null ? defaultSize : Number(size);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RESULTS_PAGE) {
    throwProblems([{ loc: ['query', 'page_size'], msg: `ensure this value is an integer from 1 to ${MAX_RESULTS_PAGE}`, type: 'value_error' }]);
  }
  const cursor = query.get('results_pt');
  return { limit, cursor: cursor === null || cursor === '' ? null : cursor };
}

/**
 * `POST /jobs/{id}/resume`: `{}`, `{"update_credentials": bool}` (globus-sdk), the same as
 * a query parameter (the OAS), or no body. Checked, then not needed: this daemon reads the
 * user's tokens from its cache at every run.
 */
export function checkResume(body: unknown, query: URLSearchParams): void {
  if (body !== undefined) checkBody(RESUME_SCHEMA, body);
  const flag = query.get('update_credentials');
  if (flag !== null && !['true', 'false', '1', '0'].includes(flag.toLowerCase())) {
    throwProblems([{ loc: ['query', 'update_credentials'], msg: 'value could not be parsed to a boolean', type: 'type_error.bool' }]);
  }
}
