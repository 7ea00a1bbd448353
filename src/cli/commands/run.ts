import type { Argv } from 'yargs';
import type { RunNowResult } from '../../contract/protocol.ts';
import { withDaemon, type CliIo, type GlobalArgs } from '../context.ts';
import { checkJobIdArg, resolveJobId } from '../job-ids.ts';
import { verbose, changedJobJson } from '../options.ts';
import { formatRecord } from '../output.ts';
import { displayTime } from '../display-time.ts';
import { safe } from '../../util/printable.ts';

interface RunArgs extends GlobalArgs {
  job_id: string;
  force: boolean;
  verbose: boolean;
}

function runBuilder(b: Argv<GlobalArgs>) {
  return b
    .positional('job_id', { type: 'string', demandOption: true, describe: 'The job to run' })
    .option('force', { type: 'boolean', default: false, describe: 'Fire even while the previous run is in progress (overlap policy skip), or the job has its most runs in flight (overlap policy allow)' })
    .option('verbose', verbose);
}

/** `job run JOB_ID [--force]`: one extra run now, outside the schedule, which stays as it is. */
export function runCommand(io: CliIo) {
  return [
    'run <job_id>',
    'Run a job once now, outside its schedule (the schedule is unchanged)',
    runBuilder,
    async (args: RunArgs) => {
      const typed = checkJobIdArg(args.job_id);
      const result = await withDaemon(io, args, async (c) => c.call('job.run', { job_id: await resolveJobId(c, typed), force: args.force }));
      io.out(changedJobJson(args, result) ?? runText(result, args.force));
    },
  ] as const;
}

export function runText({ job, run }: RunNowResult, forced: boolean): string {
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
