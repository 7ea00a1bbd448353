import { Agent, request, type Dispatcher } from 'undici';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../json-depth.ts';
import { deadline } from './deadline.ts';

/**
 * HTTP calls to an Action Provider (reference globus-timer-cli.md §3). Every call returns
 * an outcome instead of throwing, so the runner decides what is transient in one place.
 */

export type TransportErrorCode = 'ACTION_TIMEOUT' | 'ACTION_NETWORK' | 'ACTION_RESPONSE_TOO_LARGE';

export type ProviderOutcome =
  | { kind: 'response'; httpStatus: number; json: unknown; text: string; retryAfterMs: number | null }
  | { kind: 'transport'; code: TransportErrorCode; message: string };

export interface ProviderOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Aborts every request at once (daemon shutdown). */
  signal?: AbortSignal;
}

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
  const dl = deadline(opts.timeoutMs, opts.signal);
  try {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'globus-timer' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await request(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: dl.signal,
      dispatcher: opts.dispatcher,
    });
    let text = '';
    let bytes = 0;
    res.body.setEncoding('utf8');
    for await (const chunk of res.body as AsyncIterable<string>) {
      bytes += Buffer.byteLength(chunk);
      if (bytes > opts.maxResponseBytes) {
        res.body.destroy();
        return {
          kind: 'transport',
          code: 'ACTION_RESPONSE_TOO_LARGE',
          message: `${method} ${url}: response larger than ${opts.maxResponseBytes} bytes`,
        };
      }
      text += chunk;
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    // Too deep to store: treat like unreadable JSON (the start of the text is still kept).
    if (nestsDeeperThan(json, MAX_JSON_DEPTH)) json = undefined;
    return { kind: 'response', httpStatus: res.statusCode, json, text, retryAfterMs: parseRetryAfter(res.headers['retry-after']) };
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string };
    const timedOut = e.name === 'TimeoutError' || (typeof e.code === 'string' && e.code.endsWith('_TIMEOUT'));
    return {
      kind: 'transport',
      code: timedOut ? 'ACTION_TIMEOUT' : 'ACTION_NETWORK',
      message: `${method} ${url}: ${e.message ?? String(err)}${e.code ? ` (${e.code})` : ''}`,
    };
  } finally {
    dl.dispose();
  }
}

/** `Retry-After` as seconds or an HTTP date; null when absent or unreadable. */
function parseRetryAfter(value: string | string[] | undefined): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return null;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim()) * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}
