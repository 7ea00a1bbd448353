/**
 * The CLI's job commands against a Timers REST API (issue 15): the hosted Globus Timers
 * service, or another globus-timer daemon's API. It answers the same `job.*` calls as the
 * local daemon's JSON-RPC (contract/protocol.ts), so every command keeps one code path and
 * prints the same layouts; the documents are translated in remote/documents.ts.
 *
 * The calls go through the official JavaScript SDK, @globus/sdk (its `timers` service;
 * POST /jobs/, which it lacks, by hand), with its fetch replaced by ours (`sdkFetch`) so
 * that every request goes to this service's base URL and nowhere else, with a timeout, no
 * redirects and a bounded answer. Loaded only in remote mode (cli/context.ts): local
 * commands never load the SDK.
 */

import { timers } from '@globus/sdk';
import { Agent } from 'undici';
import { cliTokenProvider } from '../auth/tokens.ts';
import { tokenDestinationRefusal, tokenRulesFromEnv } from '../auth/token-rules.ts';
import type { JobsClient } from '../contract/client.ts';
import type { HistoryPage, JobDocument, JobMethodName, Methods, NextSlotsResult, SubmitJobParams, UpdateJobParams } from '../contract/protocol.ts';
import { AuthRequiredError, ERROR_CODES, InvalidInputError, JobNotFoundError, TimerError } from '../core/errors.ts';
import { parseJobId } from '../core/job-id.ts';
import { loginCommand, TIMERS_SCOPE } from '../core/scopes.ts';
import { formatIso } from '../core/time.ts';
import { transferActionUrl } from '../core/transfer.ts';
import { SERVICE_TOKEN_ENV, serviceName, type ServiceChoice } from './service.ts';
import { sendRequest, type HttpOptions, type HttpOutcome } from '../http/request.ts';
import { sdkExchange } from '../http/sdk-fetch.ts';
import { historyEntryOf, jobFromV1, timerJobOf, transferTimerOf, UnexpectedReplyError } from './documents.ts';

/** As the Globus SDKs (GLOBUS_SDK_HTTP_TIMEOUT defaults to 60 s). */
const REQUEST_TIMEOUT_MS = 60_000;
/** A list of every timer may be large (~1 KB a timer); more than this is not a Timers answer. */
const MAX_RESPONSE_BYTES = 256 << 20;
/** What globus-sdk retries (its default transport's RETRY_STATUSES, less 409). */
const RETRIED_STATUSES = new Set([429, 500, 502, 503, 504]);
const RETRY_DELAYS_MS = [500, 1_000, 2_000];
const MAX_RETRY_AFTER_MS = 10_000;
/** The hosted service's shortest interval (OAS: 60 s ≤ interval ≤ 365 d). */
const HOSTED_MIN_INTERVAL_SECONDS = 60;
/** `job history` pages: what the hosted service's `page_size` allows at most. */
const HISTORY_PAGE_MAX = 100;

type Json = Record<string, unknown>;

type JobsOp = 'list' | 'get' | 'delete' | 'patch' | 'pause' | 'resume' | 'create' | 'timer';

interface Answer {
  status: number;
  body: unknown;
}

export class RemoteTimers implements JobsClient {
  readonly #choice: Exclude<ServiceChoice, { kind: 'local' }>;
  readonly #name: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #token: (rejected: string | null) => Promise<string>;
  readonly #http: HttpOptions = { dispatcher: new Agent({ connections: 4 }), timeoutMs: REQUEST_TIMEOUT_MS, maxResponseBytes: MAX_RESPONSE_BYTES };

  private constructor(choice: Exclude<ServiceChoice, { kind: 'local' }>, env: NodeJS.ProcessEnv, token: (rejected: string | null) => Promise<string>) {
    this.#choice = choice;
    this.#name = serviceName(choice);
    this.#env = env;
    this.#token = token;
  }

  /**
   * For a URL: the token in GLOBUS_TIMER_SERVICE_TOKEN. For the hosted service: the Timers
   * scope's token from the token cache, refreshed as the daemon refreshes, and sent only
   * where the token rules let a Timers token go (auth/token-rules.ts).
   */
  static open(choice: Exclude<ServiceChoice, { kind: 'local' }>, env: NodeJS.ProcessEnv): RemoteTimers {
    if (choice.kind === 'url') {
      const token = env[SERVICE_TOKEN_ENV]?.trim();
      if (!token) {
        throw new InvalidInputError(
          `set ${SERVICE_TOKEN_ENV} to the token of the Timers API at ${choice.baseUrl} (for another globus-timer daemon: globus-timer api token, run there)`,
        );
      }
      return new RemoteTimers(choice, env, async () => token);
    }
    const refusal = tokenDestinationRefusal(TIMERS_SCOPE, `${choice.baseUrl}/jobs/`, tokenRulesFromEnv(env));
    if (refusal) throw new InvalidInputError(refusal);
    const tokens = cliTokenProvider(env, () => {});
    return new RemoteTimers(choice, env, async (rejected) => {
      const token = await tokens.getToken(TIMERS_SCOPE, { rejected });
      if (!token)
        throw new AuthRequiredError('ConsentRequired', [TIMERS_SCOPE], `no token for the Globus Timers service; run: ${loginCommand([TIMERS_SCOPE])}`);
      return token;
    });
  }

  /** The job methods the local daemon answers, from the service's REST API. */
  async call<M extends JobMethodName>(method: M, params: Methods[M]['params']): Promise<Methods[M]['result']> {
    const p = params as never;
    const answers: { [K in JobMethodName]?: (q: Methods[K]['params']) => Promise<Methods[K]['result']> } = {
      'job.get': async (q) => this.#job('get', q.job_id),
      'job.list': async (q) => ({ jobs: await this.#list(q.show_deleted ?? false), next_cursor: null }),
      'job.resolve': async (q) => ({ jobs: await Promise.all(q.job_ids.map((typed) => this.#resolve(typed))) }),
      'job.submit': async (q) => this.#submit(q),
      'job.delete': async (q) => this.#job('delete', q.job_id),
      'job.pause': async (q) => {
        await this.#send('pause', q.job_id);
        const job = await this.#job('get', q.job_id);
        return { job, paused: job.status === 'inactive' };
      },
      'job.resume': async (q) => {
        await this.#send('resume', q.job_id);
        const job = await this.#job('get', q.job_id);
        return { job, resumed: job.status === 'loaded' };
      },
      'job.update': async (q) => this.#update(q),
      'job.history': async (q) => this.#history(q.job_id, q.limit, q.cursor ?? null),
      'job.next': async (q) => nextOf(await this.#job('get', q.job_id), q.count ?? 5, Date.now()),
    };
    const answer = answers[method] as ((q: never) => Promise<Methods[M]['result']>) | undefined;
    if (!answer) throw new InvalidInputError(`${method.replace('.', ' ')} needs the local daemon: ${this.#name} has no such call (use --service local)`);
    return answer(p);
  }

  /** Ends its keep-alive connections. */
  async close(): Promise<void> {
    await this.#http.dispatcher.close();
  }

  async #job(op: 'get' | 'delete', jobId: string): Promise<JobDocument> {
    return jobFromV1(this.#name, (await this.#send(op, jobId)).body);
  }

  async #list(showDeleted: boolean): Promise<JobDocument[]> {
    const { body } = await this.#send('list', null);
    const list = (body as { jobs?: unknown } | null)?.jobs;
    if (!Array.isArray(list)) throw new UnexpectedReplyError(this.#name, 'jobs is not a list');
    const jobs = list.map((raw, i) => jobFromV1(this.#name, raw, `jobs[${i}]`));
    // In submission order, as the local daemon lists them (globus-cli asks for `order=submitted_at asc`).
    jobs.sort(bySubmission);
    return showDeleted ? jobs : jobs.filter((j) => j.status !== 'deleted');
  }

  /** A full id is looked up; a prefix is matched against the list (the service knows only full ids). */
  async #resolve(typed: string) {
    const ref = parseJobId(typed);
    if (ref.kind === 'id') {
      const job = await this.#job('get', ref.id);
      return { job_id: job.job_id, name: job.name, status: job.status };
    }
    const matches = (await this.#list(true)).filter((j) => j.job_id.startsWith(ref.prefix));
    const [only] = matches;
    if (matches.length === 1 && only) return { job_id: only.job_id, name: only.name, status: only.status };
    if (matches.length === 0) throw new TimerError(ERROR_CODES.JOB_NOT_FOUND, `no job id starts with ${ref.prefix} at ${this.#name}`);
    throw new InvalidInputError(`job id prefix ${ref.prefix} matches ${matches.length} jobs (${matches.map((j) => j.job_id).join(', ')}); give more of the id`);
  }

  async #submit(params: SubmitJobParams): Promise<JobDocument> {
    if (params.cron != null) throw this.#lacks('cron schedules (--cron)', 'use --interval');
    if (params.policy?.misfire !== undefined || params.policy?.overlap !== undefined) throw this.#lacks('misfire and overlap policies', 'leave them out');
    // Run by the daemon the job is on: a REST API takes none (issue 16 item 5).
    if (params.on_failure != null) throw this.#lacks('failure hooks (--on-failure, --notify)', 'leave them out');
    if (params.interval_seconds === undefined) throw new InvalidInputError('give --interval');
    if (this.#choice.kind === 'hosted' && params.interval_seconds < HOSTED_MIN_INTERVAL_SECONDS) {
      throw new InvalidInputError(`${this.#name} runs a timer at most once a minute: give --interval ${HOSTED_MIN_INTERVAL_SECONDS} or more`);
    }
    const startIso = params.start ?? new Date().toISOString();
    if (params.callback_url === transferActionUrl(this.#env)) {
      const { body } = await this.#send('timer', null, transferTimerOf(params, startIso));
      const timer = (body as { timer?: { job_id?: unknown } } | null)?.timer;
      if (typeof timer?.job_id !== 'string') throw new UnexpectedReplyError(this.#name, 'timer.job_id is not a string');
      return this.#job('get', timer.job_id);
    }
    const answer = await this.#send('create', null, timerJobOf(params, startIso));
    return jobFromV1(this.#name, answer.body);
  }

  async #update(params: UpdateJobParams) {
    const { job_id: jobId, ...change } = params;
    const patch: Json = {};
    if (change.name !== undefined) patch.name = change.name;
    const others = Object.keys(change).filter((k) => k !== 'name' && k !== 'client_timezone');
    if (others.length > 0) {
      if (this.#choice.kind === 'hosted')
        throw this.#lacks(`changing ${others.join(', ')} (it changes only a timer's name)`, 'copy the job with the new settings and delete the old one');
      if (change.cron !== undefined || change.timezone !== undefined) throw this.#lacks('cron schedules', 'use --interval');
      if (change.policy !== undefined) throw this.#lacks('misfire and overlap policies', 'leave them out');
      if (change.on_failure !== undefined) throw this.#lacks('failure hooks (--on-failure, --notify)', 'leave them out');
      // Another globus-timer daemon takes these too (its PATCH extension, daemon/api/requests.ts).
      if (change.interval_seconds !== undefined) patch.interval = change.interval_seconds;
      if (change.start !== undefined) patch.start = change.start;
      if (change.stop_after !== undefined) patch.stop_after = change.stop_after;
      if (change.callback_body !== undefined) patch.callback_body = change.callback_body;
    }
    const job = jobFromV1(this.#name, (await this.#send('patch', jobId, patch)).body);
    return { job, reanchored: change.interval_seconds !== undefined || change.start !== undefined };
  }

  /** `results`, a page at a time (`results_pt`), as `job history` rows. */
  async #history(jobId: string, limit: number | undefined, cursor: string | null): Promise<HistoryPage> {
    const query: Record<string, string> = { page_size: String(Math.min(limit ?? 20, HISTORY_PAGE_MAX)) };
    if (cursor) query.results_pt = cursor;
    const job = jobFromV1(this.#name, (await this.#send('get', jobId, undefined, query)).body);
    return { runs: job.results.data.map(historyEntryOf), next_cursor: job.results.page_next };
  }

  #lacks(what: string, instead: string): InvalidInputError {
    return new InvalidInputError(`${this.#name} has no ${what}: ${instead}, or keep this job on the local daemon`);
  }

  /**
   * One call of the SDK's `timers.jobs` (POST /jobs/, which it lacks, by hand over the same
   * HTTP), with the token; see #exchange for retries and a refused token.
   */
  #send(op: JobsOp, jobId: string | null, payload?: Json, query?: Record<string, string>): Promise<Answer> {
    const id = jobId ?? '';
    const base = this.#choice.baseUrl;
    const call = (headers: Record<string, string>): Promise<HttpOutcome> => {
      if (op === 'create')
        return sendRequest('POST', `${base}/jobs/`, { headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(payload) }, this.#http);
      if (op === 'timer') return sdkExchange(base, this.#http, (o) => timers.timer.create({ headers, payload: payload as never }, o));
      return sdkExchange(base, this.#http, (o) => {
        switch (op) {
          case 'list':
            return timers.jobs.getAll({ headers }, o);
          case 'get':
            return timers.jobs.get(id, { headers, ...(query ? { query } : {}) }, o);
          case 'delete':
            return timers.jobs.remove(id, { headers }, o);
          case 'patch':
            return timers.jobs.patch(id, { headers, payload: payload as never }, o);
          case 'pause':
            return timers.jobs.pause(id, { headers }, o);
          case 'resume':
            return timers.jobs.resume(id, { headers }, o);
        }
      });
    };
    // A create is never sent twice: a lost answer may still have made the timer.
    return this.#exchange(call, jobId, op !== 'create' && op !== 'timer');
  }

  /**
   * Send with the token; once more with a fresh one if the hosted service refused it (it had
   * expired early). Idempotent calls are retried as the Globus SDKs retry them: on no
   * answer, 429 and 5xx, after 0.5, 1 and 2 s or the service's Retry-After (at most 10 s).
   */
  async #exchange(call: (headers: Record<string, string>) => Promise<HttpOutcome>, jobId: string | null, idempotent: boolean): Promise<Answer> {
    let token = await this.#token(null);
    for (let attempt = 0; ; attempt++) {
      let out = await call({ Authorization: `Bearer ${token}` });
      if (out.kind === 'response' && out.httpStatus === 401 && this.#choice.kind === 'hosted' && attempt === 0) {
        token = await this.#token(token);
        out = await call({ Authorization: `Bearer ${token}` });
      }
      const transient = out.kind === 'transport' || RETRIED_STATUSES.has(out.httpStatus);
      if (idempotent && transient && attempt < RETRY_DELAYS_MS.length) {
        const waitMs = out.kind === 'response' && out.retryAfterMs !== null ? Math.min(out.retryAfterMs, MAX_RETRY_AFTER_MS) : RETRY_DELAYS_MS[attempt]!;
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        continue;
      }
      if (out.kind === 'transport')
        throw new TimerError(ERROR_CODES.SERVICE_FAILED, `no answer from ${this.#name}: ${out.message}; check the address, then try again`);
      if (out.httpStatus >= 200 && out.httpStatus < 300) {
        if (out.json === undefined && out.text !== '') throw new UnexpectedReplyError(this.#name, `HTTP ${out.httpStatus} with a body that is not JSON`);
        return { status: out.httpStatus, body: out.json ?? null };
      }
      throw this.#failure(out.httpStatus, out.json ?? null, jobId);
    }
  }

  #failure(status: number, body: unknown, jobId: string | null): TimerError {
    const message = errorMessageOf(body);
    if (status === 404 && jobId) return new JobNotFoundError(jobId);
    if (status === 401 || status === 403) {
      const fix =
        this.#choice.kind === 'hosted' ? `run: ${loginCommand([TIMERS_SCOPE])}` : `check ${SERVICE_TOKEN_ENV} (globus-timer api token on that machine)`;
      return new AuthRequiredError('LoginRequired', [TIMERS_SCOPE], `${this.#name} refused the token (HTTP ${status}${message ? `: ${message}` : ''}); ${fix}`);
    }
    if (status === 422 || status === 400) return new InvalidInputError(`${this.#name} refused the request (HTTP ${status})${message ? `: ${message}` : ''}`);
    return new TimerError(ERROR_CODES.SERVICE_FAILED, `${this.#name} failed (HTTP ${status})${message ? `: ${message}` : ''}; try again later`);
  }
}

/** The message of a Timers error body, read as globus-sdk's TimersAPIError reads it (timers-api.md §6). */
function errorMessageOf(body: unknown): string | null {
  if (body === null || typeof body !== 'object') return null;
  const b = body as Json;
  if (typeof b.message === 'string') return b.message;
  const inner = b.error as Json | undefined;
  if (inner && typeof inner === 'object') {
    const text = inner.detail ?? inner.title;
    if (typeof text === 'string') return text;
  }
  if (typeof b.detail === 'string') return b.detail;
  if (Array.isArray(b.detail)) {
    return b.detail.map((d: Json) => `${typeof d?.msg === 'string' ? d.msg : 'invalid'}: ${Array.isArray(d?.loc) ? d.loc.join('.') : '?'}`).join('; ');
  }
  return null;
}

/** Submission order, as the local daemon lists (by instant: the text of a time need not sort, `…01+00:00` has no fraction), then id. */
function bySubmission(a: JobDocument, b: JobDocument): number {
  return Date.parse(a.submitted_at) - Date.parse(b.submitted_at) || (a.job_id < b.job_id ? -1 : a.job_id > b.job_id ? 1 : 0);
}

/** `job next` from the schedule the service reports: its next run, then every interval, up to the end. */
function nextOf(job: JobDocument, count: number, nowMs: number): NextSlotsResult {
  if (job.status === 'deleted') return { slots: [], note: 'the job is deleted: it never runs again' };
  if (job.status === 'finished') return { slots: [], note: 'the job is finished: it never runs again' };
  if (job.status === 'inactive') return { slots: [], note: `the job is paused: nothing runs until globus-timer job resume ${job.job_id}` };
  const intervalMs = (job.interval ?? 0) * 1000;
  const firstMs = Date.parse(job.next_run ?? job.start);
  const endMs = job.stop_after?.date ? Date.parse(job.stop_after.date) : Number.POSITIVE_INFINITY;
  const left = job.stop_after?.n_runs != null ? Math.max(0, job.stop_after.n_runs - job.n_runs) : Number.POSITIVE_INFINITY;
  const slots: string[] = [];
  for (let atMs = firstMs; slots.length < Math.min(count, left) && atMs <= endMs; atMs += intervalMs) {
    if (atMs >= nowMs - intervalMs) slots.push(formatIso(atMs));
    if (intervalMs <= 0) break;
  }
  const stopped = slots.length < count;
  const note = !stopped
    ? null
    : left <= slots.length
      ? `no runs after these: stop_after.n_runs is ${job.stop_after?.n_runs}`
      : `no runs after these: stop_after.date is ${job.stop_after?.date}`;
  return { slots, note };
}
