import type { Argv, CommandModule } from 'yargs';
import { InvalidInputError } from '../../../core/errors.ts';
import { checkRunState } from '../../../core/input.ts';
import { formatIso, parseDateTime } from '../../../core/time.ts';
import type { HistoryEntry, HistoryPage, HistoryParams } from '../../../contract/protocol.ts';
import type { GlobalArgs } from '../../context.ts';
import { oneJobCommand, type OneJobArgs } from '../../job-command.ts';
import { single } from '../../options.ts';
import { formatTable, runStatusLabel, toJson } from '../../output.ts';
import { displayTime } from '../../display-time.ts';

interface HistoryArgs extends OneJobArgs {
  limit?: string | undefined;
  since?: string | undefined;
  status?: string | undefined;
}

const DEFAULT_LIMIT = 20;
/** The largest page the daemon answers; more is fetched page by page. */
const PAGE = 1000;

/** The flags as RPC filters, checked here so a bad one exits 2 before the daemon is asked. */
export function historyQueryFromFlags(args: Pick<HistoryArgs, 'limit' | 'since' | 'status'>): {
  limit: number;
  filters: Pick<HistoryParams, 'since' | 'status'>;
} {
  let limit = DEFAULT_LIMIT;
  if (args.limit !== undefined) {
    if (!/^\s*\d+\s*$/.test(args.limit) || Number(args.limit) < 1 || !Number.isSafeInteger(Number(args.limit))) {
      throw new InvalidInputError(`invalid --limit ${JSON.stringify(args.limit)}: give a whole number of runs, 1 or more`);
    }
    limit = Number(args.limit);
  }
  const filters: Pick<HistoryParams, 'since' | 'status'> = {};
  if (args.since !== undefined) filters.since = formatIso(parseDateTime(args.since, '--since'));
  if (args.status !== undefined) {
    try {
      filters.status = checkRunState(args.status);
    } catch {
      throw new InvalidInputError(`invalid --status ${JSON.stringify(args.status)}: use pending, active, succeeded or failed`);
    }
  }
  return { limit, filters };
}

/** `job history JOB_ID [--limit N] [--since T] [--status S]`: a job's runs, newest first. */
export const historyCommand: CommandModule<GlobalArgs, HistoryArgs> = oneJobCommand({
  command: 'history <job_id>',
  describe: "Show a job's runs, newest first: slot, fired at, lateness, action, status and what the provider reported",
  jobIdDescribe: 'The job whose runs to show',
  options: (y): Argv<HistoryArgs> =>
    y
      .option('limit', { ...single('limit'), alias: 'n', type: 'string', describe: `Show at most N runs, newest first (default ${DEFAULT_LIMIT})` })
      .option('since', { ...single('since'), type: 'string', describe: 'Only runs fired at or after: YYYY-MM-DD[THH:MM:SS][offset]; no offset = local time' })
      .option('status', { ...single('status'), type: 'string', describe: 'Only runs in this state: pending, active, succeeded or failed' }),
  request: historyQueryFromFlags,
  call: async (c, { job_id, limit, filters }) => {
    const runs: HistoryEntry[] = [];
    let cursor: string | null = null;
    do {
      const page: HistoryPage = await c.call('job.history', { job_id, ...filters, limit: Math.min(PAGE, limit - runs.length), cursor });
      runs.push(...page.runs);
      cursor = page.next_cursor;
    } while (cursor && runs.length < limit);
    return { job_id, runs, more: cursor !== null };
  },
  // `--format json` only: this command has no -v (there is no job document to print).
  print: ({ job_id, runs, more }, args, { limit, filters }) =>
    args.format === 'json'
      ? toJson({ job_id, runs, more })
      : historyText(job_id, runs, more, limit, filters.since !== undefined || filters.status !== undefined),
});

/** `12 ms`, `1.5 s`, `3m 05s`, `2h 10m`. */
export function formatLateness(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 1000) return `${sign}${a} ms`;
  if (a < 60_000) return `${sign}${(a / 1000).toFixed(1)} s`;
  const s = Math.floor(a / 1000);
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${sign}${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function historyText(jobId: string, runs: HistoryEntry[], more: boolean, limit: number, filtered: boolean): string {
  if (runs.length === 0) return filtered ? `No runs of job ${jobId} match.` : `Job ${jobId} has not run yet.`;
  const table = formatTable(
    ['Slot', 'Fired At', 'Late', 'Action ID', 'Status', 'Summary'],
    runs.map((r) => [
      r.manual ? 'manual (job run)' : displayTime(r.slot),
      displayTime(r.ran_at),
      r.lateness_ms === null ? '' : formatLateness(r.lateness_ms),
      r.action_id ?? '',
      runStatusLabel(r),
      r.summary,
    ]),
  );
  return more ? `${table}\n(the newest ${limit} runs; older ones with a larger --limit)` : table;
}
