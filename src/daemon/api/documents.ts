/**
 * Our job document (contract/protocol.ts JobDocument, what the CLI sees) → the Timers
 * API's documents (timers-api.md §5): the V1 job document (`/jobs`) and the V2 timer
 * document (`/v2/timer`). Same job, same store; only the words differ.
 *
 * Status words: ours → the hosted service's
 *   loaded   → loaded     (scheduled; upstream also says `new` before the first run: we do not)
 *   inactive → inactive   (paused or blocked; `inactive_reason` is then always an object)
 *   finished → ended      (its end condition was met)
 *   deleted  → deleted
 */

import type { ActivityCode, JobDocument, RunResult } from '../../contract/protocol.ts';
import type { JobStatus } from '../../core/vocabulary.ts';
import { TRANSFER_SCOPE } from '../../core/scopes.ts';
import { knownScope } from '../../actions/known-scopes.ts';

const STATUS_WORDS: Record<JobStatus, string> = { loaded: 'loaded', inactive: 'inactive', finished: 'ended', deleted: 'deleted' };

type TimerType = 'transfer' | 'flow' | 'generic';

/** The V2 schedule form (§3d); a calendar job (ours, no upstream form) adds `cron` and `timezone` to a recurring one. */
type ApiSchedule =
  | { type: 'once'; datetime: string }
  | {
      type: 'recurring';
      interval_seconds: number | null;
      start: string;
      end?: { condition: 'time'; datetime: string } | { condition: 'iterations'; count: number };
      cron?: string;
      timezone?: string | null;
    };

type ApiActivity =
  | { code: 'awaiting_next_run'; next_run: string | null }
  | { code: 'run_in_progress'; start_timestamp: string | null; duration_seconds: number }
  | { code: 'retrying'; start_timestamp: string | null }
  | { code: 'paused'; reason: 'user' | 'globus_auth_requirements' | 'other' }
  | null;

/** The OAS JobResult fields, from one of our runs (which has more: the CLI's `job history`). */
interface ApiJobResult {
  data: Record<string, unknown> | null;
  errors: RunResult['errors'];
  status: number | null;
  ran_at: string;
  run_status: RunResult['run_state'];
  start_timestamp: string;
  end_timestamp: string | null;
  resource_id: string | null;
}

/** Recorded V1_TIMER keys, plus `timer_type`, `schedule` and `activity` (OAS JobRead). */
export interface V1JobDocument {
  name: string;
  start: string;
  stop_after: JobDocument['stop_after'];
  interval: number | null;
  callback_url: string;
  callback_body: Record<string, unknown>;
  inactive_reason: { cause: string; detail: unknown } | null;
  scope: string | null;
  job_id: string;
  status: string;
  submitted_at: string;
  last_ran_at: string | null;
  next_run: string | null;
  n_runs: number;
  n_errors: number;
  results: { data: ApiJobResult[]; page_next: string | null };
  timer_type: TimerType;
  schedule: ApiSchedule;
  activity: ApiActivity;
}

export interface V2TimerDocument {
  body: Record<string, unknown>;
  inactive_reason: V1JobDocument['inactive_reason'];
  job_id: string;
  last_ran_at: string | null;
  name: string;
  next_run: string | null;
  number_of_errors: number;
  number_of_runs: number;
  schedule: ApiSchedule;
  status: string;
  submitted_at: string;
  timer_type: TimerType;
  activity: ApiActivity;
  flow_id?: string;
}

/** What the documents need besides the job. */
export interface DocumentContext {
  env: NodeJS.ProcessEnv;
  nowMs: number;
  /**
   * Timer types already worked out in this request, by callback URL: a list of 10,000 jobs
   * has a handful of URLs, and telling one (its host against the Globus services') is dear.
   */
  timerTypes?: Map<string, TimerType>;
}

export function apiStatus(status: JobStatus): string {
  return STATUS_WORDS[status];
}

const FLOW_RUN_PATH = /^\/flows\/([0-9a-f-]{36})\/run\/?$/i;

function flowIdOf(url: string): string | null {
  try {
    return FLOW_RUN_PATH.exec(new URL(url).pathname)?.[1]?.toLowerCase() ?? null;
  } catch {
    return null;
  }
}

/** Transfer for the Transfer AP's run URL, flow for a flow's run URL at the Flows service, else generic (as globus-cli tells them, §7). */
function timerTypeOf(callbackUrl: string, ctx: DocumentContext): TimerType {
  const known = ctx.timerTypes?.get(callbackUrl);
  if (known) return known;
  const scope = knownScope(callbackUrl, ctx.env);
  const type = scope === TRANSFER_SCOPE ? 'transfer' : scope !== null && flowIdOf(callbackUrl) !== null ? 'flow' : 'generic';
  ctx.timerTypes?.set(callbackUrl, type);
  return type;
}

/** A job that runs exactly once (api/requests.ts makes them so): upstream's `interval: null`. */
function runsOnce(job: JobDocument): boolean {
  return job.cron === null && job.stop_after?.n_runs === 1;
}

function scheduleOf(job: JobDocument): ApiSchedule {
  if (runsOnce(job)) return { type: 'once', datetime: job.start };
  const schedule: ApiSchedule = { type: 'recurring', interval_seconds: job.interval, start: job.start };
  // Upstream has one end condition; a job of ours with both shows the count (the date is in stop_after).
  if (job.stop_after?.n_runs != null) schedule.end = { condition: 'iterations', count: job.stop_after.n_runs };
  else if (job.stop_after?.date != null) schedule.end = { condition: 'time', datetime: job.stop_after.date };
  if (job.cron !== null) {
    schedule.cron = job.cron;
    schedule.timezone = job.timezone;
  }
  return schedule;
}

function inactiveReasonOf(job: JobDocument): V1JobDocument['inactive_reason'] {
  if (job.status !== 'inactive') return null;
  // Always an object when inactive: `globus timer resume` crashes on a null (§8.7).
  const reason: { cause: string; detail?: unknown } = job.inactive_reason ?? { cause: 'other' };
  return { cause: reason.cause, detail: reason.detail ?? null };
}

function activityOf(job: JobDocument, nowMs: number): ApiActivity {
  const code: ActivityCode = job.activity.code;
  const since = job.activity.start_timestamp;
  switch (code) {
    case 'awaiting_next_run':
      return { code, next_run: job.next_run };
    case 'run_in_progress': {
      const sinceMs = since === null ? nowMs : Date.parse(since);
      return { code, start_timestamp: since, duration_seconds: Math.max(0, (nowMs - sinceMs) / 1000) };
    }
    case 'retrying':
      return { code, start_timestamp: since };
    case 'paused': {
      const cause = job.inactive_reason?.cause;
      return { code, reason: cause === 'user' || cause === 'globus_auth_requirements' ? cause : 'other' };
    }
    default:
      return null; // finished, deleted: "This timer is no longer active"
  }
}

function resultOf(run: RunResult): ApiJobResult {
  return {
    data: run.data,
    errors: run.errors,
    status: run.status,
    ran_at: run.ran_at,
    run_status: run.run_state,
    start_timestamp: run.ran_at,
    end_timestamp: run.completed_at,
    resource_id: run.action_id,
  };
}

/** The V1 job document (§5a); results newest first, as our documents already are. */
export function toV1Document(job: JobDocument, ctx: DocumentContext): V1JobDocument {
  return {
    name: job.name,
    start: job.start,
    stop_after: job.stop_after,
    interval: runsOnce(job) ? null : job.interval,
    callback_url: job.callback_url,
    callback_body: job.callback_body,
    inactive_reason: inactiveReasonOf(job),
    scope: job.scope,
    job_id: job.job_id,
    status: apiStatus(job.status),
    submitted_at: job.submitted_at,
    last_ran_at: job.last_ran_at,
    next_run: job.next_run,
    n_runs: job.n_runs,
    n_errors: job.n_errors,
    results: { data: job.results.data.map(resultOf), page_next: job.results.page_next },
    timer_type: timerTypeOf(job.callback_url, ctx),
    schedule: scheduleOf(job),
    activity: activityOf(job, ctx.nowMs),
  };
}

/** Our run request's keys → a flow start document's (the reverse of api/requests.ts FLOW_KEYS). */
const FLOW_START_KEYS: Readonly<Record<string, string>> = { manage_by: 'run_managers', monitor_by: 'run_monitors' };

/** The timer's `body`: the Transfer task document, a flow start document, or (a generic job) the whole run request. */
function v2BodyOf(job: JobDocument, type: TimerType): Record<string, unknown> {
  const request = job.callback_body;
  if (type === 'transfer') return (request.body as Record<string, unknown> | undefined) ?? {};
  if (type === 'flow') return Object.fromEntries(Object.entries(request).map(([k, v]) => [FLOW_START_KEYS[k] ?? k, v]));
  return request;
}

/** The V2 timer document (§5b): counts as `number_of_runs`/`number_of_errors`. */
export function toV2Document(job: JobDocument, ctx: DocumentContext): V2TimerDocument {
  const v1 = toV1Document(job, ctx);
  const flowId = v1.timer_type === 'flow' ? flowIdOf(job.callback_url) : null;
  return {
    body: v2BodyOf(job, v1.timer_type),
    inactive_reason: v1.inactive_reason,
    job_id: v1.job_id,
    last_ran_at: v1.last_ran_at,
    name: v1.name,
    next_run: v1.next_run,
    number_of_errors: v1.n_errors,
    number_of_runs: v1.n_runs,
    schedule: v1.schedule,
    status: v1.status,
    submitted_at: v1.submitted_at,
    timer_type: v1.timer_type,
    activity: v1.activity,
    ...(flowId ? { flow_id: flowId } : {}),
  };
}
