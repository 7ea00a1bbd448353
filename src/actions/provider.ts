import { Agent } from 'undici';
import { sendRequest, type HttpFailureCode, type HttpOptions, type HttpResponse } from '../http/request.ts';
import { mapJson } from '../util/json-map.ts';
import { isUsableActionId } from './status.ts';

/**
 * HTTP calls to an Action Provider (reference globus-timer-cli.md §3). Every call returns
 * an outcome instead of throwing, so the runner decides what is transient in one place.
 */

type TransportErrorCode = `ACTION_${HttpFailureCode}`;

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
 * say) must not get it stored, logged or shown: everything kept from an answer (its parsed
 * JSON, and its text) is cut out of this copy.
 *
 * The token is looked for where it would be read back, not only in the raw bytes: JSON
 * escapes (`"\u0054OKEN…"`) spell it in a string without the raw text containing it, and
 * JSON.parse hands it over in clear (issue 11 item 5). Every string of the parsed value, keys
 * included, is redacted. The kept text is then the redacted value re-serialised, or for an
 * answer that is not JSON (or too deep to keep) its text with the escapes decoded and the
 * token cut out: it never keeps an escaped spelling either.
 */
export function withoutSecret(response: HttpResponse, secret: string): HttpResponse {
  // Only an escape can hide the token from the raw text, and every JSON escape starts with a
  // backslash: an answer without one (nearly all) costs two scans.
  const decoded = response.text.includes('\\') ? decodeJsonEscapes(response.text) : response.text;
  if (!response.text.includes(secret) && !decoded.includes(secret)) return response;
  const cut = (text: string) => text.replaceAll(secret, REDACTED);
  const json = mapJson(response.json, { key: cut, string: cut });
  const text = json !== undefined ? JSON.stringify(json) : cut(decoded);
  return { ...response, json, text };
}

const REDACTED = '[REDACTED]';

const JSON_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** The text with JSON string escapes (`\uXXXX`, `\n`, …) decoded, wherever they stand. */
function decodeJsonEscapes(text: string): string {
  return text.replace(/\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))/g, (_, hex: string | undefined, c: string | undefined) =>
    hex !== undefined ? String.fromCharCode(parseInt(hex, 16)) : JSON_ESCAPES[c!]!,
  );
}

export function submitAction(runUrl: string, runRequest: Record<string, unknown>, token: string | null, opts: ProviderOptions): Promise<ProviderOutcome> {
  return call('POST', runUrl, runRequest, token, opts);
}

/**
 * `<base>/<action_id>/<verb>`. The runner never passes an id that isUsableActionId refuses
 * (such answers are invalid, such stored ids are not followed); this is the last line: an id
 * that would move the request elsewhere on the provider (its root, `<base>/status`) throws
 * instead of sending the token there.
 */
function actionUrl(runUrl: string, actionId: string, verb: 'status' | 'cancel' | 'release'): string {
  if (!isUsableActionId(actionId)) throw new Error(`refusing to ${verb} action ${JSON.stringify(actionId)}: not a usable action id`);
  return `${providerBaseUrl(runUrl)}/${encodeURIComponent(actionId)}/${verb}`;
}

export function getActionStatus(runUrl: string, actionId: string, token: string | null, opts: ProviderOptions) {
  return call('GET', actionUrl(runUrl, actionId, 'status'), undefined, token, opts);
}

/** `POST …/cancel` (reference §3: 200, or 409 when the action is already complete). */
export function cancelAction(runUrl: string, actionId: string, token: string | null, opts: ProviderOptions) {
  return call('POST', actionUrl(runUrl, actionId, 'cancel'), undefined, token, opts);
}

export function releaseAction(runUrl: string, actionId: string, token: string | null, opts: ProviderOptions) {
  return call('POST', actionUrl(runUrl, actionId, 'release'), undefined, token, opts);
}

async function call(method: 'GET' | 'POST', url: string, body: unknown, token: string | null, opts: ProviderOptions): Promise<ProviderOutcome> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const outcome = await sendRequest(method, url, { headers, body: body === undefined ? undefined : JSON.stringify(body) }, opts);
  if (outcome.kind === 'response') return token ? withoutSecret(outcome, token) : outcome;
  return { kind: 'transport', code: `ACTION_${outcome.code}`, message: outcome.message };
}
