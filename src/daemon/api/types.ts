/**
 * The seam between the daemon's HTTP server (api/server.ts: listening, the bearer token,
 * limits, JSON in and out, errors as status codes) and the Timers API routes
 * (api/routes.ts: what each route does, in Timers' documents). A route sees a parsed
 * request and returns a status and a JSON body; it throws TimerErrors (core/errors.ts) for
 * what went wrong, and the server answers them (JOB_NOT_FOUND → 404, INVALID_INPUT → 422,
 * RequestValidationError → 422 with FastAPI's `detail[]`).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

export type ApiMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface ApiRequest {
  method: ApiMethod;
  /** The path without the query, as sent: `/jobs/`, `/jobs/3b0e…`. */
  path: string;
  /** The pattern's `:name` parts, percent-decoded: `{ job_id: '3b0e…' }`. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body; undefined when there is none (no body, or Content-Length 0). */
  body: unknown;
}

export interface ApiResponse {
  /** 200, 201, … */
  status: number;
  /** The JSON body; or, for an answer too large to build in one go, its text in pieces (JsonChunks). */
  body: unknown;
}

/**
 * A JSON body sent as it is made: the server writes each piece as it comes and lets the
 * event loop turn between them, so a large answer (`GET /jobs/` of 10,000 jobs is megabytes)
 * neither holds up other requests while it is built nor sits whole in memory.
 */
export class JsonChunks {
  readonly pieces: AsyncIterable<string>;
  constructor(pieces: AsyncIterable<string>) {
    this.pieces = pieces;
  }
}

export interface ApiRoute {
  method: ApiMethod;
  /** `/jobs/`, `/jobs/:job_id`, `/jobs/:job_id/pause`, `/v2/timer`. A trailing slash matches with or without it. */
  pattern: string;
  handle(req: ApiRequest): ApiResponse | Promise<ApiResponse>;
}

/**
 * What the server hands a request that passed the door (api/door.ts) before the JSON routes
 * are tried: the dashboard's pages, files and event stream (api/dashboard.ts), which are not
 * JSON and write their own answers.
 */
export interface WebHandler {
  /** Answers the request and returns true, or returns false: not one of its paths. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean;
  /** The token was rotated: what was let in with the old one (open event streams) ends. */
  revoke(): void;
}
