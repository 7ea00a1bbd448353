import type { CommandModule } from 'yargs';
import { ReportedError } from '../../../core/errors.ts';
import type { JobDocument } from '../../../contract/protocol.ts';
import { withJobs, type GlobalArgs } from '../../context.ts';
import { jobIdsPositional } from '../../job-command.ts';
import { checkJobIdArgs, resolveJobIds } from '../../job-ids.ts';
import { jsonOutput, verbose } from '../../options.ts';
import { errorLine, jobRecord } from '../../output.ts';

interface DeleteArgs extends GlobalArgs {
  job_id: string[];
  verbose: boolean;
}

/** `job delete JOB_ID...`: the jobs never run again; their history stays readable (until `job purge`). */
export const deleteCommand: CommandModule<GlobalArgs, DeleteArgs> = {
  command: 'delete <job_id..>',
  describe: 'Delete jobs: they never run again; their history stays readable',
  builder: (y) => jobIdsPositional(y, 'The jobs to delete (one or more ids)').option('verbose', verbose),
  handler: async (args) => {
    const { io } = args;
    // Every id is checked, then resolved, before any job is deleted: a malformed,
    // ambiguous or unknown id deletes nothing. A failure after that (the store
    // refusing) does not stop the others, and the command still fails so scripts notice.
    const typed = checkJobIdArgs(args.job_id);
    const failures: Error[] = [];
    const deleted = await withJobs(args, async (c) => {
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
};
