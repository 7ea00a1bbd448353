import type { Argv } from 'yargs';
import type { JobDocument, PauseResult } from '../../contract/protocol.ts';
import { withDaemon, type CliIo, type GlobalArgs } from '../context.ts';
import { checkJobIdArg, resolveJobId } from '../job-ids.ts';
import { single, verbose, changedJobJson } from '../options.ts';
import { inactiveReasonLine, jobRecord } from '../output.ts';
import { safe } from '../../util/printable.ts';

interface PauseArgs extends GlobalArgs {
  job_id: string;
  note?: string | undefined;
  verbose: boolean;
}

function pauseBuilder(b: Argv<GlobalArgs>) {
  return b
    .positional('job_id', { type: 'string', demandOption: true, describe: 'The job to pause' })
    .option('note', { ...single('note'), type: 'string', describe: 'Why, kept in the inactive reason (shown by job status)' })
    .option('verbose', verbose);
}

/** `job pause JOB_ID [--note TEXT]`: no runs until `job resume`; a run in progress is not cancelled. */
export function pauseCommand(io: CliIo) {
  return [
    'pause <job_id>',
    'Pause a job: it does not run until `job resume` (a run in progress is not cancelled)',
    pauseBuilder,
    async (args: PauseArgs) => {
      const typed = checkJobIdArg(args.job_id);
      const result = await withDaemon(io, args, async (c) => c.call('job.pause', { job_id: await resolveJobId(c, typed), note: args.note ?? null }));
      io.out(changedJobJson(args, result) ?? pauseText(result));
    },
  ] as const;
}

/** A run of the job whose action has not ended (among the newest runs the document carries). */
export function hasRunInProgress(job: JobDocument): boolean {
  return job.results.data.some((r) => r.completed_at === null);
}

export function pauseText({ job, paused }: PauseResult): string {
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

/** What `job resume` did, before the record: the misfire rule for the slots missed meanwhile (SPEC §2 rules 4, 7). */
export function resumedLine(job: JobDocument): string {
  if (job.status === 'finished') return safe`Job ${job.job_id} resumed, and found finished: its end condition was reached meanwhile.`;
  const missed =
    job.policy.misfire === 'skip'
      ? 'are skipped (--misfire skip): it runs at its next slot'
      : 'give one catch-up run now (--misfire coalesce)';
  return safe`Job ${job.job_id} resumed. Slots missed while it was inactive, if any, ${missed}.`;
}
