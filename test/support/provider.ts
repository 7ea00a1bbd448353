/**
 * A real HTTP Action Provider on 127.0.0.1 for tests (reference globus-timer-cli.md §3).
 * It validates every run request against action_request.schema.json, deduplicates on
 * request_id (same body → 200 with the existing status; different body → 409), tracks
 * actions through ACTIVE to a final status, and can be told to answer anything else.
 */
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const FIXTURES = new URL('../fixtures/', import.meta.url);

/** A copied reference file from test/fixtures (see its README). */
export function readFixture<T = unknown>(name: string): T {
  return JSON.parse(fs.readFileSync(new URL(name, FIXTURES), 'utf8')) as T;
}

const ajv = new Ajv({ strict: false, allErrors: true });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const validateRunRequest = ajv.compile(readFixture<object>('action_request.schema.json'));

export type FinalStatus = 'SUCCEEDED' | 'FAILED';

/** How to answer one request. */
export type Reply =
  /**
   * Accept: answer with a status document. `activePolls` polls see ACTIVE before `final`
   * (`Infinity`: ACTIVE until cancelled).
   */
  | { kind: 'accept'; httpStatus?: number; activePolls?: number; final?: FinalStatus; document?: Record<string, unknown> }
  /** Any status code with a body (JSON if an object) and headers. */
  | { kind: 'raw'; httpStatus: number; body?: unknown; headers?: Record<string, string> }
  /** Never answer (until the server closes). */
  | { kind: 'hang' }
  /** Answer `next` after `ms`. */
  | { kind: 'delay'; ms: number; next: Reply }
  /** Drop the connection without an answer. */
  | { kind: 'reset' };

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
  headers: http.IncomingHttpHeaders;
  receivedAtMs: number;
  /** For run requests: schema errors, empty when valid. */
  schemaErrors: string[];
}

interface Action {
  actionId: string;
  requestId: string;
  bodyText: string;
  pollsLeft: number;
  final: FinalStatus;
  document: Record<string, unknown>;
  released: boolean;
  /** Set by `POST …/cancel` while it was ACTIVE: it then ends FAILED. */
  cancelled: boolean;
}

export interface FakeProvider {
  /** Base URL, e.g. http://127.0.0.1:PORT/ap */
  baseUrl: string;
  runUrl: string;
  requests: RecordedRequest[];
  /** Replies used for the next run requests, in order; then `defaultRunReply`. */
  runReplies: Reply[];
  defaultRunReply: Reply;
  /** Replies used for the next status polls, in order; then the action's own state. */
  statusReplies: Reply[];
  actions: Map<string, Action>;
  /**
   * Optional token check (default null: none). When set, run requests, status polls and
   * releases whose `Authorization: Bearer X` is not accepted for `scope` get 401
   * AuthenticationFailed (and are still recorded). `accepts` is e.g. FakeAuth.accepts.
   */
  auth: { scope: string; accepts: (token: string | undefined, scope: string) => boolean } | null;
  /** `globus_auth_scope` in the introspection document at GET baseUrl (default null). */
  introspectionScope: string | null;
  /** `input_schema` in the introspection document (default `{type: 'object'}`: any body); null leaves it out. */
  inputSchema: Record<string, unknown> | null;
  /**
   * Optional (default null): rewrites the text of every answer before it is sent, given the
   * request it answers; e.g. to echo the request's bearer token in JSON escapes.
   */
  rewriteBody: ((text: string, request: RecordedRequest) => string) | null;
  /**
   * Optional (default null): the `details` of each status document, given the polls still to
   * come before the final status (0 at the end): a Transfer task making progress poll by poll.
   */
  detailsAt: ((pollsLeft: number, status: string) => Record<string, unknown>) | null;
  runRequests(): RecordedRequest[];
  statusRequests(): RecordedRequest[];
  releaseRequests(): RecordedRequest[];
  cancelRequests(): RecordedRequest[];
  /** Resolves when `n` run requests have arrived. */
  waitForRuns(n: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  close(): Promise<void>;
}

/** The recorded real status document (with `label: null`), as a template. */
export function recordedStatusDocument(): Record<string, unknown> {
  const common = readFixture<{ V1_TIMER: { results: { data: { data: Record<string, unknown> }[] } } }>('_common.json');
  return structuredClone(common.V1_TIMER.results.data[0]!.data);
}

export async function startFakeProvider(): Promise<FakeProvider> {
  const requests: RecordedRequest[] = [];
  const actions = new Map<string, Action>();
  const byRequestId = new Map<string, Action>();
  const waiters: { n: number; resolve: () => void }[] = [];
  const openSockets = new Set<import('node:net').Socket>();

  const provider: FakeProvider = {
    baseUrl: '',
    runUrl: '',
    requests,
    runReplies: [],
    defaultRunReply: { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' },
    statusReplies: [],
    actions,
    auth: null,
    introspectionScope: null,
    inputSchema: { type: 'object' },
    rewriteBody: null,
    detailsAt: null,
    runRequests: () => requests.filter((r) => r.method === 'POST' && r.path.endsWith('/run')),
    statusRequests: () => requests.filter((r) => r.path.endsWith('/status')),
    releaseRequests: () => requests.filter((r) => r.path.endsWith('/release')),
    cancelRequests: () => requests.filter((r) => r.path.endsWith('/cancel')),
    waitForRuns(n, timeoutMs = 10_000) {
      if (provider.runRequests().length >= n) return Promise.resolve(provider.runRequests());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${provider.runRequests().length} of ${n} run requests arrived`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(provider.runRequests());
          },
        });
      });
    },
    async close() {
      for (const s of openSockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  function statusDocument(action: Action, status: string): Record<string, unknown> {
    return {
      ...action.document,
      ...(provider.detailsAt ? { details: provider.detailsAt(action.pollsLeft, status) } : {}),
      action_id: action.actionId,
      status,
      display_status: status,
      label: null,
      release_after: null,
      completion_time: status === 'SUCCEEDED' || status === 'FAILED' ? new Date().toISOString() : null,
    };
  }

  /** The introspection document (reference §3), as a Globus Action Provider serves it at its base URL. */
  function introspection(): Record<string, unknown> {
    return {
      title: 'Fake Action Provider',
      subtitle: 'A test Action Provider on 127.0.0.1',
      admin_contact: 'admin@example.org',
      synchronous: false,
      log_supported: false,
      runnable_by: ['all_authenticated_users'],
      globus_auth_scope: provider.introspectionScope,
      ...(provider.inputSchema !== null ? { input_schema: provider.inputSchema } : {}),
      keywords: [],
      visible_to: ['public'],
      api_version: '1.0',
    };
  }

  /** With `provider.auth` set: answers 401 and returns true when the bearer token is not accepted. */
  function refusedAuth(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const check = provider.auth;
    if (!check) return false;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (check.accepts(m?.[1], check.scope)) return false;
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
    res.end(
      JSON.stringify({
        code: 'AuthenticationFailed',
        description: m
          ? `the bearer token is not valid for scope ${check.scope} (expired, revoked or issued for another scope)`
          : 'no bearer token: authentication required',
      }),
    );
    return true;
  }

  type AcceptReply = Extract<Reply, { kind: 'accept' }>;

  /** `onAccept` gets the accept reply actually used (after any `delay`); null when it answered itself. */
  function send(res: http.ServerResponse, reply: Reply, onAccept: (accept: AcceptReply) => Record<string, unknown> | null): void {
    switch (reply.kind) {
      case 'hang':
        return;
      case 'reset':
        res.socket?.destroy();
        return;
      case 'delay':
        setTimeout(() => send(res, reply.next, onAccept), reply.ms);
        return;
      case 'raw': {
        const isText = typeof reply.body === 'string';
        res.writeHead(reply.httpStatus, { 'content-type': isText ? 'text/plain' : 'application/json', ...reply.headers });
        res.end(reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body));
        return;
      }
      case 'accept': {
        const doc = onAccept(reply);
        if (!doc) return;
        res.writeHead(reply.httpStatus ?? 202, { 'content-type': 'application/json' });
        res.end(JSON.stringify(doc));
      }
    }
  }

  const basePath = '/ap';
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const path = req.url ?? '/';
      const record: RecordedRequest = { method: req.method ?? '', path, body, headers: req.headers, receivedAtMs: Date.now(), schemaErrors: [] };
      requests.push(record);
      const rewrite = provider.rewriteBody;
      if (rewrite) {
        const end = res.end.bind(res) as (chunk?: unknown) => http.ServerResponse;
        res.end = ((chunk?: unknown) => end(typeof chunk === 'string' ? rewrite(chunk, record) : chunk)) as typeof res.end;
      }

      const pathname = path.split('?')[0] ?? '/';
      if (req.method === 'GET' && (pathname === basePath || pathname === `${basePath}/`)) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(introspection()));
        return;
      }

      if (req.method === 'POST' && path.endsWith('/run')) {
        if (!validateRunRequest(body)) {
          record.schemaErrors = (validateRunRequest.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
        }
        for (const w of [...waiters]) {
          if (provider.runRequests().length >= w.n) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        }
        if (refusedAuth(req, res)) return;
        if (record.schemaErrors.length) {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: 'BadRequest', description: record.schemaErrors.join('; ') }));
          return;
        }
        const reply = provider.runReplies.shift() ?? provider.defaultRunReply;
        const requestId = (body as { request_id: string }).request_id;
        send(res, reply, (accept) => {
          const existing = byRequestId.get(requestId);
          if (existing) {
            if (existing.bodyText !== JSON.stringify((body as { body: unknown }).body)) {
              res.writeHead(409, { 'content-type': 'application/json' });
              res.end(JSON.stringify({ code: 'Conflict', description: 'request_id reused with a different body' }));
              return null;
            }
            // Idempotent repeat: 200 with the action's current status.
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(statusDocument(existing, existing.pollsLeft > 0 ? 'ACTIVE' : existing.final)));
            return null;
          }
          const action: Action = {
            actionId: randomUUID(),
            requestId,
            bodyText: JSON.stringify((body as { body: unknown }).body),
            pollsLeft: accept.activePolls ?? 0,
            final: accept.final ?? 'SUCCEEDED',
            document: accept.document ?? { details: { files_transferred: 1 } },
            released: false,
            cancelled: false,
          };
          actions.set(action.actionId, action);
          byRequestId.set(requestId, action);
          return statusDocument(action, action.pollsLeft > 0 ? 'ACTIVE' : action.final);
        });
        return;
      }

      const m = /\/([^/]+)\/(status|release|cancel)$/.exec(path);
      const action = m ? actions.get(decodeURIComponent(m[1]!)) : undefined;
      if (m && refusedAuth(req, res)) return;
      if (m?.[2] === 'status') {
        const scripted = provider.statusReplies.shift();
        if (scripted) return send(res, scripted, () => (action ? statusDocument(action, 'ACTIVE') : null));
        if (!action || action.released) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: 'NotFound', description: 'no such action' }));
          return;
        }
        const status = action.pollsLeft > 0 ? 'ACTIVE' : action.final;
        if (action.pollsLeft > 0) action.pollsLeft -= 1;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(statusDocument(action, status)));
        return;
      }
      if (m?.[2] === 'cancel' && action) {
        // Reference §3: 200 with the status document, 409 when the action is already complete.
        const running = action.pollsLeft > 0;
        if (running) {
          action.pollsLeft = 0;
          action.final = 'FAILED';
          action.cancelled = true;
        }
        res.writeHead(running ? 200 : 409, { 'content-type': 'application/json' });
        res.end(JSON.stringify(running ? statusDocument(action, 'FAILED') : { code: 'Conflict', description: 'the action is already complete' }));
        return;
      }
      if (m?.[2] === 'release' && action) {
        const done = action.pollsLeft === 0;
        if (done) action.released = true;
        res.writeHead(done ? 200 : 409, { 'content-type': 'application/json' });
        res.end(JSON.stringify(done ? statusDocument(action, action.final) : { code: 'Conflict' }));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'NotFound' }));
    });
  });
  server.on('connection', (s) => {
    openSockets.add(s);
    s.on('close', () => openSockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  provider.baseUrl = `http://127.0.0.1:${port}${basePath}`;
  provider.runUrl = `${provider.baseUrl}/run`;
  return provider;
}
