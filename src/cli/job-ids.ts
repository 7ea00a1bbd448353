import { jobIdText, parseJobId } from '../core/job-id.ts';
import type { JobsClient } from '../contract/client.ts';

/**
 * Job ids on a command line, in two steps. First every id is checked here (core/job-id.ts),
 * before withDaemon runs: a malformed one is exit 2 and starts no daemon. Then the daemon
 * resolves them all in one job.resolve (any case, unique prefixes; an ambiguous prefix is
 * exit 2 naming the candidates, an unknown id exit 1), before the command acts on any.
 */

/** A checked id as typed, normalised (lower case, hyphens in place): what job.resolve takes. */
export type TypedJobId = string & { readonly __typedJobId: unique symbol };

export function checkJobIdArg(text: string): TypedJobId {
  return jobIdText(parseJobId(text)) as TypedJobId;
}

/** Every id of a multi-id command, all checked before any is used. */
export function checkJobIdArgs(texts: readonly string[]): TypedJobId[] {
  return texts.map(checkJobIdArg);
}

/** The full id of one job. */
export async function resolveJobId(client: JobsClient, typed: TypedJobId): Promise<string> {
  const [id] = await resolveJobIds(client, [typed]);
  return id!;
}

/** The full ids, each job once, in the order given; all resolved or the call fails. */
export async function resolveJobIds(client: JobsClient, typed: readonly TypedJobId[]): Promise<string[]> {
  const { jobs } = await client.call('job.resolve', { job_ids: [...typed] });
  return [...new Set(jobs.map((j) => j.job_id))];
}
