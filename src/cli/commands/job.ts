import fs from 'node:fs';
import type { Argv } from 'yargs';
import { InvalidInputError, ReportedError } from '../../errors.ts';
import { checkActionUrl, checkName, checkStopAfterRuns, parseActionBody, parseInterval } from '../../jobs/input.ts';
import { formatIso, parseDateTime } from '../../jobs/time.ts';
import type { RpcClient } from '../../rpc/client.ts';
import type { JobDocument, JobPage, SubmitJobParams } from '../../rpc/protocol.ts';
import { withDaemon, type CliIo, type GlobalArgs } from '../context.ts';
import { jobRecord, jobTable, toJson } from '../output.ts';

interface SubmitFlags extends GlobalArgs {
  name: string;
  interval: string;
  start?: string | undefined;
  'action-url': string;
  'action-body'?: string | undefined;
  'action-file'?: string | undefined;
  scope?: string | undefined;
  'stop-after-date'?: string | undefined;
  'stop-after-runs'?: string | undefined;
  overlap?: 'skip' | 'allow' | undefined;
  misfire?: 'coalesce' | 'skip' | undefined;
  verbose: boolean;
}

/**
 * Turn `job submit` flags into canonical RPC parameters. Every rule is checked here, so a
 * bad flag exits 2 before the daemon is asked; the daemon checks the same rules again.
 */
export function submitParamsFromFlags(flags: SubmitFlags): SubmitJobParams {
  if (flags['action-body'] === undefined && flags['action-file'] === undefined) {
    throw new InvalidInputError('give the action body with --action-body JSON or --action-file PATH');
  }
  let callbackBody: Record<string, unknown>;
  if (flags['action-file'] !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(flags['action-file'], 'utf8');
    } catch (err) {
      throw new InvalidInputError(`cannot read --action-file ${flags['action-file']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    callbackBody = parseActionBody(text, '--action-file');
  } else {
    callbackBody = parseActionBody(flags['action-body']!);
  }
  const stopRuns = flags['stop-after-runs'];
  if (stopRuns !== undefined && !/^\s*\d+\s*$/.test(stopRuns)) {
    throw new InvalidInputError(`invalid --stop-after-runs "${stopRuns}": give a whole number of runs, at least 1`);
  }
  const stopAfter = {
    date: flags['stop-after-date'] !== undefined ? formatIso(parseDateTime(flags['stop-after-date'], '--stop-after-date')) : null,
    n_runs: stopRuns !== undefined ? checkStopAfterRuns(Number(stopRuns)) : null,
  };
  return {
    name: checkName(flags.name),
    start: flags.start !== undefined ? formatIso(parseDateTime(flags.start, '--start')) : null,
    interval_seconds: parseInterval(flags.interval),
    callback_url: checkActionUrl(flags['action-url']),
    callback_body: callbackBody,
    scope: flags.scope?.trim() || null,
    stop_after: stopAfter.date !== null || stopAfter.n_runs !== null ? stopAfter : null,
    policy: { ...(flags.overlap ? { overlap: flags.overlap } : {}), ...(flags.misfire ? { misfire: flags.misfire } : {}) },
  };
}

/** Every job, page by page (the daemon never sends a whole million-job list at once). */
async function allJobs(client: RpcClient, showDeleted: boolean): Promise<JobDocument[]> {
  const jobs: JobDocument[] = [];
  let cursor: string | null = null;
  do {
    const page: JobPage = await client.call('job.list', { limit: 1000, cursor, show_deleted: showDeleted });
    jobs.push(...page.jobs);
    cursor = page.next_cursor;
  } while (cursor);
  return jobs;
}

function wantsJson(args: GlobalArgs & { verbose?: boolean }): boolean {
  return args.format === 'json' || args.verbose === true;
}

/**
 * yargs turns an option given twice into an array, which no rule here expects; refuse it
 * as a usage error instead (`coerce` errors are reported like any other usage error).
 */
function single(flag: string) {
  return {
    coerce: (value: string | string[]): string => {
      if (Array.isArray(value)) throw new InvalidInputError(`--${flag} was given more than once`);
      return value;
    },
  };
}

const verbose = { alias: 'v', type: 'boolean', default: false, describe: 'Print the whole job document as JSON' } as const;

export function jobCommands(io: CliIo) {
  return (y: Argv<GlobalArgs>) =>
    y
      .command(
        'submit',
        'Submit a job that calls an Action Provider on a schedule',
        (b) =>
          b
            .option('name', { ...single('name'), type: 'string', demandOption: true, describe: 'Name for the job' })
            .option('interval', { ...single('interval'), type: 'string', demandOption: true, describe: 'Time between runs: "1w 2d 3h 4m 5s" (any subset, in that order) or seconds' })
            .option('start', { ...single('start'), alias: 'start-time', type: 'string', describe: 'First run: YYYY-MM-DD[THH:MM:SS][offset]; no offset = local time (default: now)' })
            .option('action-url', { ...single('action-url'), type: 'string', demandOption: true, describe: "The Action Provider's run URL (https, or http to loopback)" })
            .option('action-body', { ...single('action-body'), type: 'string', describe: 'The run request without request_id, as JSON: {"body": {...}}' })
            .option('action-file', { ...single('action-file'), type: 'string', describe: 'Read the action body from this JSON file' })
            .conflicts('action-body', 'action-file')
            .option('scope', { ...single('scope'), type: 'string', describe: 'Globus Auth scope for the action (optional)' })
            .option('stop-after-date', { ...single('stop-after-date'), type: 'string', describe: 'No runs after this time' })
            .option('stop-after-runs', { ...single('stop-after-runs'), type: 'string', describe: 'Finish after this many runs' })
            .option('overlap', { ...single('overlap'), choices: ['skip', 'allow'] as const, describe: 'While the previous run is in progress: skip the slot (default) or allow' })
            .option('misfire', { ...single('misfire'), choices: ['coalesce', 'skip'] as const, describe: 'Missed slots: one catch-up run (coalesce, default) or wait for the next slot (skip)' })
            .option('verbose', verbose),
        async (args) => {
          const params = submitParamsFromFlags(args as SubmitFlags);
          const job = await withDaemon(io, args, (c) => c.call('job.submit', params));
          io.out(wantsJson(args) ? toJson(job) : jobRecord(job));
        },
      )
      .command(
        'list',
        'List jobs',
        (b) => b.option('show-deleted', { type: 'boolean', default: false, describe: 'Include deleted jobs' }).option('verbose', verbose),
        async (args) => {
          const jobs = await withDaemon(io, args, (c) => allJobs(c, args['show-deleted']));
          io.out(wantsJson(args) ? toJson(jobs) : jobTable(jobs));
        },
      )
      .command(
        'status [job_id]',
        'Show a job, or all jobs with --all',
        (b) =>
          b
            .positional('job_id', { type: 'string', describe: 'The job to show' })
            .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'Show every job' })
            .option('show-deleted', { type: 'boolean', default: false, describe: 'With --all, include deleted jobs' })
            .option('verbose', verbose),
        async (args) => {
          if (!args.job_id && !args.all) throw new InvalidInputError('must provide either a job ID or the --all option');
          const jobs = await withDaemon(io, args, async (c) =>
            args.job_id ? [await c.call('job.get', { job_id: args.job_id })] : allJobs(c, args['show-deleted']),
          );
          if (wantsJson(args)) io.out(toJson(args.job_id ? jobs[0] : jobs));
          else io.out(jobs.map((j) => jobRecord(j)).join('\n\n'));
        },
      )
      .command(
        'delete <job_id..>',
        'Delete jobs: they never run again; their history stays readable',
        (b) => b.positional('job_id', { type: 'string', array: true, demandOption: true }).option('verbose', verbose),
        async (args) => {
          // Each id is deleted on its own: one unknown id does not stop the others, and
          // the command still fails at the end so scripts notice.
          const ids = args.job_id as string[];
          const failures: Error[] = [];
          const deleted = await withDaemon(io, args, async (c) => {
            const docs: JobDocument[] = [];
            for (const id of ids) {
              try {
                docs.push(await c.call('job.delete', { job_id: id }));
              } catch (err) {
                failures.push(err as Error);
                io.err(`globus-timer: ${(err as Error).message}`);
              }
            }
            return docs;
          });
          if (deleted.length) {
            io.out(wantsJson(args) ? toJson(ids.length === 1 ? deleted[0] : deleted) : deleted.map((j) => jobRecord(j, { short: true })).join('\n\n'));
          }
          if (failures.length) throw new ReportedError(failures[0]!);
        },
      )
      .demandCommand(1, 'name a job command: submit, list, status or delete');
}
