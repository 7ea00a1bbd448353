import type { Argv } from 'yargs';
import { checkScope } from '../../core/scopes.ts';
import { InvalidInputError, ReportedError } from '../../core/errors.ts';
import { checkActionUrl } from '../../core/input.ts';
import type { RpcClient } from '../../contract/client.ts';
import type { JobDocument, JobPage, SubmitJobParams } from '../../contract/protocol.ts';
import { actionBodyFromFlags } from '../action-body.ts';
import { withDaemon, type CliIo, type GlobalArgs } from '../context.ts';
import { checkJobIdArg, checkJobIdArgs, resolveJobId, resolveJobIds } from '../job-ids.ts';
import { changedJobJson, jsonOutput, promptIo, single, verbose, wantsJson } from '../options.ts';
import { errorLine, formatTable, JOB_TABLE_HEADERS, jobRecord, jobRow, toJson } from '../output.ts';
import { safe } from '../../util/printable.ts';
import { scheduleOptions, scheduleParamsFromFlags, type ScheduleFlags } from '../schedule-flags.ts';
import { historyCommand } from './history.ts';
import { nextCommand } from './next.ts';
import { updateCommand } from './update.ts';
import { pauseCommand, resumedLine } from './pause.ts';
import { purgeCommand } from './purge.ts';
import { runCommand } from './run.ts';
import { transferCommand } from './transfer.ts';

interface SubmitFlags extends GlobalArgs, ScheduleFlags {
  'action-url': string;
  'action-body'?: string | undefined;
  'action-file'?: string | undefined;
  /** `--no-scope` gives false: the provider takes unauthenticated calls, ask it nothing. */
  scope?: string | false | undefined;
  verbose: boolean;
}

/**
 * Turn `job submit` flags into canonical RPC parameters. Every rule is checked here, so a
 * bad flag exits 2 before the daemon is asked; the daemon checks the same rules again.
 */
export function submitParamsFromFlags(flags: SubmitFlags): SubmitJobParams {
  const callbackBody = actionBodyFromFlags(flags);
  if (callbackBody === undefined) throw new InvalidInputError('give the action body with --action-body JSON or --action-file PATH');
  return {
    ...scheduleParamsFromFlags(flags),
    callback_url: checkActionUrl(flags['action-url']),
    callback_body: callbackBody,
    scope: scopeFromFlag(flags.scope),
  };
}

/** undefined: read it from the provider (submitJob); null: no token at all (--no-scope). */
function scopeFromFlag(flag: string | false | undefined): string | null | undefined {
  if (flag === undefined) return undefined;
  if (flag === false) return null;
  return checkScope(flag);
}

/** Every job, page by page (the daemon never sends a whole million-job list at once). */
async function eachJobPage(client: RpcClient, showDeleted: boolean, onPage: (jobs: JobDocument[]) => void): Promise<void> {
  let cursor: string | null = null;
  do {
    const page: JobPage = await client.call('job.list', { limit: 1000, cursor, show_deleted: showDeleted });
    onPage(page.jobs);
    cursor = page.next_cursor;
  } while (cursor);
}

async function allJobs(client: RpcClient, showDeleted: boolean): Promise<JobDocument[]> {
  const jobs: JobDocument[] = [];
  await eachJobPage(client, showDeleted, (page) => jobs.push(...page));
  return jobs;
}

export function jobCommands(io: CliIo) {
  return (y: Argv<GlobalArgs>) =>
    y
      .command(
        'submit',
        'Submit a job that calls an Action Provider on a schedule',
        (b) =>
          scheduleOptions(b)
            .option('action-url', { ...single('action-url'), type: 'string', demandOption: true, describe: "The Action Provider's run URL (https, or http to loopback)" })
            .option('action-body', { ...single('action-body'), type: 'string', describe: 'The run request without request_id, as JSON: {"body": {...}}' })
            .option('action-file', { ...single('action-file'), type: 'string', describe: 'Read the action body from this JSON file' })
            .conflicts('action-body', 'action-file')
            .option('scope', { ...single('scope'), type: 'string', describe: "Globus Auth scope for the action (default: the provider's globus_auth_scope; --no-scope: send no token)" })
            .option('verbose', verbose),
        async (args) => {
          const params = submitParamsFromFlags(args as SubmitFlags);
          // Loaded on demand: Globus Auth and HTTP code stay off the path of `job list` and friends.
          const { submitJob } = await import('../submit.ts');
          await submitJob(io, args, params);
        },
      )
      .command(...transferCommand(io))
      .command(
        'list',
        'List jobs',
        (b) => b.option('show-deleted', { type: 'boolean', default: false, describe: 'Include deleted jobs' }).option('verbose', verbose),
        async (args) => {
          if (wantsJson(args)) return io.out(toJson(await withDaemon(io, args, (c) => allJobs(c, args['show-deleted']))));
          // Text keeps only each page's cells, not the documents (with their runs): the
          // column widths need every row before the first line can be printed.
          const now = Date.now();
          const rows: string[][] = [];
          await withDaemon(io, args, (c) => eachJobPage(c, args['show-deleted'], (page) => rows.push(...page.map((j) => jobRow(j, now)))));
          io.out(formatTable(JOB_TABLE_HEADERS, rows));
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
          const typed = args.job_id ? checkJobIdArg(args.job_id) : null;
          const jobs = await withDaemon(io, args, async (c) =>
            typed ? [await c.call('job.get', { job_id: await resolveJobId(c, typed) })] : allJobs(c, args['show-deleted']),
          );
          if (wantsJson(args)) io.out(toJson(args.job_id ? jobs[0] : jobs));
          else io.out(jobs.map((j) => jobRecord(j)).join('\n\n'));
        },
      )
      .command(
        'delete <job_id..>',
        'Delete jobs: they never run again; their history stays readable',
        (b) => b.positional('job_id', { type: 'string', array: true, demandOption: true, describe: 'The jobs to delete (one or more ids)' }).option('verbose', verbose),
        async (args) => {
          // Every id is checked, then resolved, before any job is deleted: a malformed,
          // ambiguous or unknown id deletes nothing. A failure after that (the store
          // refusing) does not stop the others, and the command still fails so scripts notice.
          const typed = checkJobIdArgs(args.job_id as string[]);
          const failures: Error[] = [];
          const deleted = await withDaemon(io, args, async (c) => {
            const docs: JobDocument[] = [];
            for (const id of await resolveJobIds(c, typed)) {
              try {
                docs.push(await c.call('job.delete', { job_id: id }));
              } catch (err) {
                failures.push(err as Error);
                io.err(errorLine(err as Error));
              }
            }
            return docs;
          });
          if (deleted.length) {
            // --format json: always an array, one id or many; -v: one id's document alone, as the original.
            const json = jsonOutput(args, deleted, typed.length === 1 ? deleted[0] : deleted);
            io.out(json ?? deleted.map((j) => jobRecord(j, { short: true })).join('\n\n'));
          }
          if (failures.length) throw new ReportedError(failures[0]!);
        },
      )
      .command(
        'resume <job_id>',
        'Resume a paused or inactive job: missed slots give one catch-up run (none with --misfire skip)',
        (b) => b.positional('job_id', { type: 'string', demandOption: true, describe: 'The job to resume' }).option('verbose', verbose),
        async (args) => {
          const typed = checkJobIdArg(args.job_id as string);
          const result = await withDaemon(io, args, async (c) => {
            const jobId = await resolveJobId(c, typed);
            const job = await c.call('job.get', { job_id: jobId });
            // Resuming a job whose token is still missing would only fail again at its next run.
            if (job.status === 'inactive' && job.inactive_reason?.cause === 'globus_auth_requirements' && job.scope) {
              const { ensureConsent } = await import('../session.ts');
              await ensureConsent(promptIo(io, wantsJson(args)), job.scope);
            }
            return c.call('job.resume', { job_id: jobId });
          });
          const json = changedJobJson(args, result);
          if (json !== null) io.out(json);
          else if (!result.resumed) io.out(safe`Job ${result.job.job_id} is ${result.job.status}, not inactive: nothing to resume.`);
          else io.out(`${resumedLine(result.job)}\n\n${jobRecord(result.job)}`);
        },
      )
      .command(...pauseCommand(io))
      .command(...runCommand(io))
      .command(...historyCommand(io))
      .command(...updateCommand(io))
      .command(...nextCommand(io))
      .command(...purgeCommand(io));
}
