import type { Argv } from 'yargs';
import { InvalidInputError } from '../../core/errors.ts';
import { checkRunState } from '../../core/input.ts';
import { formatIso, parseDateTime } from '../../core/time.ts';
import type { HistoryEntry, HistoryPage, HistoryParams } from '../../contract/protocol.ts';
import { withDaemon, type CliIo, type GlobalArgs } from '../context.ts';
import { checkJobIdArg, resolveJobId } from '../job-ids.ts';
import { single } from '../options.ts';
import { formatTable, runStatusLabel, toJson } from '../output.ts';
import { displayTime } from '../display-time.ts';

interface HistoryArgs extends GlobalArgs {
  job_id: string;
  limit?: string | undefined;
  since?: string | undefined;
  status?: string | undefined;
}

const DEFAULT_LIMIT = 20;
/** The largest page the daemon answers; more is fetched page by page. */
const PAGE = 1000;

function historyBuilder(b: Argv<GlobalArgs>) {
  return b
    .positional('job_id', { type: 'string', demandOption: true, describe: 'The job whose runs to show' })
    .option('limit', { ...single('limit'), alias: 'n', type: 'string', describe: `Show at most N runs, newest first (default ${DEFAULT_LIMIT})` })
    .option('since', { ...single('since'), type: 'string', describe: 'Only runs fired at or after: YYYY-MM-DD[THH:MM:SS][offset]; no offset = local time' })
    .option('status', { ...single('status'), type: 'string', describe: 'Only runs in this state: pending, active, succeeded or failed' });
}

/** The flags as RPC filters, checked here so a bad one exits 2 before the daemon is asked. */
export function historyQueryFromFlags(args: Pick<HistoryArgs, 'limit' | 'since' | 'status'>): { limit: number; filters: Pick<HistoryParams, 'since' | 'status'> } {
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
export function historyCommand(io: CliIo) {
  return [
    'history <job_id>',
    "Show a job's runs, newest first: slot, fired at, lateness, action, status and what the provider reported",
    historyBuilder,
    async (args: HistoryArgs) => {
      const typed = checkJobIdArg(args.job_id);
      const { limit, filters } = historyQueryFromFlags(args);
      const { jobId, runs, more } = await withDaemon(io, args, async (c) => {
        const jobId = await resolveJobId(c, typed);
        const all: HistoryEntry[] = [];
        let cursor: string | null = null;
        do {
          const page: HistoryPage = await c.call('job.history', { job_id: jobId, ...filters, limit: Math.min(PAGE, limit - all.length), cursor });
          all.push(...page.runs);
          cursor = page.next_cursor;
        } while (cursor && all.length < limit);
        return { jobId, runs: all, more: cursor !== null };
      });
      // `--format json` only: this command has no -v (there is no job document to print).
      if (args.format === 'json') io.out(toJson({ job_id: jobId, runs, more }));
      else io.out(historyText(jobId, runs, more, limit, filters.since !== undefined || filters.status !== undefined));
    },
  ] as const;
}

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

export function historyText(jobId: string, runs: HistoryEntry[], more: boolean, limit: number, filtered: boolean): string {
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
