import type { Argv, CommandModule } from 'yargs';
import { InvalidInputError } from '../../../core/errors.ts';
import { checkRunState } from '../../../core/input.ts';
import { formatIso, parseDateTime } from '../../../core/time.ts';
import type { HistoryEntry, HistoryPage, HistoryParams } from '../../../contract/protocol.ts';
import type { GlobalArgs } from '../../context.ts';
import { oneJobCommand, type OneJobArgs } from '../../job-command.ts';
import { single } from '../../options.ts';
import { formatTable, tableRow, toJson } from '../../output.ts';
import { displayTime } from '../../display-time.ts';
import { jsonForTerminal } from '../../../util/printable.ts';
import { daemonOnly, followEndedRuns } from '../../watch/follow.ts';
import type { RpcClient } from '../../../contract/client.ts';
import { HISTORY_COLUMNS, historyCells as historyLineCells } from '../../../core/history-line.ts';

/** A run's cells in the table, its times in the display zone. */
function historyCells(r: Parameters<typeof historyLineCells>[0]): string[] {
  return historyLineCells(r, displayTime);
}

interface HistoryArgs extends OneJobArgs {
  limit?: string | undefined;
  since?: string | undefined;
  status?: string | undefined;
  follow: boolean;
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
      .option('status', { ...single('status'), type: 'string', describe: 'Only runs in this state: pending, active, succeeded or failed' })
      .option('follow', {
        alias: 'f',
        type: 'boolean',
        default: false,
        describe: 'Then print each run as it ends, until Ctrl-C (oldest first, as tail -f; with --format json one run per line)',
      }),
  request: historyQueryFromFlags,
  call: async (c, { job_id, limit, filters }, args) => {
    if (args.follow) {
      const client = daemonOnly(c, 'job history -f');
      // Subscribed before the page is read: a run ending in between is told, never lost (shown at most twice).
      return followHistory(client, job_id, args, async () => (await c.call('job.history', { job_id, ...filters, limit: Math.min(PAGE, limit) })).runs);
    }
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
    args.follow
      ? null
      : args.format === 'json'
        ? toJson({ job_id, runs, more })
        : historyText(job_id, runs, more, limit, filters.since !== undefined || filters.status !== undefined),
});

function historyText(jobId: string, runs: HistoryEntry[], more: boolean, limit: number, filtered: boolean): string {
  if (runs.length === 0) return filtered ? `No runs of job ${jobId} match.` : `Job ${jobId} has not run yet.`;
  const table = formatTable(
    HISTORY_COLUMNS,
    runs.map((r) => historyCells(r)),
  );
  return more ? `${table}\n(the newest ${limit} runs; older ones with a larger --limit)` : table;
}

/**
 * Columns wide enough for any run (a time as shown, a UUID action id, SUCCEEDED), so the rows
 * printed as runs end line up under the table printed first.
 */
function followWidths(): number[] {
  const time = displayTime(formatIso(Date.now())).length;
  return [time, time, 8, 36, 10, 0].map((w, i) => Math.max(w, HISTORY_COLUMNS[i]!.length));
}

/**
 * `job history -f`: the newest runs, oldest first (as tail -f), then each run as it ends; runs
 * still open at the start are printed when they end. Text: table rows; JSON: one run per line.
 */
async function followHistory(client: RpcClient, jobId: string, args: GlobalArgs, firstPage: () => Promise<HistoryEntry[]>): Promise<never> {
  const shown = new Set<string>();
  const json = args.format === 'json';
  const widths = followWidths();
  const printRun = (r: Omit<HistoryEntry, 'data'>) => {
    if (shown.has(r.request_id)) return;
    shown.add(r.request_id);
    args.io.out(json ? jsonForTerminal(JSON.stringify(r)) : tableRow(historyCells(r), widths));
  };
  return followEndedRuns(
    client,
    jobId,
    async () => {
      const ended = (await firstPage()).filter((r) => r.completed_at !== null).reverse();
      if (!json) args.io.out(formatTable(HISTORY_COLUMNS, [], widths));
      for (const { data: _document, ...r } of ended) printRun(r);
    },
    (e) => printRun(e.run),
  );
}
