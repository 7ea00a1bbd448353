/**
 * `GET /openapi.json` (issue 14): an OpenAPI 3.1 description of exactly the routes this
 * daemon serves. It is built from the served route list, so it cannot list a route that is
 * not there, and from the very schema objects that validate the request bodies
 * (api/schemas.ts), so what it says a body may be is what the server accepts. A served route
 * without an entry in OPERATIONS below makes the build throw: a new route must be described.
 *
 * The token: this route is behind the bearer token like every other one (api/server.ts checks
 * it before any route is looked up). The hosted service serves its openapi.json publicly, and
 * this document holds no secret, but one rule for the whole port is simpler to state and to
 * keep than an exception: nothing on it answers a stranger, not even with the route table.
 */

import { VERSION } from '../../util/package-root.ts';
import { JOB_UPDATE_SCHEMA, RESUME_SCHEMA, TIMER_JOB_SCHEMA, V2_TIMER_CREATE_SCHEMA } from './schemas.ts';
import type { ApiMethod, ApiRoute } from './types.ts';

export const OPENAPI_PATH = '/openapi.json';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string) => ({ type: [type, 'null'] });
const dateTime = { type: 'string', description: 'ISO 8601 with an offset' };
const nullableDateTime = { type: ['string', 'null'], description: dateTime.description };

/** `{date, n_runs}` or null: the end condition, as the documents show it. */
const STOP_AFTER = {
  type: ['object', 'null'],
  properties: { date: nullableDateTime, n_runs: nullable('integer') },
};

/** The V2 schedule form; a calendar job (this daemon's, no upstream form) adds `cron` and `timezone`. */
const SCHEDULE = {
  title: 'Schedule',
  type: 'object',
  required: ['type'],
  properties: {
    type: { enum: ['once', 'recurring'] },
    datetime: { ...dateTime, description: 'once: when it runs' },
    interval_seconds: nullable('number'),
    start: dateTime,
    end: {
      type: 'object',
      properties: { condition: { enum: ['time', 'iterations'] }, datetime: dateTime, count: { type: 'integer' } },
    },
    cron: { type: 'string', description: 'This daemon only: a calendar schedule' },
    timezone: nullable('string'),
  },
};

const INACTIVE_REASON = {
  type: ['object', 'null'],
  description: 'An object whenever status is inactive: {cause: user | globus_auth_requirements | …, detail}',
  properties: { cause: { type: 'string' }, detail: {} },
};

const ACTIVITY = {
  type: ['object', 'null'],
  description: 'null once the timer is no longer active',
  required: ['code'],
  properties: {
    code: { enum: ['awaiting_next_run', 'run_in_progress', 'retrying', 'paused'] },
    next_run: nullableDateTime,
    start_timestamp: nullableDateTime,
    duration_seconds: { type: 'number' },
    reason: { enum: ['user', 'globus_auth_requirements', 'other'] },
  },
};

const TIMER_TYPE = { enum: ['transfer', 'flow', 'generic'] };
const STATUS = { type: 'string', description: 'loaded, inactive, ended or deleted' };

const JOB_RESULT = {
  title: 'JobResult',
  type: 'object',
  required: ['ran_at', 'run_status', 'start_timestamp'],
  properties: {
    data: nullable('object'),
    errors: {},
    status: { ...nullable('integer'), description: 'The HTTP status of the run request' },
    ran_at: dateTime,
    run_status: { type: 'string' },
    start_timestamp: dateTime,
    end_timestamp: nullableDateTime,
    resource_id: { ...nullable('string'), description: 'The action id' },
  },
};

/** documents.ts V1JobDocument: `GET /jobs/{id}` and the other /jobs answers. */
const V1_JOB = {
  title: 'JobRead',
  type: 'object',
  required: [
    'job_id',
    'name',
    'status',
    'start',
    'stop_after',
    'callback_url',
    'callback_body',
    'submitted_at',
    'n_runs',
    'n_errors',
    'results',
    'timer_type',
    'schedule',
  ],
  properties: {
    name: { type: 'string' },
    start: dateTime,
    stop_after: STOP_AFTER,
    interval: { ...nullable('number'), description: 'Seconds; null for a job that runs once' },
    callback_url: { type: 'string' },
    callback_body: { type: 'object' },
    inactive_reason: INACTIVE_REASON,
    scope: nullable('string'),
    job_id: { type: 'string', format: 'uuid' },
    status: STATUS,
    submitted_at: dateTime,
    last_ran_at: nullableDateTime,
    next_run: nullableDateTime,
    n_runs: { type: 'integer' },
    n_errors: { type: 'integer' },
    results: {
      type: 'object',
      required: ['data'],
      properties: { data: { type: 'array', items: ref('JobResult'), description: 'Newest first' }, page_next: nullable('string') },
    },
    timer_type: TIMER_TYPE,
    schedule: ref('Schedule'),
    activity: ACTIVITY,
  },
};

/** documents.ts V2TimerDocument: the same job, counts as number_of_runs / number_of_errors. */
const V2_TIMER = {
  title: 'TimerRead',
  type: 'object',
  required: ['job_id', 'name', 'status', 'body', 'schedule', 'timer_type', 'submitted_at', 'number_of_runs', 'number_of_errors'],
  properties: {
    body: { type: 'object' },
    inactive_reason: INACTIVE_REASON,
    job_id: { type: 'string', format: 'uuid' },
    last_ran_at: nullableDateTime,
    name: { type: 'string' },
    next_run: nullableDateTime,
    number_of_errors: { type: 'integer' },
    number_of_runs: { type: 'integer' },
    schedule: ref('Schedule'),
    status: STATUS,
    submitted_at: dateTime,
    timer_type: TIMER_TYPE,
    activity: ACTIVITY,
    flow_id: { type: 'string', format: 'uuid' },
  },
};

/** FastAPI's 422: globus-sdk reads `msg: body.dotted.loc` from each. */
const VALIDATION_ERROR = {
  title: 'HTTPValidationError',
  type: 'object',
  required: ['detail'],
  properties: {
    detail: {
      type: 'array',
      items: {
        type: 'object',
        required: ['loc', 'msg', 'type'],
        properties: { loc: { type: 'array', items: { type: ['string', 'integer'] } }, msg: { type: 'string' }, type: { type: 'string' } },
      },
    },
  },
};

/** `{"error": {code, detail, status}}`: an unknown or deleted job (404), a conflict (409), a failure (500). */
const ERROR = {
  title: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'detail', 'status'],
      properties: { code: { type: 'string' }, detail: { type: 'string' }, status: { type: 'integer' } },
    },
  },
};

/** `{"detail": "…"}`: FastAPI's plain form, for a path that is no route (404), a wrong method (405), a body too large (413). */
const DETAIL = { title: 'Detail', type: 'object', required: ['detail'], properties: { detail: { type: 'string' } } };

const AUTHENTICATION_FAILED = {
  title: 'AuthenticationFailed',
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { const: 'AuthenticationFailed' }, message: { type: 'string' } },
};

const SCHEMAS = {
  TimerJob: TIMER_JOB_SCHEMA,
  V2TimerCreate: V2_TIMER_CREATE_SCHEMA,
  JobUpdate: JOB_UPDATE_SCHEMA,
  JobResume: RESUME_SCHEMA,
  JobRead: V1_JOB,
  JobList: { title: 'JobList', type: 'object', required: ['jobs'], properties: { jobs: { type: 'array', items: ref('JobRead') } } },
  TimerCreated: { title: 'TimerCreated', type: 'object', required: ['timer'], properties: { timer: ref('TimerRead') } },
  TimerRead: V2_TIMER,
  JobResult: JOB_RESULT,
  Schedule: SCHEDULE,
  Message: { title: 'Message', type: 'object', required: ['message'], properties: { message: { type: 'string' } } },
  HTTPValidationError: VALIDATION_ERROR,
  Error: ERROR,
  Detail: DETAIL,
  AuthenticationFailed: AUTHENTICATION_FAILED,
  // The OpenAPI document itself: described only as an object, not by the OpenAPI meta-schema.
  OpenAPI: {
    title: 'OpenAPI',
    type: 'object',
    required: ['openapi', 'info', 'paths'],
    properties: { openapi: { const: '3.1.0' }, info: { type: 'object' }, paths: { type: 'object' } },
  },
};

type SchemaName = keyof typeof SCHEMAS;

const json = (schema: SchemaName, description: string) => ({ description, content: { 'application/json': { schema: ref(schema) } } });

/** Answers every route may give (the token, the body limit for POST/PATCH, an internal failure). */
const COMMON_RESPONSES = {
  Unauthorized: json('AuthenticationFailed', 'No bearer token, or a wrong one (the token: globus-timer api token)'),
  ValidationFailed: json('HTTPValidationError', 'The body, a query parameter or a job field is invalid'),
  NotFound: json('Error', 'No such job, or a deleted one'),
  Conflict: json('Error', 'The job is busy (a run in progress)'),
  TooLarge: json('Detail', 'The body is larger than the API reads'),
  InternalError: json('Error', 'An internal failure; see the daemon log'),
};

type ResponseName = keyof typeof COMMON_RESPONSES;

interface Operation {
  summary: string;
  operationId: string;
  /** The success status and its schema. */
  ok: [status: number, schema: SchemaName, description: string];
  body?: { schema: SchemaName; required: boolean };
  query?: { name: string; description: string; schema: object }[];
  /** Error answers besides 401 and 500, which every route may give. */
  errors: ResponseName[];
}

/** Every route the daemon serves, keyed `METHOD pattern` as in the route list. */
const OPERATIONS: Readonly<Record<string, Operation>> = {
  'GET /jobs/': {
    summary: 'List jobs (not deleted ones), oldest first',
    operationId: 'list_jobs',
    ok: [200, 'JobList', 'The jobs'],
    query: [
      {
        name: 'filter_status',
        description: 'Comma-separated categories: active, inactive, ended (default all three); repeatable',
        schema: { type: 'string' },
      },
    ],
    errors: [],
  },
  'POST /jobs/': {
    summary: 'Create a job (globus-sdk TimerJob)',
    operationId: 'create_job',
    ok: [201, 'JobRead', 'The new job'],
    body: { schema: 'TimerJob', required: true },
    errors: ['ValidationFailed', 'TooLarge'],
  },
  'GET /jobs/:job_id': {
    summary: 'Show a job, with its latest runs',
    operationId: 'get_job',
    ok: [200, 'JobRead', 'The job'],
    errors: ['NotFound'],
  },
  'PATCH /jobs/:job_id': {
    summary: 'Update a job: name (upstream), and this daemon also takes interval, start, stop_after, stop_after_n, callback_body',
    operationId: 'update_job',
    ok: [200, 'JobRead', 'The updated job'],
    body: { schema: 'JobUpdate', required: true },
    errors: ['NotFound', 'ValidationFailed', 'Conflict', 'TooLarge'],
  },
  'DELETE /jobs/:job_id': {
    summary: 'Delete a job',
    operationId: 'delete_job',
    ok: [200, 'JobRead', 'The deleted job (status deleted)'],
    errors: ['NotFound', 'Conflict'],
  },
  'POST /jobs/:job_id/pause': {
    summary: 'Pause a job',
    operationId: 'pause_job',
    ok: [200, 'Message', '"Successfully paused job <id>."'],
    errors: ['NotFound', 'ValidationFailed', 'TooLarge'],
  },
  'POST /jobs/:job_id/resume': {
    summary: 'Resume a job (a missed run runs once, at once)',
    operationId: 'resume_job',
    ok: [200, 'Message', '"Successfully resumed job <id>."'],
    body: { schema: 'JobResume', required: false },
    query: [{ name: 'update_credentials', description: 'Accepted as in the body, and not needed here', schema: { type: 'boolean' } }],
    errors: ['NotFound', 'ValidationFailed', 'TooLarge'],
  },
  'POST /v2/timer': {
    summary: 'Create a timer (globus-sdk TransferTimer or FlowTimer, as {"timer": …})',
    operationId: 'create_timer',
    ok: [201, 'TimerCreated', 'The new timer'],
    body: { schema: 'V2TimerCreate', required: true },
    errors: ['ValidationFailed', 'TooLarge'],
  },
  [`GET ${OPENAPI_PATH}`]: {
    summary: 'This description',
    operationId: 'openapi',
    ok: [200, 'OpenAPI', 'OpenAPI 3.1'],
    errors: [],
  },
};

const STATUS_OF: Readonly<Record<ResponseName, number>> = {
  Unauthorized: 401,
  ValidationFailed: 422,
  NotFound: 404,
  Conflict: 409,
  TooLarge: 413,
  InternalError: 500,
};

/** `/jobs/:job_id` → `/jobs/{job_id}`. */
export function openApiPath(pattern: string): string {
  return pattern.replace(/:([A-Za-z_]\w*)/g, '{$1}');
}

function paramsOf(pattern: string, op: Operation): object[] {
  const inPath = [...pattern.matchAll(/:([A-Za-z_]\w*)/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    description: 'A job id (UUID); anything else is answered 404',
    schema: { type: 'string' },
  }));
  const inQuery = (op.query ?? []).map((q) => ({ ...q, in: 'query', required: false }));
  return [...inPath, ...inQuery];
}

function operationOf(route: ApiRoute): object {
  const op = OPERATIONS[`${route.method} ${route.pattern}`];
  if (!op) throw new Error(`api/openapi.ts describes no ${route.method} ${route.pattern}: add it to OPERATIONS`);
  const [okStatus, okSchema, okText] = op.ok;
  const responses: Record<string, unknown> = { [okStatus]: json(okSchema, okText) };
  for (const name of ['Unauthorized', ...op.errors, 'InternalError'] as ResponseName[]) responses[STATUS_OF[name]] = { $ref: `#/components/responses/${name}` };
  const params = paramsOf(route.pattern, op);
  return {
    summary: op.summary,
    operationId: op.operationId,
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(op.body ? { requestBody: { required: op.body.required, content: { 'application/json': { schema: ref(op.body.schema) } } } } : {}),
    responses,
  };
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  jsonSchemaDialect: string;
  servers: { url: string }[];
  security: Record<string, string[]>[];
  paths: Record<string, Partial<Record<Lowercase<ApiMethod>, object>>>;
  components: { schemas: typeof SCHEMAS; responses: typeof COMMON_RESPONSES; securitySchemes: Record<string, object> };
}

/** The description of `routes`, served at `baseUrl`. */
export function openApiDocument(routes: readonly ApiRoute[], baseUrl: string): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of routes) {
    const item = (paths[openApiPath(route.pattern)] ??= {});
    item[route.method.toLowerCase() as Lowercase<ApiMethod>] = operationOf(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'globus-timer Timers API',
      version: VERSION,
      description:
        "The Globus Timers REST API as this globus-timer daemon serves it, on loopback. A path's trailing slash is optional. " +
        'A path that is no route is answered 404 and a method a path does not take 405 (with Allow), both {"detail": "…"}.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: baseUrl }],
    security: [{ bearerToken: [] }],
    paths,
    components: {
      schemas: SCHEMAS,
      responses: COMMON_RESPONSES,
      securitySchemes: {
        bearerToken: { type: 'http', scheme: 'bearer', description: 'The token from: globus-timer api token (file api-token beside the database)' },
      },
    },
  };
}

/**
 * `routes` and `GET /openapi.json` describing them all, itself included. `baseUrl` is read
 * when the document is asked for: the port is bound after the routes are made.
 */
export function withOpenApi(routes: readonly ApiRoute[], baseUrl: () => string | null): ApiRoute[] {
  const all: ApiRoute[] = [...routes];
  all.push({ method: 'GET', pattern: OPENAPI_PATH, handle: () => ({ status: 200, body: openApiDocument(all, baseUrl() ?? '/') }) });
  openApiDocument(all, '/'); // a route without a description fails here, at start, not at the first request
  return all;
}
