/**
 * JSON Schemas of the Timers API request bodies (timers-api.md §3), as this daemon accepts
 * them: ajv checks shapes and types with them (api/validate.ts), and they are what
 * `/openapi.json` will describe. Rules that need more than a shape (a whole number of
 * seconds, a date that parses, "null only for a run-once job") are checked in
 * api/requests.ts, with the same problem format.
 *
 * Unknown keys are allowed and ignored, as FastAPI (the hosted service) does: clients send
 * keys this daemon has no use for (`refresh_token`, `resource_server`).
 */

const dateTime = { type: 'string', maxLength: 64, description: 'ISO 8601; without an offset it is UTC' } as const;
const nullableDateTime = { type: ['string', 'null'], maxLength: 64, description: dateTime.description } as const;
const runs = { type: 'integer', minimum: 1 } as const;

/** `stop_after`: a date string (globus-sdk) or `{date, n_runs}` (the old CLI, and our documents). */
const stopAfterSchema = {
  anyOf: [
    nullableDateTime,
    {
      type: 'object',
      properties: { date: nullableDateTime, n_runs: { type: ['integer', 'null'], minimum: 1 } },
    },
  ],
} as const;

/** `TimerJob` (globus-sdk data.py), `POST /jobs/`. */
export const TIMER_JOB_SCHEMA = {
  title: 'TimerJob',
  type: 'object',
  required: ['callback_url', 'callback_body', 'start'],
  properties: {
    callback_url: { type: 'string', minLength: 1, maxLength: 2048 },
    callback_body: { type: 'object', description: 'The run request without request_id: {"body": {...}}' },
    start: dateTime,
    interval: { type: ['number', 'null'], description: 'Whole seconds; null only for a job that runs once (stop_after_n 1)' },
    name: { type: 'string', maxLength: 255 },
    stop_after: stopAfterSchema,
    stop_after_n: { type: ['integer', 'null'], minimum: 1 },
    scope: { type: ['string', 'null'], maxLength: 2048 },
  },
} as const;

/** `{"type": "once"}` or `{"type": "recurring", …}`; `interval` and `end.iterations` are accepted as aliases (timers-api.md §8.5). */
const scheduleSchema = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { enum: ['once', 'recurring'] },
    datetime: dateTime,
    interval_seconds: { type: 'number' },
    interval: { type: 'number', description: 'Alias of interval_seconds' },
    start: dateTime,
    end: {
      type: 'object',
      properties: {
        condition: { enum: ['time', 'iterations'] },
        datetime: dateTime,
        count: runs,
        iterations: { ...runs, description: 'Alias of count' },
      },
    },
  },
} as const;

/** `TransferTimer` and `FlowTimer`, each sent as `{"timer": …}` to `POST /v2/timer`. */
export const V2_TIMER_CREATE_SCHEMA = {
  title: 'V2TimerCreate',
  type: 'object',
  required: ['timer'],
  properties: {
    timer: {
      type: 'object',
      required: ['timer_type', 'schedule', 'body'],
      properties: {
        timer_type: { enum: ['transfer', 'flow'] },
        name: { type: 'string', maxLength: 255 },
        schedule: scheduleSchema,
        flow_id: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' },
        body: { type: 'object', description: 'A Transfer task document, or a flow start document {"body": {...}}' },
      },
    },
  },
} as const;

/**
 * `PATCH /jobs/{id}`: upstream takes only `name`; the others are this daemon's extension,
 * what `globus-timer job update` changes. `callback_url` and `scope` cannot change.
 */
export const JOB_UPDATE_SCHEMA = {
  title: 'JobUpdate',
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 255 },
    interval: { type: 'number' },
    start: dateTime,
    stop_after: stopAfterSchema,
    stop_after_n: { type: ['integer', 'null'], minimum: 1 },
    callback_body: { type: 'object' },
  },
} as const;

/** `POST /jobs/{id}/resume`: globus-sdk always sends `{}` or `{"update_credentials": bool}`. */
export const RESUME_SCHEMA = {
  title: 'JobResume',
  type: 'object',
  properties: { update_credentials: { type: 'boolean' } },
} as const;
