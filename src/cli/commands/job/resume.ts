import type { Argv, CommandModule } from 'yargs';
import type { JobDocument, ResumeResult } from '../../../contract/protocol.ts';
import type { GlobalArgs } from '../../context.ts';
import { oneJobCommand, type OneJobArgs } from '../../job-command.ts';
import { changedJobJson, promptIo, verbose, wantsJson } from '../../options.ts';
import { jobRecord } from '../../output.ts';
import { safe } from '../../../util/printable.ts';

interface ResumeArgs extends OneJobArgs {
  verbose: boolean;
}

/** `job resume JOB_ID`: runs again; the slots missed while inactive follow the misfire policy. */
export const resumeCommand: CommandModule<GlobalArgs, ResumeArgs> = oneJobCommand({
  command: 'resume <job_id>',
  describe: 'Resume a paused or inactive job: missed slots give one catch-up run (none with --misfire skip)',
  jobIdDescribe: 'The job to resume',
  options: (y): Argv<ResumeArgs> => y.option('verbose', verbose),
  request: () => ({}),
  call: async (c, request, args) => {
    const job = await c.call('job.get', request);
    // Resuming a job whose token is still missing would only fail again at its next run.
    if (job.status === 'inactive' && job.inactive_reason?.cause === 'globus_auth_requirements' && job.scope) {
      const { ensureConsent } = await import('../../session.ts');
      await ensureConsent(promptIo(args.io, wantsJson(args)), job.scope);
    }
    return c.call('job.resume', request);
  },
  print: (result, args) => changedJobJson(args, result) ?? resumeText(result),
});

function resumeText({ job, resumed }: ResumeResult): string {
  if (!resumed) return safe`Job ${job.job_id} is ${job.status}, not inactive: nothing to resume.`;
  return `${resumedLine(job)}\n\n${jobRecord(job)}`;
}

/** What `job resume` did, before the record: the misfire rule for the slots missed meanwhile (SPEC §2 rules 4, 7). */
function resumedLine(job: JobDocument): string {
  if (job.status === 'finished') return safe`Job ${job.job_id} resumed, and found finished: its end condition was reached meanwhile.`;
  const missed = job.policy.misfire === 'skip' ? 'are skipped (--misfire skip): it runs at its next slot' : 'give one catch-up run now (--misfire coalesce)';
  return safe`Job ${job.job_id} resumed. Slots missed while it was inactive, if any, ${missed}.`;
}
