import type { Argv, CommandModule } from 'yargs';
import type { RunNowResult } from '../../../contract/protocol.ts';
import type { GlobalArgs } from '../../context.ts';
import { oneJobCommand, type OneJobArgs } from '../../job-command.ts';
import { verbose, changedJobJson } from '../../options.ts';
import { formatRecord } from '../../output.ts';
import { displayTime } from '../../display-time.ts';
import { safe } from '../../../util/printable.ts';
import { daemonOnly, exitCodeOf, runAndWait } from '../../watch/follow.ts';

interface RunArgs extends OneJobArgs {
  force: boolean;
  verbose: boolean;
  wait: boolean;
}

/**
 * `job run JOB_ID [--force] [--wait]`: one extra run now, outside the schedule, which stays as
 * it is. With --wait the run is followed live to its end (watch/follow.ts), and the exit
 * status is the run's: 0 SUCCEEDED, 1 FAILED.
 */
export const runCommand: CommandModule<GlobalArgs, RunArgs> = oneJobCommand({
  command: 'run <job_id>',
  describe: 'Run a job once now, outside its schedule (the schedule is unchanged)',
  jobIdDescribe: 'The job to run',
  options: (y): Argv<RunArgs> =>
    y
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'Fire even while the previous run is in progress (overlap policy skip), or the job has its most runs in flight (overlap policy allow)',
      })
      .option('wait', { alias: 'w', type: 'boolean', default: false, describe: 'Follow the run live to its end; exit 0 if it SUCCEEDED, 1 if it FAILED' })
      .option('verbose', verbose),
  request: (args) => ({ force: args.force }),
  call: async (c, request, args) => {
    if (!args.wait) return c.call('job.run', request);
    const end = await runAndWait(daemonOnly(c, 'job run --wait'), request.job_id, args, () => c.call('job.run', request));
    args.setExitCode(exitCodeOf(end));
    return null;
  },
  print: (result, args) => (result === null ? null : (changedJobJson(args, result) ?? runText(result, args.force))),
});

function runText({ job, run }: RunNowResult, forced: boolean): string {
  const id = job.job_id;
  const lines = [safe`Run sent: one extra run of job ${id} now, outside its schedule (the schedule is unchanged).`];
  const othersOpen = job.results.data.some((r) => r.request_id !== run.request_id && r.completed_at === null);
  if (forced && othersOpen) lines.push('--force: the previous run is still in progress; both run.');
  if (job.status === 'inactive') lines.push(safe`The job stays paused: this run does not resume it (globus-timer job resume ${id}).`);
  if (job.status === 'finished') lines.push('The job stays finished: this run does not schedule it again.');
  const record = formatRecord([
    ['Job ID', id],
    ['Request ID', run.request_id],
    ['Sent At', displayTime(run.ran_at)],
  ]);
  return `${lines.join('\n')}\n${record}\n${safe`Follow it with: globus-timer job history ${id}`}`;
}
