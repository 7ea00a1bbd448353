import { request, type Dispatcher } from 'undici';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../util/json-depth.ts';
import type { Cancellation } from '../util/cancellation.ts';
import { describeErrno } from '../util/errno-words.ts';
import { redactUrl } from '../util/redact-url.ts';
import { deadline } from './deadline.ts';

/**
 * One HTTP exchange with a Globus service (an Action Provider or Globus Auth), returned as
 * an outcome instead of thrown, so each caller decides in one place what is transient.
 * The body is read up to a cap and parsed as JSON when it is JSON.
 */

export type HttpFailureCode = 'TIMEOUT' | 'NETWORK' | 'RESPONSE_TOO_LARGE';

export interface HttpResponse {
  kind: 'response';
  httpStatus: number;
  /** The parsed body; undefined when it is empty, not JSON, or nested too deep to keep. */
  json: unknown;
  text: string;
  retryAfterMs: number | null;
}

export type HttpOutcome = HttpResponse | { kind: 'transport'; code: HttpFailureCode; message: string };

export interface HttpOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Aborts every request at once (daemon shutdown). */
  cancel?: Cancellation;
}

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export async function sendRequest(
  method: HttpMethod,
  url: string,
  { headers, body }: { headers: Record<string, string>; body?: string | undefined },
  opts: HttpOptions,
): Promise<HttpOutcome> {
  const dl = deadline(opts.timeoutMs, opts.cancel);
  try {
    const res = await request(url, {
      method,
      headers: { accept: 'application/json', 'user-agent': 'globus-timer', ...headers },
      // undici reads a null body as none, like an absent one (exactOptionalPropertyTypes refuses undefined).
      body: body ?? null,
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
        // An error answer keeps its status (a 503 with a big HTML page is still a 503, to
        // retry): only its start is kept. An oversized success cannot be used at all.
        if (res.statusCode < 200 || res.statusCode >= 300) {
          return { kind: 'response', httpStatus: res.statusCode, json: undefined, text, retryAfterMs: parseRetryAfter(res.headers['retry-after']) };
        }
        return { kind: 'transport', code: 'RESPONSE_TOO_LARGE', message: `${method} ${redactUrl(url)}: response larger than ${opts.maxResponseBytes} bytes` };
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
    return { kind: 'transport', code: timedOut ? 'TIMEOUT' : 'NETWORK', message: transportMessage(method, url, e) };
  } finally {
    dl.dispose();
  }
}

/**
 * Failures to connect at all, where the network (DNS, a route, a connect timeout) is the
 * likely cause rather than the service: the message says to check it.
 */
const NETWORK_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * The one line a failed exchange is reported with, by the CLI (login, whoami, introspection)
 * and in a run's stored error alike: `cannot reach auth.globus.org: check the network
 * (ENOTFOUND)` when no connection was made, else the request and what went wrong. The host
 * is shown without userinfo, a URL without its password (util/redact-url.ts).
 */
function transportMessage(method: string, url: string, e: { code?: string; message?: string }): string {
  const code = e.code ? ` (${e.code})` : '';
  if (e.code && NETWORK_CODES.has(e.code)) return `cannot reach ${hostOf(url)}: check the network${code}`;
  // Refused: the host answered, nothing listens there (the service is down, not the network).
  if (e.code === 'ECONNREFUSED') return `cannot reach ${hostOf(url)}: ${describeErrno(e.code)}${code}`;
  return `${method} ${redactUrl(url)}: ${describeErrno(e.code) ?? redactUrl(e.message ?? 'failed')}${code}`;
}

/** `host[:port]` of a URL (never its userinfo). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return redactUrl(url);
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
