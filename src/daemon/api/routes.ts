/**
 * The Timers REST API routes (timers-api.md §2) over the daemon's one job store: a job
 * made here is the CLI's job, and the other way round. Each route turns a request body
 * into job parameters (api/requests.ts), asks the jobs (api/jobs.ts: read here, changed by
 * the main thread's JobService, where the consent rule at submit lives too), and answers in
 * Timers' documents (api/documents.ts). Errors are thrown (core/errors.ts) and answered by
 * the server: an unknown id JobNotFoundError (404), a bad body RequestValidationError (422).
 */

import type { JobDocument } from '../../contract/protocol.ts';
import { JobNotFoundError } from '../../core/errors.ts';
import { RESULTS_IN_DOCUMENT } from '../jobs/document.ts';
import type { ApiJobs } from './jobs.ts';
import { toV1Document, toV2Document, type DocumentContext } from './documents.ts';
import { checkResume, resultsPageOf, submitParamsFromTimer, submitParamsFromTimerJob, updateParamsFromPatch } from './requests.ts';
import { JsonChunks, type ApiRequest, type ApiResponse, type ApiRoute } from './types.ts';

export interface TimersApiDeps {
  jobs: ApiJobs;
  /** The daemon's environment (Transfer AP URL override, Flows hosts); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The daemon's clock; default Date.now. */
  now?: () => number;
}

/**
 * Jobs per service.list page while GET /jobs/ gathers them all (it has no pages upstream):
 * each page is one piece of the streamed answer (api/server.ts sendChunks), so a list of
 * 10,000 jobs (megabytes) is never whole in memory, and other requests are answered between
 * its pieces.
 */
const LIST_PAGE_JOBS = 50;

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

export function timersApiRoutes(deps: TimersApiDeps): ApiRoute[] {
  const { jobs } = deps;
  const env = deps.env ?? process.env;
  const now = deps.now ?? Date.now;
  const ctx = (): DocumentContext => ({ env, nowMs: now(), timerTypes: new Map() });
  const ok = (body: unknown, status = 200): ApiResponse => ({ status, body });

  // `{"jobs": [...]}` a page at a time: at 10,000 jobs the whole answer is megabytes.
  async function* listPieces(wanted: Set<JobDocument['status']>): AsyncGenerator<string> {
    const c = ctx();
    let cursor: string | null = null;
    let comma = '';
    yield '{"jobs":[';
    do {
      const page = jobs.list({ limit: LIST_PAGE_JOBS, cursor });
      const docs = page.jobs.filter((job) => wanted.has(job.status)).map((job) => JSON.stringify(toV1Document(job, c)));
      if (docs.length > 0) {
        yield comma + docs.join(',');
        comma = ',';
      }
      cursor = page.next_cursor;
    } while (cursor);
    yield ']}';
  }
  const listJobs = (req: ApiRequest): ApiResponse => ok(new JsonChunks(listPieces(statusesOf(req.query))));

  return [
    { method: 'GET', pattern: '/jobs/', handle: listJobs },
    {
      method: 'POST',
      pattern: '/jobs/',
      handle: async (req) => {
        const c = ctx();
        return ok(toV1Document(await jobs.submit(submitParamsFromTimerJob(req.body, c)), c), 201);
      },
    },
    {
      method: 'GET',
      pattern: '/jobs/:job_id',
      handle: (req) => {
        const jobId = jobIdOf(req);
        const job = jobs.get(jobId);
        // `results` a page at a time, with `page_next` for the next (older) one, as upstream pages them.
        const { limit, cursor } = resultsPageOf(req.query, RESULTS_IN_DOCUMENT);
        const page = jobs.history({ job_id: jobId, limit, cursor });
        return ok(toV1Document({ ...job, results: { data: page.runs, page_next: page.next_cursor } }, ctx()));
      },
    },
    {
      method: 'PATCH',
      pattern: '/jobs/:job_id',
      handle: async (req) => {
        const jobId = jobIdOf(req);
        jobs.get(jobId); // an unknown id is 404 before its body is judged
        return ok(toV1Document((await jobs.update(updateParamsFromPatch(jobId, req.body))).job, ctx()));
      },
    },
    { method: 'DELETE', pattern: '/jobs/:job_id', handle: async (req) => ok(toV1Document(await jobs.delete(jobIdOf(req)), ctx())) },
    {
      method: 'POST',
      pattern: '/jobs/:job_id/pause',
      handle: async (req) => {
        const jobId = jobIdOf(req);
        await jobs.pause({ job_id: jobId });
        return ok({ message: `Successfully paused job ${jobId}.` });
      },
    },
    {
      method: 'POST',
      pattern: '/jobs/:job_id/resume',
      handle: async (req) => {
        const jobId = jobIdOf(req);
        jobs.get(jobId);
        checkResume(req.body, req.query);
        await jobs.resume(jobId);
        return ok({ message: `Successfully resumed job ${jobId}.` });
      },
    },
    {
      method: 'POST',
      pattern: '/v2/timer',
      handle: async (req) => {
        const c = ctx();
        return ok({ timer: toV2Document(await jobs.submit(submitParamsFromTimer(req.body, c)), c) }, 201);
      },
    },
  ];
}
