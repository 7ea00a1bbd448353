import { discoverScope } from '../actions/introspect.ts';
import type { SubmitJobParams } from '../rpc/protocol.ts';
import { withDaemon, type CliIo, type GlobalArgs } from './context.ts';
import { promptIo, wantsJson } from './options.ts';
import { jobRecord, toJson } from './output.ts';
import { ensureConsent } from './session.ts';

/**
 * The one way a new job reaches the daemon, for `job submit` and `job transfer` alike:
 * settle the job's scope (given, or read from the provider's introspection document) and
 * the user's consent to it, submit, print the job.
 */
export async function submitJob(io: CliIo, args: GlobalArgs & { verbose: boolean }, params: SubmitJobParams): Promise<void> {
  // undefined: not given, so ask the provider; null: explicitly none (--no-scope).
  const scope = params.scope === undefined ? await discoverScope(params.callback_url) : params.scope;
  if (scope) await ensureConsent(promptIo(io, wantsJson(args)), scope);
  const job = await withDaemon(io, args, (c) => c.call('job.submit', { ...params, scope }));
  io.out(wantsJson(args) ? toJson(job) : jobRecord(job));
}
