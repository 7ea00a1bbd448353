import type { CommandModule } from 'yargs';
import { InvalidInputError } from '../../../core/errors.ts';
import { withJobs, type GlobalArgs } from '../../context.ts';
import { checkJobIdArg, resolveJobId } from '../../job-ids.ts';
import { daemonOnly, exitCodeOf, watchAll, watchJob } from '../../watch/follow.ts';

interface WatchArgs extends GlobalArgs {
  job_id?: string | undefined;
  all: boolean;
}

/**
 * `job watch JOB_ID`: the run in progress, or the next one, live to its end; exit 0 when it
 * SUCCEEDED, 1 when it FAILED. `job watch --all`: every job's runs until Ctrl-C. The daemon
 * pushes each change (events.subscribe); nothing is polled.
 */
export const watchCommand: CommandModule<GlobalArgs, WatchArgs> = {
  command: 'watch [job_id]',
  describe: "Follow a job's run in progress (or its next run) live to its end, or every job's runs with --all",
  builder: (y) =>
    y
      .positional('job_id', { type: 'string', describe: 'The job to watch' })
      .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'Follow the runs of every job, until Ctrl-C' }),
  handler: async (args) => {
    if (!args.job_id && !args.all) throw new InvalidInputError('give a job ID to watch, or --all to watch every job');
    if (args.job_id && args.all) throw new InvalidInputError('give a job ID or --all, not both');
    const typed = args.job_id ? checkJobIdArg(args.job_id) : null;
    await withJobs(args, async (c) => {
      const client = daemonOnly(c, 'job watch');
      if (!typed) return watchAll(client, args);
      const job = await client.call('job.get', { job_id: await resolveJobId(client, typed) });
      args.setExitCode(exitCodeOf(await watchJob(client, job, args)));
    });
  },
};
