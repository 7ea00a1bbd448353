import type { SDKOptions } from '@globus/sdk/services/types';
import { redactUrl } from '../util/redact-url.ts';
import { sendRequest, type HttpMethod, type HttpOptions, type HttpOutcome } from './request.ts';

const HTTP_METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PATCH', 'DELETE'];

/**
 * `@globus/sdk` calls made over our own HTTP (request.ts) instead of the SDK's cross-fetch,
 * through the `sdkOptions.fetch.options.__callable` hook (services/shared.js): the SDK
 * builds the request (path, form or JSON body, headers), and we keep everything we promise
 * about sending it (timeouts, the response size cap, no redirects, one-line transport
 * errors without tokens).
 *
 * The host is ours too: the SDK picks it from process.env and its own host table (Transfer
 * at transfer.api.globusonline.org, an unknown GLOBUS_SDK_ENVIRONMENT is an exception),
 * while globus-timer reads its environment once (auth/environment.ts) and the token rules
 * (auth/token-rules.ts) allow only the hosts that reading names. So the request goes to
 * `baseUrl` with the SDK's path and query, and the SDK is told the environment is
 * production only so that it never consults GLOBUS_SDK_ENVIRONMENT itself.
 */

/** An SDK service method's call, given the options that route it through us. */
export type SdkCall = (sdkOptions: SDKOptions) => Promise<unknown>;

/** Carries a transport failure out through the SDK, which would otherwise see a thrown fetch. */
class TransportFailure extends Error {
  readonly outcome: HttpOutcome;
  constructor(outcome: HttpOutcome & { kind: 'transport' }) {
    super(outcome.message);
    this.outcome = outcome;
  }
}

/** Statuses a fetch Response may not have a body with. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * Make one SDK call over our HTTP to `baseUrl` (no trailing slash; a path prefix is kept,
 * as our own URLs keep it) and return its outcome as `sendRequest` would. A caller that
 * sends a token has checked `baseUrl` against the token rules: every request of the call
 * goes to that origin.
 */
export async function sdkExchange(baseUrl: string, http: HttpOptions, call: SdkCall): Promise<HttpOutcome> {
  let outcome: HttpOutcome | undefined;
  const callable = async (input: unknown, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) => {
    const sdkUrl = new URL(String(input));
    const method = (init.method ?? 'GET').toUpperCase();
    // The methods request.ts speaks: all the Auth, Transfer and Timers calls made through here need.
    if (!HTTP_METHODS.includes(method as HttpMethod)) throw new Error(`sdkExchange: ${method} is not supported`);
    // Lower-cased, so that ours (accept, user-agent in request.ts) and the SDK's meet as one header each.
    const headers = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
    const body = init.body === undefined || init.body === null ? undefined : String(init.body);
    outcome = await sendRequest(method as HttpMethod, `${baseUrl}${sdkUrl.pathname}${sdkUrl.search}`, { headers, body }, http);
    if (outcome.kind === 'transport') throw new TransportFailure(outcome);
    // What the SDK hands back (none of the calls made here reads it): the same answer as a fetch Response.
    const status = outcome.httpStatus;
    return new Response(NULL_BODY_STATUSES.has(status) ? null : outcome.text, { status, headers: { 'content-type': 'application/json' } });
  };
  try {
    await call({ environment: 'production', fetch: { options: { __callable: callable as unknown as typeof fetch } } });
  } catch (err) {
    if (err instanceof TransportFailure) return err.outcome;
    // The SDK threw before sending: its own reading of process.env failed (GLOBUS_SDK_OPTIONS
    // that is not JSON, a GLOBUS_SDK_SERVICE_URL_* that is not a URL). Reported like a URL
    // request.ts could not use, as one line; the SDK's messages carry no request data.
    if (!outcome) return { kind: 'transport', code: 'NETWORK', message: `the Globus SDK could not call ${redactUrl(baseUrl)}: ${(err as Error).message}` };
  }
  if (!outcome) return { kind: 'transport', code: 'NETWORK', message: `the Globus SDK sent no request to ${redactUrl(baseUrl)}` };
  return outcome;
}
