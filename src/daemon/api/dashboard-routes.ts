/**
 * The JSON the dashboard needs that the Timers API routes (api/routes.ts) do not give
 * (issue 16 item 3): the runs of every job in a time window, compact, for the timeline;
 * one job with its runs as `job history` shows them (slot, lateness, summary); and run now.
 * Under `/dashboard/api/` but for run now, which is a job's action like pause and resume.
 */
import { InvalidInputError, JobNotFoundError } from '../../core/errors.ts';
import { summarizeRun } from '../../core/run-summary.ts';
import type { RunRow } from '../store/schema.ts';
import type { ApiJobs } from './jobs.ts';
import type { ApiRequest, ApiRoute } from './types.ts';

/** The most runs one timeline answer holds (newest first); `truncated` says when there were more. */
const MAX_TIMELINE_RUNS = 20_000;
/** The widest window the timeline asks for: 90 days, and a day's margin. */
const MAX_WINDOW_MS = 91 * 24 * 3600_000;
/** Runs on a job's page, newest first. */
const JOB_PAGE_RUNS = 200;

/** A run on the timeline: times in ms since the epoch, as short as it can be (20,000 of them). */
interface TimelineRun {
  id: number;
  job: string;
  slot: number;
  fired: number;
  done: number | null;
  state: RunRow['state'];
  manual: boolean;
  /** fired − slot; null for a manual run. */
  late: number | null;
  summary: string;
}

export interface DashboardRoutesDeps {
  jobs: ApiJobs;
  /** The runs with a slot in [sinceMs, untilMs), newest first, at most `limit` (store/runs.ts runsInWindow). */
  runsInWindow: (sinceMs: number, untilMs: number, limit: number) => RunRow[];
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

function timelineRunOf(run: RunRow): TimelineRun {
  return {
    id: run.id,
    job: run.jobId,
    slot: run.slotAtMs,
    fired: run.firedAtMs,
    done: run.completedAtMs,
    state: run.state,
    manual: run.manual,
    late: run.manual ? null : run.firedAtMs - run.slotAtMs,
    summary: summarizeRun(run),
  };
}

export function dashboardRoutes({ jobs, runsInWindow, now = Date.now }: DashboardRoutesDeps): ApiRoute[] {
  return [
    {
      method: 'GET',
      pattern: '/dashboard/api/runs',
      handle: (req) => {
        const t = now();
        const until = instantOf(req.query, 'until', t + 3600_000);
        const since = Math.max(instantOf(req.query, 'since', t - 7 * 24 * 3600_000), until - MAX_WINDOW_MS);
        const rows = runsInWindow(since, until, MAX_TIMELINE_RUNS + 1);
        const truncated = rows.length > MAX_TIMELINE_RUNS;
        return { status: 200, body: { since, until, now: t, truncated, runs: rows.slice(0, MAX_TIMELINE_RUNS).map(timelineRunOf) } };
      },
    },
    {
      method: 'GET',
      pattern: '/dashboard/api/jobs/:job_id',
      handle: (req) => {
        const jobId = jobIdOf(req);
        const { results: _results, ...job } = jobs.get(jobId);
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
