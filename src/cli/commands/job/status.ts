import type { CommandModule } from 'yargs';
import { InvalidInputError } from '../../../core/errors.ts';
import { withJobs, type GlobalArgs } from '../../context.ts';
import { checkJobIdArg, resolveJobId } from '../../job-ids.ts';
import { allJobs } from '../../job-pages.ts';
import { verbose, wantsJson } from '../../options.ts';
import { jobRecord, toJson } from '../../output.ts';

interface StatusArgs extends GlobalArgs {
  job_id?: string | undefined;
  all: boolean;
  'show-deleted': boolean;
  verbose: boolean;
}

/** `job status JOB_ID`, or `job status --all [--show-deleted]`: each job as a record. */
export const statusCommand: CommandModule<GlobalArgs, StatusArgs> = {
  command: 'status [job_id]',
  describe: 'Show a job, or all jobs with --all',
  builder: (y) =>
    y
      .positional('job_id', { type: 'string', describe: 'The job to show' })
      .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'Show every job' })
      .option('show-deleted', { type: 'boolean', default: false, describe: 'With --all, include deleted jobs' })
      .option('verbose', verbose),
  handler: async (args) => {
    if (!args.job_id && !args.all) throw new InvalidInputError('must provide either a job ID or the --all option');
    const typed = args.job_id ? checkJobIdArg(args.job_id) : null;
    const jobs = await withJobs(args, async (c) =>
      typed ? [await c.call('job.get', { job_id: await resolveJobId(c, typed) })] : allJobs(c, args['show-deleted']),
    );
    if (wantsJson(args)) args.io.out(toJson(args.job_id ? jobs[0] : jobs));
    else args.io.out(jobs.map((j) => jobRecord(j)).join('\n\n'));
  },
};
