/**
 * What the Timers REST API routes (api/routes.ts) do to jobs, and the two ways it is done.
 *
 * The API runs on a worker thread of its own (api/worker.ts, issue 14 item 8: the firing path
 * stays first): HTTP parsing, the token, validation, reading jobs, building documents and
 * JSON, all of it there, on the second core, never between a due slot and its request. It
 * reads jobs from its own read-only connection to the database. What changes a job is done
 * by the one JobService on the main thread, where the scheduler and the runner live: the
 * worker sends the call over a MessagePort (`callsOverPort`) and the main thread answers it
 * (`answerCalls`). In-process tests use `apiJobs` directly.
 */

import type { TokenProvider } from '../../auth/tokens.ts';
import type {
  JobDocument,
  JobPage,
  ListJobsParams,
  PauseParams,
  PauseResult,
  HistoryPage,
  HistoryParams,
  ResumeResult,
  RunNowParams,
  RunNowResult,
  SubmitJobParams,
  UpdateJobParams,
  UpdateJobResult,
} from '../../contract/protocol.ts';
import { type ErrorCode, RequestValidationError, TimerError, type ValidationProblem } from '../../core/errors.ts';
import { loginCommand } from '../../core/scopes.ts';
import { authRequirementsReason, type InactiveReason } from '../../core/vocabulary.ts';
import type { JobService } from '../jobs/job-service.ts';

/** The routes' view of the job store: reads answered at once, changes maybe on another thread. */
export interface ApiJobs {
  get(jobId: string): JobDocument;
  list(params: ListJobsParams): JobPage;
  /** A page of a job's runs, newest first (GET /jobs/{id}?page_size=&results_pt=). */
  history(params: HistoryParams): HistoryPage;
  submit(params: SubmitJobParams): Promise<JobDocument>;
  update(params: UpdateJobParams): Promise<UpdateJobResult>;
  delete(jobId: string): Promise<JobDocument>;
  pause(params: PauseParams): Promise<PauseResult>;
  resume(jobId: string): Promise<ResumeResult>;
  /** Fire one run now, outside the grid (the dashboard's Run now). */
  runNow(params: RunNowParams): Promise<RunNowResult>;
}

/** The changes, by name: what crosses the MessagePort. */
type Changes = Pick<ApiJobs, 'submit' | 'update' | 'delete' | 'pause' | 'resume' | 'runNow'>;
type ChangeName = keyof Changes;
const CHANGES: readonly ChangeName[] = ['submit', 'update', 'delete', 'pause', 'resume', 'runNow'];

/**
 * A new job's reason to wait: its scope has no consent the token provider knows of (asked
 * without the network), so it is made `inactive` with cause `globus_auth_requirements` and the
 * scope to consent to, as the hosted service does. A provider that cannot tell leaves it loaded.
 */
function consentMissing(params: SubmitJobParams, tokens: Pick<TokenProvider, 'hasConsent'> | undefined): InactiveReason | undefined {
  const scope = params.scope?.trim();
  if (!scope || tokens?.hasConsent?.(scope) !== false) return undefined;
  return authRequirementsReason(
    scope,
    'ConsentRequired',
    `no consent for scope ${scope}; run: ${loginCommand([scope])}, then: globus-timer job resume (this job's id)`,
  );
}

/**
 * The job service itself (the main thread's, or a test's), with the consent rule at submit.
 * `beforeChange` is awaited before each change: the daemon's waits for a gap between fires
 * (betweenFires), so that the API's work on the main thread never lands on a due slot.
 */
export function apiJobs(service: JobService, tokens?: Pick<TokenProvider, 'hasConsent'>, beforeChange: () => Promise<void> = async () => {}): ApiJobs {
  const gated =
    <A, R>(change: (arg: A) => R) =>
    async (arg: A): Promise<R> => {
      await beforeChange();
      return change(arg);
    };
  return {
    get: (jobId) => service.get(jobId),
    history: (params) => service.history(params),
    // No bound in bytes: the pages are pieces of one streamed answer, not RPC frames.
    list: (params) => service.list(params, { maxBytes: Number.POSITIVE_INFINITY }),
    submit: gated((params: SubmitJobParams) => service.submit(params, { inactive: consentMissing(params, tokens) })),
    update: gated((params: UpdateJobParams) => service.update(params)),
    delete: gated((jobId: string) => service.delete(jobId)),
    pause: gated((params: PauseParams) => service.pause(params)),
    resume: gated((jobId: string) => service.resume(jobId)),
    runNow: gated((params: RunNowParams) => service.runNow(params)),
  };
}

/**
 * How long an API change may take on the main thread (a submit with its checks and insert is
 * a fraction of this): one that would start closer than this to the scheduler's next wake
 * waits until just after it.
 */
const CHANGE_BUDGET_MS = 2;

/**
 * Resolves when the main thread has a gap before its next fire: at once, or just after the
 * fire(s) in the way; after three waits it goes ahead (at 1,000 fires/s and more there are
 * no gaps, and a change must not wait for ever).
 */
export async function betweenFires(msUntilWake: () => number | null): Promise<void> {
  for (let wait = 0; wait < 3; wait++) {
    const ms = msUntilWake();
    if (ms === null || ms > CHANGE_BUDGET_MS) return;
    await new Promise((resolve) => setTimeout(resolve, ms + 1));
  }
}

// ---------------------------------------------------------------------------------------
// Over a MessagePort

/** A worker's parentPort, or the Worker seen from the main thread. */
interface Port {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  postMessage(message: unknown): void;
}

interface CallMessage {
  id: number;
  change: ChangeName;
  arg: unknown;
}

/** An error as it crosses: what the server needs to answer it (status from the code, 422 problems). */
interface ErrorShape {
  code: ErrorCode | null;
  message: string;
  problems?: ValidationProblem[];
}

type ReplyMessage = { id: number; ok: unknown } | { id: number; error: ErrorShape };

export function errorShape(err: unknown): ErrorShape {
  if (err instanceof RequestValidationError) return { code: err.code, message: err.message, problems: err.problems };
  if (err instanceof TimerError) return { code: err.code, message: err.message };
  return { code: null, message: (err as Error)?.message ?? String(err) };
}

export function errorOf(shape: ErrorShape): Error {
  if (shape.problems) return new RequestValidationError(shape.problems);
  if (shape.code) return new TimerError(shape.code, shape.message);
  return new Error(shape.message);
}

function isCall(m: unknown): m is CallMessage {
  const c = m as CallMessage;
  return typeof c?.id === 'number' && CHANGES.includes(c.change);
}

/** The main thread's side: answer each change the worker asks for with `jobs`. Messages that are not calls are left to `other`. */
export function answerCalls(port: Port, jobs: Changes, other: (message: unknown) => void): void {
  port.on('message', (m: unknown) => {
    if (!isCall(m)) return other(m);
    const change = jobs[m.change] as (arg: unknown) => Promise<unknown>;
    change(m.arg).then(
      (ok) => port.postMessage({ id: m.id, ok } satisfies ReplyMessage),
      (err: unknown) => port.postMessage({ id: m.id, error: errorShape(err) } satisfies ReplyMessage),
    );
  });
}

/** The worker's side: reads from `reader` (its own connection), changes sent to the main thread over `port`. */
export function callsOverPort(port: Port, reader: Pick<ApiJobs, 'get' | 'list' | 'history'>): ApiJobs {
  let next = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  port.on('message', (message) => {
    const m = message as ReplyMessage;
    const w = typeof m?.id === 'number' ? waiting.get(m.id) : undefined;
    if (!w) return;
    waiting.delete(m.id);
    if ('error' in m) w.reject(errorOf(m.error));
    else w.resolve(m.ok);
  });
  const call =
    <A, R>(change: ChangeName) =>
    (arg: A): Promise<R> =>
      new Promise((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
        port.postMessage({ id, change, arg } satisfies CallMessage);
      });
  return {
    get: (jobId) => reader.get(jobId),
    list: (params) => reader.list(params),
    history: (params) => reader.history(params),
    submit: call('submit'),
    update: call('update'),
    delete: call('delete'),
    pause: call('pause'),
    resume: call('resume'),
    runNow: call('runNow'),
  };
}
