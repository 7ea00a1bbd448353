import {
  checkedCallbackBody,
  fetchIntrospection,
  introspectedScope,
  SCHEMA_INTROSPECTION_TIMEOUT_MS,
  SCOPE_INTROSPECTION_TIMEOUT_MS,
  type Introspection,
  type SchemaOnlyKeys,
} from '../actions/introspect.ts';
import { knownScope } from '../actions/known-scopes.ts';
import { globusServiceOf, tokenDestinationRefusal, tokenRulesFromEnv } from '../auth/token-rules.ts';
import { shellQuote } from '../util/shell-quote.ts';
import { InvalidInputError } from '../core/errors.ts';
import { formatScope, TIMERS_SCOPE } from '../core/scopes.ts';
import { currentTransferParams } from '../core/transfer.ts';
import type { SubmitJobParams } from '../contract/protocol.ts';
import { withJobs, type CliIo, type GlobalArgs } from './context.ts';
import { serviceChoice } from '../remote/service.ts';
import { askYesNo, promptIo, wantsJson } from './options.ts';
import { jobRecord, toJson } from './output.ts';
import { ensureConsent } from './session.ts';

/**
 * The one way a new job reaches the daemon, for `job submit` and `job transfer` alike:
 * move a job for the legacy Transfer provider to the current one (core/transfer.ts), read
 * the provider's introspection document once and check the action body against its input
 * schema (actions/introspect.ts; exit 2 before any login or question when the provider would
 * refuse it), settle the job's scope (given; known from the URL, actions/known-scopes.ts; or
 * the introspected one, accepted by the user), the user's consent to it, submit, print the job.
 */
export async function submitJob(
  args: GlobalArgs & { verbose: boolean },
  given: SubmitJobParams,
  { schemaOnlyKeys = {} }: { schemaOnlyKeys?: SchemaOnlyKeys } = {},
): Promise<void> {
  const { io } = args;
  const json = wantsJson(args);
  const current = currentTransferParams(given, io.env);
  if (current.notice) io.err(current.notice);
  // undefined: not given, so the known one or the provider's; null: explicitly none (--no-scope).
  const knownOrGiven = current.params.scope !== undefined ? current.params.scope : knownScope(current.params.callback_url, io.env);
  const scopeFromProvider = current.params.scope === undefined && knownOrGiven === null;
  // One request serves both: the scope needs the answer (longer wait), the body check is best effort.
  const intro = await fetchIntrospection(current.params.callback_url, scopeFromProvider ? SCOPE_INTROSPECTION_TIMEOUT_MS : SCHEMA_INTROSPECTION_TIMEOUT_MS);
  const checked = checkedCallbackBody(intro, current.params.callback_body, schemaOnlyKeys);
  for (const notice of checked.notices) io.err(notice);
  const params = { ...current.params, callback_body: checked.callbackBody };
  const scope = scopeFromProvider ? await acceptedIntrospectedScope(promptIo(io, json), intro) : knownOrGiven;
  const service = serviceChoice(args.service, io.env);
  // The hosted service acts with dependent tokens: a job's scope is consented to as a
  // dependency of the Timers scope (as globus-cli asks for it), so the login covers both.
  if (scope && service.kind === 'hosted') await ensureConsent(promptIo(io, json), formatScope(TIMERS_SCOPE, [scope]));
  // Another daemon's API runs the job with that daemon's tokens and consents: it checks both
  // itself, and makes a job it has no consent for inactive, saying which to give.
  if (scope && service.kind === 'local') {
    // The daemon checks the token rules when it takes the job, with its own environment
    // (which decides plain http). The hosts a Globus service's token may go to are checked
    // here as well, so that no login is started for a token that would never be sent.
    const refusal = tokenDestinationRefusal(scope, params.callback_url, { ...tokenRulesFromEnv(io.env), allowHttpTokens: true });
    if (refusal) throw new InvalidInputError(refusal);
    await ensureConsent(promptIo(io, json), scope);
  }
  const job = await withJobs(args, (c) => c.call('job.submit', { ...params, scope }));
  io.out(json ? toJson(job) : jobRecord(job));
}

/**
 * The scope the provider names in its introspection document, once the user has accepted
 * it (issue 11 item 1): a provider must not choose which of the user's tokens it gets.
 * - A Globus service's own scope needs no question: it is sent only to that service's
 *   hosts (token-rules.ts), so a provider elsewhere that names it is refused by submitJob.
 * - Any other scope is shown with the provider's host and confirmed at a terminal; in a
 *   script it is exit 2, saying how to accept it (`--scope`) or send no token.
 */
async function acceptedIntrospectedScope(io: CliIo, intro: Introspection): Promise<string | null> {
  const scope = introspectedScope(intro);
  if (!scope || globusServiceOf(scope)) return scope;
  const host = new URL(intro.base).host;
  const accept = `--scope ${shellQuote(scope)}`;
  if (!io.interactive || !io.readLine) {
    throw new InvalidInputError(
      `the provider at ${host} asks for a token for scope ${shellQuote(scope)}; to send it one on every run, give ${accept} (or --no-scope to send none)`,
    );
  }
  io.err(
    `globus-timer: the Action Provider at ${host} asks for a Globus token for scope:\n  ${scope}\nEvery run, status poll and release of this job will send it that token.`,
  );
  if (await askYesNo(io, `Send ${host} your token for this scope?`)) return scope;
  throw new InvalidInputError(`not submitted: the scope was not accepted; give ${accept} to accept it, or --no-scope to send no token`);
}
