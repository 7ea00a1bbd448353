import type { CommandModule } from 'yargs';
import type { JobDocument, SubmitJobParams } from '../../../contract/protocol.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { DEFAULT_POLICY } from '../../../core/vocabulary.ts';
import { MAX_INTERVAL_SECONDS } from '../../../core/input.ts';
import { serviceChoice, serviceName, type ServiceChoice } from '../../../remote/service.ts';
import { withService, type GlobalArgs } from '../../context.ts';
import { checkJobIdArg, resolveJobId } from '../../job-ids.ts';
import { single, wantsJson } from '../../options.ts';
import { toJson } from '../../output.ts';

interface CopyArgs extends GlobalArgs {
  job_id: string;
  to: string;
  from?: string | undefined;
  'delete-source': boolean;
}

/**
 * `job copy JOB_ID --to hosted|local|URL [--from …] [--delete-source]`: the same timer on
 * another service (issue 15): same name, anchor, interval, end, action body and scope. What
 * the target cannot hold the way the source has it (a cron schedule, policies other than the
 * defaults) is refused before anything is made: a copy that ran on another schedule would be
 * a different timer. The run history stays where it is; the copy's run count starts at 0, so
 * an end after N runs becomes the runs that were left.
 */
export const copyCommand: CommandModule<GlobalArgs, CopyArgs> = {
  command: 'copy <job_id>',
  describe: 'Copy a job to another Timers service (the hosted one, the local daemon, or a URL)',
  builder: (y) =>
    y
      .positional('job_id', { type: 'string', demandOption: true, describe: 'The job to copy' })
      .option('to', { ...single('to'), type: 'string', demandOption: true, describe: 'Where the copy goes: local, hosted, or a Timers API URL' })
      .option('from', { ...single('from'), type: 'string', describe: 'Where the job is (default: --service, else local)' })
      .option('delete-source', { type: 'boolean', default: false, describe: 'Delete the original once the copy exists' }),
  handler: async (args) => {
    const { io } = args;
    const typed = checkJobIdArg(args.job_id);
    const from = serviceChoice(args.from ?? args.service, io.env);
    const to = serviceChoice(args.to, io.env);
    if (sameService(from, to)) throw new InvalidInputError(`--to names the service the job is on (${serviceName(from)}): give another one`);
    const source = await withService(args, from, async (c) => c.call('job.get', { job_id: await resolveJobId(c, typed) }));
    const { params, notCarried } = copyParams(source, to);
    const copy = await withService(args, to, (c) => c.call('job.submit', params));
    // Only now that the copy exists: a refused copy leaves the original as it was.
    const deleted = args['delete-source'] ? await withService(args, from, (c) => c.call('job.delete', { job_id: source.job_id })) : null;
    if (wantsJson(args)) {
      io.out(toJson({ source: deleted ?? source, copy, not_carried: notCarried, source_deleted: deleted !== null }));
      return;
    }
    io.out(`Copied job ${source.job_id} (${source.name}) from ${serviceName(from)} to ${serviceName(to)}: its id there is ${copy.job_id}.`);
    if (notCarried.length > 0) io.out(`Not carried: ${notCarried.join('; ')}.`);
    if (deleted) io.out(`Deleted the original ${source.job_id}.`);
  },
};

function sameService(a: ServiceChoice, b: ServiceChoice): boolean {
  return a.kind === b.kind && (a.kind === 'local' || (b.kind !== 'local' && a.baseUrl === b.baseUrl));
}

/** The submission that makes the same timer at `to`, and what it leaves behind; exit 2 for what `to` cannot hold. */
function copyParams(job: JobDocument, to: ServiceChoice): { params: SubmitJobParams; notCarried: string[] } {
  const where = serviceName(to);
  if (job.status === 'deleted' || job.status === 'finished')
    throw new InvalidInputError(`job ${job.job_id} is ${job.status}: there is nothing left to run; copy a job that still runs`);
  if (to.kind !== 'local') {
    if (job.cron !== null) throw new InvalidInputError(`job ${job.job_id} runs on a cron schedule, which ${where} does not have; it stays on the local daemon`);
    if (job.policy.overlap !== DEFAULT_POLICY.overlap || job.policy.misfire !== DEFAULT_POLICY.misfire) {
      throw new InvalidInputError(
        `job ${job.job_id} has --overlap ${job.policy.overlap} --misfire ${job.policy.misfire}, which ${where} does not have (it does ${DEFAULT_POLICY.overlap} and ${DEFAULT_POLICY.misfire}); change them with job update first, or keep it here`,
      );
    }
  }
  const notCarried = job.n_runs > 0 ? [`its history (${job.n_runs} run${job.n_runs === 1 ? '' : 's'}: it stays on the original)`] : [];
  const stopAfter = job.stop_after ? { ...job.stop_after } : null;
  if (stopAfter?.n_runs != null) {
    const left = stopAfter.n_runs - job.n_runs;
    if (left < 1) throw new InvalidInputError(`job ${job.job_id} has made all of its ${stopAfter.n_runs} runs: there is nothing left to run`);
    if (left !== stopAfter.n_runs) notCarried.push(`the runs made (the copy ends after the ${left} that were left, not ${stopAfter.n_runs})`);
    stopAfter.n_runs = left;
  }
  if (job.status === 'inactive') notCarried.push('its pause (the copy is active: pause it there if it should wait)');
  // Only the local daemon has failure hooks, and a copy to it comes from a service without them.
  if (job.on_failure) notCarried.push(`its failure hook (--on-failure/--notify: ${where} has none)`);
  const params: SubmitJobParams = {
    name: job.name,
    start: job.start,
    callback_url: job.callback_url,
    callback_body: job.callback_body,
    scope: job.scope,
    ...(job.cron === null ? { interval_seconds: job.interval ?? MAX_INTERVAL_SECONDS } : { cron: job.cron, timezone: job.timezone }),
    ...(stopAfter ? { stop_after: stopAfter } : {}),
  };
  // A one-time timer of the hosted service (interval null) is one run: the longest interval, ending after it (as our API stores them).
  if (job.cron === null && job.interval === null) params.stop_after = { ...params.stop_after, n_runs: 1 };
  if (to.kind === 'local') params.policy = { ...job.policy };
  return { params, notCarried };
}
