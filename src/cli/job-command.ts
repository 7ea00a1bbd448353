import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { JobsClient } from '../contract/client.ts';
import { withJobs, type GlobalArgs } from './context.ts';
import { checkJobIdArg, resolveJobId } from './job-ids.ts';

/** The arguments of a command on one job: its id as typed, and the global ones. */
export interface OneJobArgs extends GlobalArgs {
  job_id: string;
}

/** `<job_id>`: the one job a command acts on. */
function jobIdPositional<T>(y: Argv<T>, describe: string) {
  return y.positional('job_id', { type: 'string', demandOption: true, describe });
}

/** `<job_id..>`: one or more jobs (`job delete`, `job purge`), all checked and resolved before any is acted on. */
export function jobIdsPositional<T>(y: Argv<T>, describe: string) {
  return y.positional('job_id', { type: 'string', array: true, demandOption: true, describe });
}

/**
 * A command on one job (pause, resume, run, update, next, history): what is particular to
 * it. The rest, the same for all, is oneJobCommand's.
 */
interface OneJobCommandSpec<A extends OneJobArgs, P extends object, R> {
  command: string;
  describe: string;
  /** The help text of the `job_id` positional. */
  jobIdDescribe: string;
  /** The command's options; the positional is declared already. */
  options(y: Argv<OneJobArgs>): Argv<A>;
  /** The request the flags make (all but the job id), checked before the daemon is asked: a bad flag is exit 2 and starts no daemon. */
  request(args: ArgumentsCamelCase<A>): P;
  /** What the command asks the daemon, with the request and the job's full id. */
  call(client: JobsClient, request: P & { job_id: string }, args: ArgumentsCamelCase<A>): Promise<R>;
  /** What it prints on stdout: text, or JSON with --format json (or -v); null when `call` has shown all (`job run --wait`). */
  print(result: R, args: ArgumentsCamelCase<A>, request: P): string | null;
}

/**
 * A command on one job, in the order every such command keeps: the id checked (exit 2, no
 * daemon started), then the flags, then, in one connection, the id resolved
 * (job-ids.ts) and the call made; then the result printed.
 */
export function oneJobCommand<A extends OneJobArgs, P extends object, R>(spec: OneJobCommandSpec<A, P, R>): CommandModule<GlobalArgs, A> {
  return {
    command: spec.command,
    describe: spec.describe,
    builder: (y) => spec.options(jobIdPositional(y, spec.jobIdDescribe)),
    handler: async (args) => {
      const typed = checkJobIdArg(args.job_id);
      const request = spec.request(args);
      const result = await withJobs(args, async (c) => spec.call(c, { ...request, job_id: await resolveJobId(c, typed) }, args));
      const text = spec.print(result, args, request);
      if (text !== null) args.io.out(text);
    },
  };
}
