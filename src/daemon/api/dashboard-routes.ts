/**
 * The JSON the dashboard needs that the Timers API routes (api/routes.ts) do not give
 * (issue 16 item 3): the runs of every job in a time window, compact, for the timeline;
 * one job with its runs as `job history` shows them (slot, lateness, summary); the job list
 * (the Timers API's, under the dashboard's path: the cookie does not open the Timers API);
 * and run now. Under `/dashboard/api/` but for run now, which is a job's action like pause
 * and resume.
 */
import { InvalidInputError, JobNotFoundError } from '../../core/errors.ts';
import { summarizeRun } from '../../core/run-summary.ts';
import type { TimelineRunRow } from '../store/runs.ts';
import type { JobDocument } from '../../contract/protocol.ts';
import type { ApiJobs } from './jobs.ts';
import type { ApiRequest, ApiRoute } from './types.ts';

/** The most runs one timeline answer holds (newest first); `truncated` says when there were more. */
const MAX_TIMELINE_RUNS = 20_000;
/** The widest window the timeline asks for: 90 days, and a day's margin. */
const MAX_WINDOW_MS = 91 * 24 * 3600_000;
/** Runs on a job's page, newest first. */
const JOB_PAGE_RUNS = 200;
/**
 * Action documents read for one timeline answer, at most (each may be 1 MiB): the newest
 * runs' summaries come from theirs; past it a run's summary is its status alone.
 */
const MAX_TIMELINE_DOCUMENT_BYTES = 8 << 20;

/** A run on the timeline: times in ms since the epoch, as short as it can be (20,000 of them). */
interface TimelineRun {
  id: number;
  job: string;
  slot: number;
  fired: number;
  done: number | null;
  state: TimelineRunRow['state'];
  manual: boolean;
  /** fired − slot; null for a manual run. */
  late: number | null;
  summary: string;
}

export interface DashboardRoutesDeps {
  jobs: ApiJobs;
  /** The runs with a slot in [sinceMs, untilMs), newest first, at most `limit` (store/runs.ts runsInWindow). */
  runsInWindow: (sinceMs: number, untilMs: number, limit: number) => TimelineRunRow[];
  /** One run's action document as stored, JSON text (store/runs.ts runActionDocumentText). */
  actionDocument: (runId: number) => string | null;
  /** The Timers API's job list (api/routes.ts GET /jobs/), served at /dashboard/api/jobs. */
  listJobs: ApiRoute['handle'];
  now?: () => number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function jobIdOf(req: ApiRequest): string {
  const text = req.params.job_id ?? '';
  if (!UUID.test(text)) throw new JobNotFoundError(text);
  return text.toLowerCase();
}

/** An instant in ms from `?since=` / `?until=`: ms since the epoch or ISO-8601; absent: `fallback`. */
function instantOf(query: URLSearchParams, name: string, fallback: number): number {
  const text = query.get(name);
  if (text === null || text === '') return fallback;
  const ms = /^\d{1,15}$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new InvalidInputError(`invalid ${name} ${JSON.stringify(text)}: give ms since the epoch or an ISO-8601 instant`);
  return ms;
}

/** The summary line of each run: kept when it was compacted, or from its document while the byte budget lasts, else from its status. */
function summariesOf(rows: readonly TimelineRunRow[], actionDocument: (runId: number) => string | null): string[] {
  let budget = MAX_TIMELINE_DOCUMENT_BYTES;
  return rows.map((run) => {
    if (run.compactedSummary !== undefined) return run.compactedSummary;
    let doc: Record<string, unknown> | null = null;
    // An error is the summary (core/run-summary.ts): the document is not read for it.
    if (run.hasDocument && !run.error && budget > 0) {
      const text = actionDocument(run.id);
      budget -= text?.length ?? 0;
      doc = parsedObject(text);
    }
    if (doc === null && run.hasDocument && !run.error) return run.actionStatus ?? '';
    return summarizeRun({ ...run, actionDocument: doc });
  });
}

function parsedObject(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * A job as its page shows it: `on_failure.command` may hold a secret (a webhook URL with its
 * key), so the page learns only whether there is one, and whether notify is on.
 */
function jobForPage(job: JobDocument): Omit<JobDocument, 'results' | 'on_failure'> & { on_failure?: { command_set: boolean; notify: boolean } } {
  const { results: _results, on_failure, ...rest } = job;
  return on_failure ? { ...rest, on_failure: { command_set: on_failure.command !== null, notify: on_failure.notify } } : rest;
}

function timelineRunOf(run: TimelineRunRow, summary: string): TimelineRun {
  return {
    id: run.id,
    job: run.jobId,
    slot: run.slotAtMs,
    fired: run.firedAtMs,
    done: run.completedAtMs,
    state: run.state,
    manual: run.manual,
    late: run.manual ? null : run.firedAtMs - run.slotAtMs,
    summary,
  };
}

export function dashboardRoutes({ jobs, runsInWindow, actionDocument, listJobs, now = Date.now }: DashboardRoutesDeps): ApiRoute[] {
  return [
    { method: 'GET', pattern: '/dashboard/api/jobs', handle: listJobs },
    // What the page asks after its event stream failed: is the session still good (204), or gone (401)?
    { method: 'GET', pattern: '/dashboard/api/session', handle: () => ({ status: 204, body: undefined }) },
    {
      method: 'GET',
      pattern: '/dashboard/api/runs',
      handle: (req) => {
        const t = now();
        const until = instantOf(req.query, 'until', t + 3600_000);
        const since = Math.max(instantOf(req.query, 'since', t - 7 * 24 * 3600_000), until - MAX_WINDOW_MS);
        const found = runsInWindow(since, until, MAX_TIMELINE_RUNS + 1);
        const truncated = found.length > MAX_TIMELINE_RUNS;
        const rows = found.slice(0, MAX_TIMELINE_RUNS);
        const summaries = summariesOf(rows, actionDocument);
        return { status: 200, body: { since, until, now: t, truncated, runs: rows.map((run, i) => timelineRunOf(run, summaries[i]!)) } };
      },
    },
    {
      method: 'GET',
      pattern: '/dashboard/api/jobs/:job_id',
      handle: (req) => {
        const jobId = jobIdOf(req);
        const job = jobForPage(jobs.get(jobId));
        const page = jobs.history({ job_id: jobId, limit: JOB_PAGE_RUNS });
        // The provider's documents stay out: a page shows the summary line.
        const runs = page.runs.map(({ data: _data, ...entry }) => entry);
        return { status: 200, body: { now: now(), job, runs, more: page.next_cursor !== null } };
      },
    },
    {
      method: 'POST',
      pattern: '/jobs/:job_id/run',
      handle: async (req) => {
        const jobId = jobIdOf(req);
        const { run } = await jobs.runNow({ job_id: jobId });
        const { data: _data, ...fired } = run;
        return { status: 200, body: { message: `Started a run of job ${jobId}.`, run: fired } };
      },
    },
  ];
}
