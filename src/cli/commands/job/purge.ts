import type { CommandModule } from 'yargs';
import { InvalidInputError } from '../../../core/errors.ts';
import type { PurgeResult } from '../../../contract/protocol.ts';
import { withJobs, type CliIo, type GlobalArgs } from '../../context.ts';
import { jobIdsPositional } from '../../job-command.ts';
import { checkJobIdArgs, resolveJobIds } from '../../job-ids.ts';
import { askYesNo, wantsJson } from '../../options.ts';
import { toJson } from '../../output.ts';
import { safe } from '../../../util/printable.ts';

interface PurgeArgs extends GlobalArgs {
  job_id: string[];
  yes: boolean;
}

/**
 * `job purge JOB_ID... [--yes]`: remove deleted jobs and their history for good. All or
 * nothing, like `job delete`: every id is checked and resolved, and the daemon checks every
 * job (deleted, no runs still being closed) in a dry run, before the question is asked;
 * then one job.purge removes them all, or none if something changed meanwhile.
 */
export const purgeCommand: CommandModule<GlobalArgs, PurgeArgs> = {
  command: 'purge <job_id..>',
  describe: 'Remove deleted jobs and their history for good (asks first; --yes in scripts)',
  builder: (y) =>
    jobIdsPositional(y, 'The deleted jobs to remove').option('yes', {
      alias: 'y',
      type: 'boolean',
      default: false,
      describe: 'Do not ask first (needed where there is no terminal to ask at)',
    }),
  handler: async (args) => {
    const { io } = args;
    const typed = checkJobIdArgs(args.job_id);
    const canAsk = io.interactive === true && io.readLine !== undefined;
    if (!args.yes && !canAsk)
      throw new InvalidInputError('job purge removes jobs and their history for good: confirm with --yes (there is no terminal to ask at)');
    const result = await withJobs(args, async (c) => {
      const jobIds = await resolveJobIds(c, typed);
      const plan = await c.call('job.purge', { job_ids: jobIds, dry_run: true });
      if (!args.yes && !(await confirmPurge(io, plan))) return null;
      return c.call('job.purge', { job_ids: jobIds });
    });
    // Declined at the prompt: nothing failed, the user chose (as `rm -i` answered "n").
    if (!result) return io.out(wantsJson(args) ? toJson({ purged: [] }) : 'Nothing purged.');
    io.out(wantsJson(args) ? toJson(result) : purgeText(result));
  },
};

/** The jobs, then the question, on stderr (stdout stays the result); yes only for y/yes. */
async function confirmPurge(io: CliIo, plan: PurgeResult): Promise<boolean> {
  for (const job of plan.purged) io.err(safe`  ${job.job_id}  ${job.name}  (${runsText(job.runs)})`);
  return askYesNo(io, `Purge ${plan.purged.length} deleted job(s) and their history for good?`);
}

function runsText(runs: number): string {
  return `${runs} run${runs === 1 ? '' : 's'}`;
}

function purgeText({ purged }: PurgeResult): string {
  return purged.map((job) => safe`Purged job ${job.job_id} (${job.name}) and its ${runsText(job.runs)}.`).join('\n');
}
