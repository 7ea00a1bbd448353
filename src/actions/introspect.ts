import { getGlobalDispatcher } from 'undici';
import { TimerError, ERROR_CODES } from '../core/errors.ts';
import { sendRequest } from '../http/request.ts';
import { providerBaseUrl } from './provider.ts';
import { checkScope } from '../core/scopes.ts';
import { redactUrl } from '../util/redact-url.ts';

const INTROSPECTION_TIMEOUT_MS = 15_000;

/**
 * The Globus Auth scope an Action Provider asks for, from its introspection document
 * (`GET <base>/`, field `globus_auth_scope`): what `job submit` uses when no `--scope` is
 * given. null when the provider names none (it takes unauthenticated calls).
 */
export async function discoverScope(runUrl: string): Promise<string | null> {
  const base = providerBaseUrl(runUrl);
  const outcome = await sendRequest(
    'GET',
    `${base}/`,
    { headers: {} },
    {
      dispatcher: getGlobalDispatcher(),
      timeoutMs: INTROSPECTION_TIMEOUT_MS,
      maxResponseBytes: 1 << 20,
    },
  );
  // Both ways out: the scope, or none at all for a provider that takes no token.
  const fail = (why: string) =>
    new TimerError(
      ERROR_CODES.SCOPE_DISCOVERY_FAILED,
      `cannot read the Globus Auth scope of ${redactUrl(base)}/ (${why}); give it with --scope SCOPE, or --no-scope if the provider takes no token`,
    );
  if (outcome.kind === 'transport') throw fail(outcome.message);
  if (outcome.httpStatus !== 200) throw fail(`the introspection request answered ${outcome.httpStatus}`);
  const doc = outcome.json as { globus_auth_scope?: unknown } | undefined;
  if (!doc || typeof doc !== 'object') throw fail('the introspection document is not JSON');
  const scope = doc.globus_auth_scope;
  if (scope === undefined || scope === null || scope === '') return null;
  if (typeof scope !== 'string') throw fail('globus_auth_scope is not a string');
  // A provider's text is checked like a user's --scope: it is printed, prompted for and
  // stored, so anything but a scope string (quotes, controls, several scopes) is refused.
  try {
    return checkScope(scope, 'globus_auth_scope');
  } catch (err) {
    throw fail((err as Error).message);
  }
}
