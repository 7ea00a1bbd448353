/**
 * The daemon's Timers REST API server (issue 14): HTTP on a loopback address, every request
 * behind the bearer token, JSON in and out, errors as the Globus SDKs parse them. What each
 * route does is api/routes.ts's; this file is the door: who may come in, how much they may
 * send, how long they may take, and how a failure is answered.
 *
 * Why node:http and no framework: the route table is a handful of fixed paths, request
 * bodies are validated with the ajv the daemon already has (api/requests.ts), and the
 * daemon's idle memory and start-up time matter more than a framework's plugins. What a
 * framework would add is here in ~200 lines: matching, the body limit, timeouts, errors.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { setImmediate } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { API_ADDR_ENV, apiBaseUrl, isLoopback, type ApiAddr } from '../../core/api-addr.ts';
import { ERROR_CODES, InvalidInputError, RequestValidationError, TimerError, type ValidationProblem } from '../../core/errors.ts';
import { MAX_ACTION_BODY_BYTES } from '../../core/input.ts';
import type { Logger } from '../../log/logger.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../util/json-depth.ts';
import { changes, cookieOpens, cookiesOf, hostAllowed, originAllowed, ourHosts, sessionCookieHeader, sessionCookieName } from './door.ts';
import { DashboardSessions, SESSION_TTL_MS } from './sessions.ts';
import { JsonChunks, type ApiMethod, type ApiRequest, type ApiRoute, type WebHandler } from './types.ts';

/**
 * The largest request body: the largest job body (1 MiB) plus room for the rest of a job
 * (schedule, name, the `{"timer": …}` wrapper). A larger one is answered 413 before it is
 * read in full.
 */
export const MAX_API_BODY_BYTES = MAX_ACTION_BODY_BYTES + (64 << 10);

/** Slow clients are cut off (a byte a second must not hold a connection for ever). */
export interface ApiTimeouts {
  /** From connecting to the end of the headers. */
  headersMs: number;
  /** From connecting to the end of the body. */
  requestMs: number;
  /** An idle kept-alive connection between requests. */
  keepAliveMs: number;
  /** How often node:http looks for connections past headersMs/requestMs (its default, 30 s, is coarser than the limits). */
  checkIntervalMs: number;
}

const DEFAULT_TIMEOUTS: ApiTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, checkIntervalMs: 1_000 };

/** Connections open at once; more wait in the kernel's backlog, then are dropped. Clients use a few each. */
const MAX_CONNECTIONS = 256;

/** What the server logs with: the daemon's logger, or on the API's thread one that forwards to it. */
export type ApiLog = Pick<Logger, 'debug' | 'error'>;

export interface ApiServerOptions {
  /** Where to bind; with `fd`, only what GLOBUS_TIMER_API_ADDR said (the fd is served). */
  addr?: ApiAddr | undefined;
  /** A listening socket to serve as it is, instead of binding `addr`: systemd's (socket activation). */
  fd?: number | undefined;
  token: string;
  routes: readonly ApiRoute[];
  log: ApiLog;
  timeouts?: Partial<ApiTimeouts> | undefined;
  /** The dashboard's pages, files and event stream, served behind the same door (api/door.ts). */
  web?: WebHandler | undefined;
}

export interface ApiServer {
  /** The base URL, with the bound port (`addr.port` 0 binds any free one). */
  readonly url: string;
  /** From the next request on, only `token` is let in (`api token --rotate`); dashboard sessions end. */
  setToken(token: string): void;
  /** A one-time dashboard login code (api/sessions.ts), made by the main thread: `/?code=…` trades it for a session. */
  addLoginCode(code: string): void;
  close(): Promise<void>;
}

/** Listen on `addr`, or on the listening socket `fd` (loopback only, checked again here), and answer with `routes`. */
export async function startApiServer({ addr, fd, token, routes, log, timeouts = {}, web }: ApiServerOptions): Promise<ApiServer> {
  // Defense in depth: parseApiAddr refuses these already, but this is the socket that opens.
  if (addr && !isLoopback(addr.host)) throw new InvalidInputError(`the API listens on loopback only (127.0.0.1 or ::1), not ${addr.host}`);
  // systemd's socket is bound and listening already: served as it is, its address checked below.
  const target = fd !== undefined ? { fd } : addr && { host: addr.host, port: addr.port };
  if (!target) throw new InvalidInputError('the API needs an address or a socket to listen on');
  const t = { ...DEFAULT_TIMEOUTS, ...timeouts };
  const table = compile(routes);
  // Read at each request, so a rotated token takes effect on the very next one, also on
  // a kept-alive connection that came in with the old token.
  const auth = { expected: digest(token) };
  // Filled in once the port is known (port 0, systemd's socket): the Host values let in, the cookie's name.
  const ctx: Ctx = { table, auth, log, hosts: new Set(), cookieName: '', sessions: new DashboardSessions(), web };
  const server = http.createServer(
    {
      headersTimeout: t.headersMs,
      requestTimeout: t.requestMs,
      keepAliveTimeout: t.keepAliveMs,
      connectionsCheckingInterval: t.checkIntervalMs,
      // Checked in route() instead, to answer in JSON (node's own 400 has no body).
      requireHostHeader: false,
    },
    (req, res) => {
      serve(req, res, ctx).catch((err: unknown) => {
        // serve answers every error itself; this is a failure to write the answer (a gone client).
        log.debug({ err }, 'api response failed');
        res.destroy();
      });
    },
  );
  server.maxConnections = MAX_CONNECTIONS;
  server.on('clientError', answerClientError);
  // `Expect:` other than 100-continue: 417 as JSON too (Node's own answer has no body).
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) =>
    send(req, res, 417, { detail: `Expectation Failed: this API does not do Expect: ${req.headers.expect ?? ''}` }),
  );
  // A response that the client does not read must not hold the socket either.
  server.setTimeout(t.requestMs);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    throw listenError(err, addr, fd);
  });
  server.on('error', (err) => log.error({ err }, 'api server error'));
  const bound = server.address();
  // Defense in depth for an inherited socket, which is whatever the socket unit says: an
  // edited ListenStream=0.0.0.0:PORT must not put the API on the network.
  if (bound === null || typeof bound === 'string' || !isLoopback(bound.address)) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw notLoopbackError(bound, fd);
  }
  const url = apiBaseUrl({ host: fd === undefined && addr ? addr.host : bound.address, port: bound.port });
  ctx.hosts = ourHosts(bound.port, new URL(url).host);
  ctx.cookieName = sessionCookieName(bound.port);
  return {
    url,
    setToken: (next) => {
      auth.expected = digest(next);
      ctx.sessions.revokeAll();
      web?.revoke();
    },
    addLoginCode: (code) => ctx.sessions.addLoginCode(code),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A request node:http could not parse (bad request line or headers, a bad Content-Length or
 * chunked framing, headers past 16 KiB, too slow to arrive) gets no request object, so no
 * route or `send`: the answer is written to the socket here, as JSON like every other one
 * (clients read `detail`), and the connection closed. Node's default is a bare status line.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large: the headers are larger than this API reads (16 KiB)']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout: the request did not arrive in time']
        : [400, `Bad Request: not a valid HTTP/1.1 request (${err.code ?? 'parse error'})`];
  const body = JSON.stringify({ detail });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Why the API may not serve where it listens: only a socket from systemd can get here. */
function notLoopbackError(bound: AddressInfo | string | null, fd: number | undefined): TimerError {
  if (bound === null || typeof bound === 'string') {
    // The Unix socket where the API's port should be: the unit lists them the other way round.
    return new TimerError(
      ERROR_CODES.CONFIG_INVALID,
      `the socket systemd passed as fd ${fd} for the REST API is not TCP: the socket unit must list the Unix socket's ListenStream= first and the API's (127.0.0.1:PORT) second, as globus-timer daemon install --api PORT writes them`,
    );
  }
  const where = apiBaseUrl({ host: bound.address, port: bound.port });
  const from = fd === undefined ? '' : ` (fd ${fd}, passed by systemd)`;
  return new TimerError(
    ERROR_CODES.CONFIG_INVALID,
    `refusing to serve the API on ${where}${from}: it listens on loopback only (127.0.0.1 or ::1); the socket unit's API line must be ListenStream=127.0.0.1:PORT, as globus-timer daemon install --api PORT writes it`,
  );
}

function listenError(err: unknown, addr: ApiAddr | undefined, fd?: number): Error {
  if (fd !== undefined || !addr) {
    return new TimerError(ERROR_CODES.CONFIG_INVALID, `cannot serve the API on the socket systemd passed (fd ${fd}): ${(err as Error).message}`);
  }
  const code = (err as NodeJS.ErrnoException).code;
  const where = apiBaseUrl(addr);
  if (code === 'EADDRINUSE')
    return new TimerError(ERROR_CODES.CONFIG_INVALID, `cannot serve the API on ${where}: the port is in use; pick another port with --api or ${API_ADDR_ENV}`);
  if (code === 'EADDRNOTAVAIL')
    return new TimerError(ERROR_CODES.CONFIG_INVALID, `cannot serve the API on ${where}: no such address on this machine; use 127.0.0.1`);
  if (code === 'EACCES')
    return new TimerError(ERROR_CODES.CONFIG_INVALID, `cannot serve the API on ${where}: ports below 1024 need privileges; pick a port above 1024`);
  return err as Error;
}

/** A route's pattern split into segments, `:name` segments capturing. */
interface CompiledRoute {
  route: ApiRoute;
  segments: string[];
}

function compile(routes: readonly ApiRoute[]): CompiledRoute[] {
  return routes.map((route) => ({ route, segments: splitPath(route.pattern) }));
}

/** `/jobs/` and `/jobs` both give `['jobs']`: a trailing slash matches with or without it. */
function splitPath(p: string): string[] {
  const parts = p.split('/').slice(1);
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/** The params of `segments` matched against a path's, or null. Empty or undecodable segments never match. */
function match(pattern: string[], path: string[]): Record<string, string> | null {
  if (pattern.length !== path.length) return null;
  const params: Record<string, string> = {};
  for (const [i, want] of pattern.entries()) {
    const got = path[i]!;
    if (!want.startsWith(':')) {
      if (got !== want) return null;
      continue;
    }
    if (got === '') return null;
    try {
      params[want.slice(1)] = decodeURIComponent(got);
    } catch {
      return null;
    }
  }
  return params;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant time: digests of equal length, compared with timingSafeEqual. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), expected);
}

interface Ctx {
  table: CompiledRoute[];
  /** The token's digest; replaced when the token is rotated. */
  auth: { expected: Buffer };
  log: ApiLog;
  /** `127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT` and the URL's own: the only Host values served. */
  hosts: Set<string>;
  /** `globus_timer_session_PORT`. */
  cookieName: string;
  sessions: DashboardSessions;
  web: WebHandler | undefined;
}

/** A body that is not JSON: the dashboard's short pages the server answers itself. */
class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** An answer the server makes itself, before or around a route. */
class HttpAnswer extends Error {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  constructor(status: number, body: unknown, headers: Record<string, string> = {}) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

async function serve(req: http.IncomingMessage, res: http.ServerResponse, ctx: Ctx): Promise<void> {
  const { log } = ctx;
  const startedMs = performance.now();
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  let status: number;
  try {
    const answer = await route(req, res, path, q < 0 ? '' : rawUrl.slice(q + 1), ctx);
    status = answer.status;
    if (answer.body === WEB_ANSWERED) {
      // Written by the web handler (a page, a file, an event stream).
    } else if (answer.body instanceof JsonChunks) await sendChunks(res, answer.status, answer.body);
    else send(req, res, answer.status, answer.body);
  } catch (err) {
    const answer = errorAnswer(err, log, req.method, path);
    status = answer.status;
    send(req, res, answer.status, answer.body, answer.headers);
  }
  // Method, path and status only: never the query (`/?token=…`), never a header (the token or cookie), never a body.
  log.debug({ method: req.method, path, status, ms: Math.round(performance.now() - startedMs) }, 'api request');
}

/** The marker of an answer the web handler wrote itself. */
const WEB_ANSWERED = Symbol('web answered');

/**
 * The door (api/door.ts says why each check): Host, then Origin, then the dashboard's login
 * (a one-time code, or the token), then the bearer token or the cookie (on the dashboard's routes); then the web handler's paths, then the
 * JSON routes.
 */
async function route(req: http.IncomingMessage, res: http.ServerResponse, path: string, query: string, ctx: Ctx) {
  const { table, auth, hosts, web, sessions, cookieName } = ctx;
  // HTTP/1.1 requires Host (RFC 9112 §3.2). HTTP/1.0 allows leaving it out, but the
  // DNS-rebinding check below reads it: a request without one is refused whatever its version.
  if (req.headers.host === undefined)
    throw new HttpAnswer(400, { detail: 'Bad Request: a request needs a Host header (send Host: 127.0.0.1:PORT)' }, { Connection: 'close' });
  // DNS rebinding: a foreign page that resolved its own name to 127.0.0.1 sends that name.
  if (!hostAllowed(req.headers.host, hosts)) {
    throw new HttpAnswer(403, { detail: `Forbidden: the Host header must be one of ${[...hosts].join(', ')}` }, { Connection: 'close' });
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !originAllowed(origin, hosts)) {
    throw new HttpAnswer(403, { detail: 'Forbidden: a request from another origin' }, { Connection: 'close' });
  }
  if (path === '/' && req.method === 'GET' && query !== '') {
    const params = new URLSearchParams(query);
    const code = params.get('code');
    const given = params.get('token');
    // `globus-timer dashboard` opens /?code=… (once, within 5 minutes); /?token=… is for a URL built by hand.
    // Either is traded for the cookie, and the redirect drops it from the address bar.
    const session = code !== null ? sessions.redeem(code) : given !== null && timingSafeEqual(digest(given), auth.expected) ? sessions.open() : null;
    if (code !== null || given !== null) {
      if (session === null) throw new HttpAnswer(401, new Html(LOGIN_PAGE), { Connection: 'close' });
      throw new HttpAnswer(303, new Html(''), { Location: '/', 'Set-Cookie': sessionCookieHeader(cookieName, session, SESSION_TTL_MS) });
    }
  }
  const bearer = authorized(req.headers.authorization, auth.expected);
  // The cookie opens the dashboard's routes only (api/door.ts cookieOpens says which).
  const cookie = !bearer && cookieOpens(req.method, path) && sessions.valid(cookiesOf(req.headers.cookie, cookieName));
  // First, before the path is even looked at: no route table for strangers.
  if (!bearer && !cookie) {
    if (path === '/' && req.method === 'GET') throw new HttpAnswer(401, new Html(LOGIN_PAGE), { Connection: 'close' });
    throw new HttpAnswer(
      401,
      { code: 'AuthenticationFailed', message: 'missing or wrong bearer token; send Authorization: Bearer <token>, the token from: globus-timer api token' },
      // Closed after the answer: a stranger cannot hold the connection open for more
      // tries, and so cannot sit on the server's connection slots between them.
      { 'WWW-Authenticate': 'Bearer', Connection: 'close' },
    );
  }
  // CSRF: a browser sends Origin with every POST/PUT/PATCH/DELETE; without it, it is not our page's.
  if (cookie && changes(req.method) && origin === undefined) {
    throw new HttpAnswer(403, { detail: 'Forbidden: a change with the dashboard cookie needs an Origin header' }, { Connection: 'close' });
  }
  if (web?.handle(req, res, path)) return { status: res.statusCode, body: WEB_ANSWERED };
  const segments = splitPath(path);
  const matched = table.flatMap(({ route, segments: pattern }) => {
    const params = match(pattern, segments);
    return params ? [{ route, params }] : [];
  });
  if (matched.length === 0) throw new HttpAnswer(404, { detail: `Not Found: ${path} is not a route of this Timers API` });
  const hit = matched.find(({ route }) => route.method === req.method);
  if (!hit) {
    const allow = [...new Set(matched.map(({ route }) => route.method))].join(', ');
    throw new HttpAnswer(405, { detail: `Method Not Allowed: ${path} takes ${allow}` }, { Allow: allow });
  }
  const method = req.method as ApiMethod;
  const body = method === 'POST' || method === 'PATCH' ? await readJsonBody(req) : undefined;
  const request: ApiRequest = { method, path, params: hit.params, query: new URLSearchParams(query), body };
  return hit.route.handle(request);
}

/** The body as JSON: undefined when there is none; 413 past the limit (declared or counted); 422 for what is not JSON. */
async function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  const tooLarge = () =>
    new HttpAnswer(413, { detail: `the request body is larger than ${MAX_API_BODY_BYTES} bytes, the most this API reads (a job body may be up to 1 MiB)` });
  if (declared > MAX_API_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_API_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  if (bytes === 0) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new RequestValidationError([{ loc: ['body'], msg: `the body is not JSON: ${(err as Error).message}`, type: 'value_error.jsondecode' }]);
  }
  if (nestsDeeperThan(body, MAX_JSON_DEPTH)) {
    throw new RequestValidationError([{ loc: ['body'], msg: `the body nests objects or arrays more than ${MAX_JSON_DEPTH} levels deep`, type: 'value_error' }]);
  }
  return body;
}

/**
 * What a failure is answered with, in the shapes the Globus SDKs read (timers-api.md §6):
 * bad input is 422 with FastAPI's `detail[]`, an unknown or deleted job 404 with the text in
 * `error.detail`; a client's mistake is never a 5xx (the SDKs retry those five times).
 * Anything unexpected is logged and answered 500 without its text.
 */
function errorAnswer(err: unknown, log: ApiLog, method: string | undefined, path: string): HttpAnswer {
  if (err instanceof HttpAnswer) return err;
  if (err instanceof RequestValidationError) return new HttpAnswer(422, { detail: err.problems });
  if (err instanceof TimerError) {
    switch (err.code) {
      case ERROR_CODES.INVALID_INPUT:
        return new HttpAnswer(422, { detail: [{ loc: ['body'], msg: err.message, type: 'value_error' } satisfies ValidationProblem] });
      case ERROR_CODES.JOB_NOT_FOUND:
      case ERROR_CODES.JOB_DELETED:
        return wrapped(404, 'NOT_FOUND', err.message);
      case ERROR_CODES.RUN_IN_PROGRESS:
      case ERROR_CODES.JOB_NOT_DELETED:
        return wrapped(409, 'CONFLICT', err.message);
      default:
        // Ours, and written for a user: its one line is safe to show.
        log.error({ err, method, path }, 'api request failed');
        return wrapped(500, err.code, err.message);
    }
  }
  log.error({ err, method, path }, 'api request failed');
  return wrapped(500, 'INTERNAL_ERROR', 'internal error; see the daemon log');
}

/** `{"error": {code, detail, status}}`: globus-sdk reads the message from `detail` inside `error`. */
function wrapped(status: number, code: string, detail: string): HttpAnswer {
  return new HttpAnswer(status, { error: { code, detail, status } });
}

/**
 * A body in pieces (api/types.ts JsonChunks), chunked: each piece is written when the client
 * has taken the last (a slow reader holds no more than a piece in memory), and the event loop
 * turns between pieces, so other requests are answered in between. A failure after the head went
 * out cannot become an error status: the connection is cut, and the client sees a short body.
 */
async function sendChunks(res: http.ServerResponse, status: number, body: JsonChunks): Promise<void> {
  res.statusCode = status;
  for (const [k, v] of Object.entries(COMMON_HEADERS)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'application/json');
  try {
    for await (const piece of body.pieces) {
      if (res.destroyed) return;
      if (!res.write(piece)) await drainedOrClosed(res);
      await setImmediate();
    }
    res.end();
  } catch (err) {
    res.destroy();
    throw err;
  }
}

function drainedOrClosed(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Answered at `/` to a browser without the cookie: no page data, only how to get in. */
const LOGIN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>globus-timer dashboard</title>
<meta name="color-scheme" content="light dark"></head>
<body style="font:16px system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em">
<h1>globus-timer dashboard</h1>
<p>This page needs a session. Open it with:</p>
<pre style="font-size:1.1em"><code>globus-timer dashboard</code></pre>
<p>(or <code>globus-timer dashboard --print</code> for its address). Its login link works once, within 5 minutes.</p>
</body></html>
`;

/** On every answer: nothing is cached (job data, the token exchange), nothing sniffed, nothing loaded from elsewhere. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'Referrer-Policy': 'no-referrer',
};

function send(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const html = body instanceof Html;
  // 204 (the dashboard's session probe) has no body at all.
  const text = status === 204 ? '' : html ? body.text : JSON.stringify(body ?? null);
  res.statusCode = status;
  for (const [k, v] of Object.entries(COMMON_HEADERS)) res.setHeader(k, v);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', html ? 'text/html; charset=utf-8' : 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  // A body left unread (a 401 or 413 before reading it) is not drained: the connection closes.
  if (!req.complete) res.setHeader('Connection', 'close');
  res.end(text);
}
