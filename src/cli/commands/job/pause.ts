import type { Argv, CommandModule } from 'yargs';
import type { JobDocument, PauseResult } from '../../../contract/protocol.ts';
import type { GlobalArgs } from '../../context.ts';
import { oneJobCommand, type OneJobArgs } from '../../job-command.ts';
import { single, verbose, changedJobJson } from '../../options.ts';
import { inactiveReasonLine, jobRecord } from '../../output.ts';
import { safe } from '../../../util/printable.ts';

interface PauseArgs extends OneJobArgs {
  note?: string | undefined;
  verbose: boolean;
}

/** `job pause JOB_ID [--note TEXT]`: no runs until `job resume`; a run in progress is not cancelled. */
export const pauseCommand: CommandModule<GlobalArgs, PauseArgs> = oneJobCommand({
  command: 'pause <job_id>',
  describe: 'Pause a job: it does not run until `job resume` (a run in progress is not cancelled)',
  jobIdDescribe: 'The job to pause',
  options: (y): Argv<PauseArgs> =>
    y.option('note', { ...single('note'), type: 'string', describe: 'Why, kept in the inactive reason (shown by job status)' }).option('verbose', verbose),
  request: (args) => ({ note: args.note ?? null }),
  call: (c, request) => c.call('job.pause', request),
  print: (result, args) => changedJobJson(args, result) ?? pauseText(result),
});

/** A run of the job whose action has not ended (among the newest runs the document carries). */
function hasRunInProgress(job: JobDocument): boolean {
  return job.results.data.some((r) => r.completed_at === null);
}

function pauseText({ job, paused }: PauseResult): string {
  const id = job.job_id;
  if (!paused) {
    if (job.status === 'inactive') {
      const reason = job.inactive_reason;
      if (reason?.cause === 'user') {
        const note = typeof reason.detail === 'string' && reason.detail ? ` (note: ${reason.detail})` : '';
        return safe`Job ${id} is already paused${note}: nothing to do. Resume it with: globus-timer job resume ${id}`;
      }
      return safe`Job ${id} is already inactive: nothing to pause. ${inactiveReasonLine(job) ?? ''}`.trimEnd();
    }
    if (job.status === 'finished') return safe`Job ${id} is finished (its end condition was reached): nothing to pause.`;
    return safe`Job ${id} is ${job.status}: nothing to pause.`;
  }
  const lines = [safe`Job ${id} paused: it does not run until resumed (globus-timer job resume ${id}).`];
  if (hasRunInProgress(job)) lines.push('A run already in progress is not cancelled: it runs to its end and is recorded.');
  return `${lines.join('\n')}\n\n${jobRecord(job)}`;
}
