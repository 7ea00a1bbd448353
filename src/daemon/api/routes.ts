/**
 * The Timers REST API routes (timers-api.md §2) over the daemon's one JobService: a job
 * made here is the CLI's job, and the other way round. Each route turns a request body
 * into job parameters (api/requests.ts), calls the service, and answers in Timers'
 * documents (api/documents.ts). Errors are thrown (core/errors.ts) and answered by the
 * server: an unknown id JobNotFoundError (404), a bad body RequestValidationError (422).
 *
 * Tokens and consent: the routes make the job as `job submit` does, with its scope known
 * from the URL. The daemon's token rules (which host a scope's token may go to) apply at
 * submit. A job whose scope the daemon's token provider has no consent for (asked without
 * the network: TokenProvider.hasConsent) is created `inactive` with cause
 * `globus_auth_requirements` and the scope to consent to, as the hosted service does; the
 * runner's reason, one shape (authRequirementsReason). `session login --scope …` and
 * `globus-timer job resume ID` bring it to life. A provider that cannot tell (none wired
 * in) leaves the job loaded, and its first run finds out.
 */

import type { TokenProvider } from '../../auth/tokens.ts';
import type { JobDocument, SubmitJobParams } from '../../contract/protocol.ts';
import { JobNotFoundError } from '../../core/errors.ts';
import { loginCommand } from '../../core/scopes.ts';
import { authRequirementsReason, type InactiveReason } from '../../core/vocabulary.ts';
import type { JobService } from '../jobs/job-service.ts';
import { toV1Document, toV2Document } from './documents.ts';
import { checkResume, submitParamsFromTimer, submitParamsFromTimerJob, updateParamsFromPatch } from './requests.ts';
import type { ApiRequest, ApiResponse, ApiRoute } from './types.ts';

export interface TimersApiDeps {
  service: JobService;
  /** The daemon's environment (Transfer AP URL override, Flows hosts); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The daemon's clock; default Date.now. */
  now?: () => number;
  /** The runner's token provider, asked whether a new job's scope has consent; default: not asked. */
  tokens?: Pick<TokenProvider, 'hasConsent'>;
}

/** Jobs per service.list page while GET /jobs/ gathers them all (it has no pages upstream). */
const LIST_PAGE_JOBS = 500;

/** `filter_status` categories (OAS) → our statuses. Deleted jobs are never listed. */
const FILTER_CATEGORIES: Readonly<Record<string, JobDocument['status']>> = { active: 'loaded', inactive: 'inactive', ended: 'finished' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A job id from the path: a full UUID, any case. Anything else names no job (404, like an unknown UUID). */
function jobIdOf(req: ApiRequest): string {
  const text = req.params.job_id ?? '';
  if (!UUID.test(text)) throw new JobNotFoundError(text);
  return text.toLowerCase();
}

/** Statuses `filter_status=active,inactive` asks for (comma-separated, repeatable); unknown words are ignored, none known means all. */
function statusesOf(query: URLSearchParams): Set<JobDocument['status']> {
  const words = query
    .getAll('filter_status')
    .flatMap((v) => v.split(','))
    .map((w) => w.trim().toLowerCase());
  const statuses = new Set(words.flatMap((w) => (Object.hasOwn(FILTER_CATEGORIES, w) ? [FILTER_CATEGORIES[w]!] : [])));
  return statuses.size > 0 ? statuses : new Set(Object.values(FILTER_CATEGORIES));
}

/** A new job's reason to wait: its scope has no consent the provider knows of (see the module comment). */
function consentMissing(params: SubmitJobParams, tokens: TimersApiDeps['tokens']): InactiveReason | undefined {
  const scope = params.scope?.trim();
  if (!scope || tokens?.hasConsent?.(scope) !== false) return undefined;
  return authRequirementsReason(
    scope,
    'ConsentRequired',
    `no consent for scope ${scope}; run: ${loginCommand([scope])}, then: globus-timer job resume (this job's id)`,
  );
}

export function timersApiRoutes(deps: TimersApiDeps): ApiRoute[] {
  const { service } = deps;
  const submit = (params: SubmitJobParams) => service.submit(params, { inactive: consentMissing(params, deps.tokens) });
  const env = deps.env ?? process.env;
  const now = deps.now ?? Date.now;
  const ctx = () => ({ env, nowMs: now() });
  const ok = (body: unknown, status = 200): ApiResponse => ({ status, body });

  const listJobs = (req: ApiRequest): ApiResponse => {
    const wanted = statusesOf(req.query);
    const c = ctx();
    const jobs = [];
    let cursor: string | null = null;
    do {
      const page = service.list({ limit: LIST_PAGE_JOBS, cursor });
      for (const job of page.jobs) if (wanted.has(job.status)) jobs.push(toV1Document(job, c));
      cursor = page.next_cursor;
    } while (cursor);
    return ok({ jobs });
  };

  return [
    { method: 'GET', pattern: '/jobs/', handle: listJobs },
    {
      method: 'POST',
      pattern: '/jobs/',
      handle: (req) => {
        const c = ctx();
        return ok(toV1Document(submit(submitParamsFromTimerJob(req.body, c)), c), 201);
      },
    },
    { method: 'GET', pattern: '/jobs/:job_id', handle: (req) => ok(toV1Document(service.get(jobIdOf(req)), ctx())) },
    {
      method: 'PATCH',
      pattern: '/jobs/:job_id',
      handle: (req) => {
        const jobId = jobIdOf(req);
        service.get(jobId); // an unknown id is 404 before its body is judged
        return ok(toV1Document(service.update(updateParamsFromPatch(jobId, req.body)).job, ctx()));
      },
    },
    { method: 'DELETE', pattern: '/jobs/:job_id', handle: (req) => ok(toV1Document(service.delete(jobIdOf(req)), ctx())) },
    {
      method: 'POST',
      pattern: '/jobs/:job_id/pause',
      handle: (req) => {
        const jobId = jobIdOf(req);
        service.pause({ job_id: jobId });
        return ok({ message: `Successfully paused job ${jobId}.` });
      },
    },
    {
      method: 'POST',
      pattern: '/jobs/:job_id/resume',
      handle: (req) => {
        const jobId = jobIdOf(req);
        service.get(jobId);
        checkResume(req.body, req.query);
        service.resume(jobId);
        return ok({ message: `Successfully resumed job ${jobId}.` });
      },
    },
    {
      method: 'POST',
      pattern: '/v2/timer',
      handle: (req) => {
        const c = ctx();
        return ok({ timer: toV2Document(submit(submitParamsFromTimer(req.body, c)), c) }, 201);
      },
    },
  ];
}
