import { Agent } from 'undici';
import { sendRequest, type HttpFailureCode, type HttpOptions, type HttpResponse } from '../http/request.ts';

/**
 * HTTP calls to an Action Provider (reference globus-timer-cli.md §3). Every call returns
 * an outcome instead of throwing, so the runner decides what is transient in one place.
 */

export type TransportErrorCode = `ACTION_${HttpFailureCode}`;

export type ProviderOutcome = HttpResponse | { kind: 'transport'; code: TransportErrorCode; message: string };

export type ProviderOptions = HttpOptions;

/**
 * The daemon's connection pool. `connections` bounds the sockets per provider origin, so
 * requests to a dead provider queue behind its own few sockets and never take another
 * provider's.
 */
export function createProviderAgent(maxConnectionsPerOrigin: number): Agent {
  return new Agent({ connections: maxConnectionsPerOrigin, keepAliveTimeout: 10_000 });
}

/** The provider's base URL: the run URL without its trailing `/run`. */
export function providerBaseUrl(runUrl: string): string {
  const url = new URL(runUrl);
  url.pathname = url.pathname.replace(/\/run\/?$/, '');
  url.search = '';
  return url.toString().replace(/\/$/, '');
}

/**
 * A provider that echoes the bearer token in its answer (an error body quoting the request,
 * say) must not get it stored, logged or shown: everything kept from an answer is cut out
 * of this copy.
 */
function withoutSecret(response: HttpResponse, secret: string): HttpResponse {
  const text = response.text.replaceAll(secret, REDACTED);
  let json: unknown;
  try {
    json = response.json === undefined ? undefined : JSON.parse(JSON.stringify(response.json).replaceAll(secret, REDACTED));
  } catch {
    json = undefined;
  }
  return { ...response, text, json };
}

const REDACTED = '[REDACTED]';

export function submitAction(
  runUrl: string,
  runRequest: Record<string, unknown>,
  token: string | null,
  opts: ProviderOptions,
): Promise<ProviderOutcome> {
  return call('POST', runUrl, runRequest, token, opts);
}

export function getActionStatus(runUrl: string, actionId: string, token: string | null, opts: ProviderOptions) {
  return call('GET', `${providerBaseUrl(runUrl)}/${encodeURIComponent(actionId)}/status`, undefined, token, opts);
}

export function releaseAction(runUrl: string, actionId: string, token: string | null, opts: ProviderOptions) {
  return call('POST', `${providerBaseUrl(runUrl)}/${encodeURIComponent(actionId)}/release`, undefined, token, opts);
}

async function call(
  method: 'GET' | 'POST',
  url: string,
  body: unknown,
  token: string | null,
  opts: ProviderOptions,
): Promise<ProviderOutcome> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const outcome = await sendRequest(method, url, { headers, body: body === undefined ? undefined : JSON.stringify(body) }, opts);
  if (outcome.kind === 'response') return token && outcome.text.includes(token) ? withoutSecret(outcome, token) : outcome;
  return { kind: 'transport', code: `ACTION_${outcome.code}`, message: outcome.message };
}
