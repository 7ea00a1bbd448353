import { Agent } from 'undici';
import { TRANSFER_SCOPE } from '../core/scopes.ts';
import type { HttpOptions } from '../http/request.ts';
import { sdkExchange } from '../http/sdk-fetch.ts';
import { authBaseUrl } from './environment.ts';
import { tokenDestinationRefusal, tokenRulesFromEnv, type TokenRules } from './token-rules.ts';
import { cliTokenProvider, type TokenProvider } from './tokens.ts';

/**
 * Which collections of a transfer need a `data_access` consent, asked of Globus Transfer
 * the way globus-cli's `timer create transfer` does (reference timers-api.md §7): a GCSv5
 * mapped collection that is not high-assurance needs it. Asking for it anywhere else makes
 * the login fail with "Unknown Scope", so the answer must come from Transfer, not a guess.
 *
 * Best effort: the user may not be logged in yet, or Transfer may be out of reach. Then the
 * answer is null and the caller keeps to what the user gave with `--data-access`.
 */

export interface DataAccessDeps {
  /** Transfer's base URL, no trailing slash (`transferBaseUrl`). */
  transferUrl: string;
  /** Where the Transfer token may go (token-rules.ts): checked before a token is even fetched. */
  rules: TokenRules;
  /** The user's tokens (tokens.ts); asked for the Transfer scope. */
  tokens: TokenProvider;
  /** Per request; default 10 s, so an unreachable Transfer holds up `job transfer` only briefly. */
  timeoutMs?: number;
  /** Told why the answer is null, once, before it is returned. */
  onUnknown?: (why: UnknownReason) => void;
}

/**
 * Why Transfer was not asked, or gave no usable answer. `no-token`: the user has not logged
 * in (or Auth would not refresh): the login that follows is told about, so a caller may stay
 * quiet. The message is one line and carries no token.
 */
export interface UnknownReason {
  kind: 'no-token' | 'refused' | 'failed';
  message: string;
}

/** The one line a caller prints when the answer is null. */
export function dataAccessHint(why: UnknownReason): string {
  return `globus-timer: could not ask Globus Transfer which collections need data_access consent (${why.message}); for a GCSv5 mapped collection, give --data-access <its UUID>`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMEOUT_MS = 10_000;
/** An endpoint document is a few kB; a bigger answer is not Transfer's. */
const MAX_RESPONSE_BYTES = 256 << 10;

/** globus-cli's rule (Endpointish.requires_data_access_scope): mapped, and `high_assurance` exactly false. */
export function needsDataAccess(doc: unknown): boolean {
  const d = (doc ?? {}) as { entity_type?: unknown; high_assurance?: unknown };
  return d.entity_type === 'GCSv5_mapped_collection' && d.high_assurance === false;
}

/**
 * Transfer's base URL: `GLOBUS_SDK_SERVICE_URL_TRANSFER`, else the environment's host.
 * Transfer and Auth share globus-sdk's naming (`auth.globus.org`, `transfer.api.globus.org`,
 * `transfer.api.sandbox.globuscs.info`), so the environment is read once, by environment.ts.
 * Not the JavaScript SDK's production host (transfer.api.globusonline.org): the token rules
 * name transfer.api.globus.org, as the Python SDK and globus-cli do.
 */
export function transferBaseUrl(env: NodeJS.ProcessEnv): string {
  const override = env.GLOBUS_SDK_SERVICE_URL_TRANSFER?.trim();
  if (override) return override.replace(/\/+$/, '');
  return authBaseUrl({ GLOBUS_SDK_ENVIRONMENT: env.GLOBUS_SDK_ENVIRONMENT }).replace('://auth.', '://transfer.api.');
}

/** The CLI's dependencies: Transfer and the token rules from the environment, the user's tokens from the token cache. */
export function dataAccessDepsFromEnv(env: NodeJS.ProcessEnv, warn: (message: string) => void): DataAccessDeps {
  return {
    transferUrl: transferBaseUrl(env),
    rules: tokenRulesFromEnv(env),
    tokens: cliTokenProvider(env, warn),
  };
}

/**
 * The collections among `ids` (normalized to lower case, each once, in order) that need a
 * `data_access` consent; null when Transfer could not be asked about every one of them (no
 * token, a refused destination, a failure or an unexpected answer).
 */
export async function collectionsNeedingDataAccess(ids: readonly string[], deps: DataAccessDeps): Promise<string[] | null> {
  const unknown = (kind: UnknownReason['kind'], message: string): null => {
    deps.onUnknown?.({ kind, message });
    return null;
  };
  const unique = [...new Set(ids.map((id) => id.trim().toLowerCase()))];
  // The id goes into the request path: anything but a UUID is not asked about at all.
  const bad = unique.find((id) => !UUID.test(id));
  if (bad !== undefined || unique.length === 0) return unknown('refused', `${JSON.stringify(bad ?? '')} is not a collection UUID`);
  // The one origin every request goes to (sdk-fetch.ts): checked before a token is fetched.
  const refusal = tokenDestinationRefusal(TRANSFER_SCOPE, `${deps.transferUrl}/v0.10/endpoint`, deps.rules);
  if (refusal !== null) return unknown('refused', refusal);
  let token: string | null;
  try {
    token = await deps.tokens.getToken(TRANSFER_SCOPE, { rejected: null });
  } catch (err) {
    // Not logged in, or Auth refused the refresh or is out of reach; messages from tokens.ts carry no token.
    return unknown('no-token', (err as Error).message);
  }
  if (!token) return unknown('no-token', 'no Transfer token');
  const dispatcher = new Agent({ connections: 2 });
  const http: HttpOptions = { dispatcher, timeoutMs: deps.timeoutMs ?? TIMEOUT_MS, maxResponseBytes: MAX_RESPONSE_BYTES };
  try {
    const { endpoint } = await import('@globus/sdk/services/transfer'); // on demand: only `job transfer` asks
    const answers = await Promise.all(
      unique.map(async (id) => {
        const outcome = await sdkExchange(deps.transferUrl, http, (sdkOptions) =>
          endpoint.get(id, { headers: { Authorization: `Bearer ${token}` } }, sdkOptions),
        );
        if (outcome.kind === 'transport') return outcome.message;
        if (outcome.httpStatus === 200 && isEndpointDocument(outcome.json, id)) return { doc: outcome.json };
        if (outcome.httpStatus === 200) return `Globus Transfer's answer for collection ${id} is not its endpoint document`;
        const code = (outcome.json as { code?: unknown } | undefined)?.code;
        return `Globus Transfer answered ${outcome.httpStatus}${typeof code === 'string' ? ` ${code}` : ''} for collection ${id}`;
      }),
    );
    const failure = answers.find((a) => typeof a === 'string');
    if (failure !== undefined) return unknown('failed', failure);
    return unique.filter((_, i) => needsDataAccess((answers[i] as { doc: unknown }).doc));
  } finally {
    await dispatcher.close();
  }
}

/** Transfer's answer for this collection: an endpoint document with its id and an entity type. */
function isEndpointDocument(json: unknown, id: string): boolean {
  const d = json as { id?: unknown; entity_type?: unknown } | undefined;
  return typeof d === 'object' && d !== null && String(d.id).toLowerCase() === id && typeof d.entity_type === 'string';
}
