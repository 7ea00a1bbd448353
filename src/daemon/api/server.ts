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
import type { AddressInfo } from 'node:net';
import { API_ADDR_ENV, apiBaseUrl, isLoopback, type ApiAddr } from '../../core/api-addr.ts';
import { ERROR_CODES, InvalidInputError, RequestValidationError, TimerError, type ValidationProblem } from '../../core/errors.ts';
import { MAX_ACTION_BODY_BYTES } from '../../core/input.ts';
import type { Logger } from '../../log/logger.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../util/json-depth.ts';
import type { ApiMethod, ApiRequest, ApiRoute } from './types.ts';

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

export interface ApiServerOptions {
  addr: ApiAddr;
  token: string;
  routes: readonly ApiRoute[];
  log: Logger;
  timeouts?: Partial<ApiTimeouts> | undefined;
}

export interface ApiServer {
  /** The base URL, with the bound port (`addr.port` 0 binds any free one). */
  readonly url: string;
  close(): Promise<void>;
}

/** Listen on `addr` (loopback only, checked again here) and answer with `routes`. */
export async function startApiServer({ addr, token, routes, log, timeouts = {} }: ApiServerOptions): Promise<ApiServer> {
  // Defense in depth: parseApiAddr refuses these already, but this is the socket that opens.
  if (!isLoopback(addr.host)) throw new InvalidInputError(`the API listens on loopback only (127.0.0.1 or ::1), not ${addr.host}`);
  const t = { ...DEFAULT_TIMEOUTS, ...timeouts };
  const table = compile(routes);
  const expected = digest(token);
  const server = http.createServer(
    {
      headersTimeout: t.headersMs,
      requestTimeout: t.requestMs,
      keepAliveTimeout: t.keepAliveMs,
      connectionsCheckingInterval: t.checkIntervalMs,
    },
    (req, res) => {
      serve(req, res, { table, expected, log }).catch((err: unknown) => {
        // serve answers every error itself; this is a failure to write the answer (a gone client).
        log.debug({ err }, 'api response failed');
        res.destroy();
      });
    },
  );
  server.maxConnections = MAX_CONNECTIONS;
  // A response that the client does not read must not hold the socket either.
  server.setTimeout(t.requestMs);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: addr.host, port: addr.port }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    throw listenError(err, addr);
  });
  server.on('error', (err) => log.error({ err }, 'api server error'));
  const bound = server.address() as AddressInfo;
  const url = apiBaseUrl({ host: addr.host, port: bound.port });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listenError(err: unknown, addr: ApiAddr): Error {
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
  expected: Buffer;
  log: Logger;
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

async function serve(req: http.IncomingMessage, res: http.ServerResponse, { table, expected, log }: Ctx): Promise<void> {
  const startedMs = performance.now();
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  let status: number;
  try {
    const answer = await route(req, path, q < 0 ? '' : rawUrl.slice(q + 1), table, expected);
    status = answer.status;
    send(req, res, answer.status, answer.body);
  } catch (err) {
    const answer = errorAnswer(err, log, req.method, path);
    status = answer.status;
    send(req, res, answer.status, answer.body, answer.headers);
  }
  // Method, path and status only: never a header (the token), never a body.
  log.debug({ method: req.method, path, status, ms: Math.round(performance.now() - startedMs) }, 'api request');
}

async function route(req: http.IncomingMessage, path: string, query: string, table: CompiledRoute[], expected: Buffer) {
  // First, before the path is even looked at: no route table for strangers.
  if (!authorized(req.headers.authorization, expected)) {
    throw new HttpAnswer(
      401,
      { code: 'AuthenticationFailed', message: 'missing or wrong bearer token; send Authorization: Bearer <token>, the token from: globus-timer api token' },
      // Closed after the answer: a stranger cannot hold the connection open for more
      // tries, and so cannot sit on the server's connection slots between them.
      { 'WWW-Authenticate': 'Bearer', Connection: 'close' },
    );
  }
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
function errorAnswer(err: unknown, log: Logger, method: string | undefined, path: string): HttpAnswer {
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

function send(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body ?? null);
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  // A body left unread (a 401 or 413 before reading it) is not drained: the connection closes.
  if (!req.complete) res.setHeader('Connection', 'close');
  res.end(text);
}
