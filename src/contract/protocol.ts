/**
 * The one contract between the CLI and the daemon: JSON-RPC 2.0 method names, their
 * parameters and results. Both `contract/client.ts` and `daemon/rpc-server.ts` are typed by `Methods`.
 * Field names are snake_case, like the Timers job document they carry.
 */

import type { JSONSchemaType } from 'ajv';
import {
  MISFIRE_POLICIES,
  OVERLAP_POLICIES,
  RUN_STATES,
  type InactiveReason,
  type JobStatus,
  type MisfirePolicy,
  type OverlapPolicy,
  type RunError,
  type RunState,
} from '../core/vocabulary.ts';
import type { OnFailure, OnFailureChange } from '../core/on-failure.ts';

/**
 * Bumped on any incompatible change; the daemon reports it in `daemon.status`.
 * 2: job.resolve and job.purge (a CLI of 2 needs them), frames of up to 4 MiB.
 */
export const PROTOCOL_VERSION = 2;

/**
 * The largest frame, either way: one line of JSON, its UTF-8 bytes without the newline.
 * A longer one is refused with an error that names its size and this limit: the daemon
 * answers a request over it and closes the connection (daemon/rpc-server.ts), and it answers with
 * an error, never sends, a reply over it; the client refuses to send one (contract/client.ts).
 *
 * 4 MiB holds any request (a job.submit is at most its 1 MiB body, core/input.ts
 * MAX_ACTION_BODY_BYTES, plus a few KiB) and any job.list or job.history page: a page's
 * items take at most MAX_PAGE_BYTES, or it is a single item; the largest job document in
 * a list is its body plus its newest run (a provider's status document, at most
 * maxResponseBytes, 1 MiB by default) plus a few KiB.
 */
export const MAX_FRAME_BYTES = 4 << 20;

/**
 * job.list and job.history pages stop adding items before their JSON passes this, whatever
 * the `limit` (always at least one item, so a page moves on): with the largest item, a
 * page stays well under MAX_FRAME_BYTES.
 */
export const MAX_PAGE_BYTES = 1 << 20;

/** Parameters of `job.submit`, in canonical form: the CLI has already parsed user text. */
export interface SubmitJobParams {
  name: string;
  /** ISO-8601 instant; absent or null means "now" on the daemon's clock. */
  start?: string | null;
  /** Seconds between slots of an interval job. Exactly one of interval_seconds and cron. */
  interval_seconds?: number;
  /** A calendar job's cron expression (SPEC §2 rule 10): its slots are the occurrences at or after start. */
  cron?: string | null;
  /** IANA zone the cron expression is read in; absent or null: client_timezone, else the daemon's zone (stored either way). */
  timezone?: string | null;
  /**
   * The client's own zone (the CLI sends the user's): what a calendar job given no timezone
   * is stored with (issue 12 item 10), so a daemon restarted under another TZ cannot move it.
   */
  client_timezone?: string | null;
  callback_url: string;
  /** The run request without `request_id`: `{body: {...}, label?, ...}`. */
  callback_body: Record<string, unknown>;
  scope?: string | null;
  stop_after?: { date?: string | null; n_runs?: number | null } | null;
  policy?: { overlap?: OverlapPolicy; misfire?: MisfirePolicy };
  /** Absent, null or neither set: the daemon-wide default (GLOBUS_TIMER_ON_FAILURE), if any. */
  on_failure?: OnFailureChange | null;
}

/**
 * Every `job_id` parameter is a job's full id, lower case, as job documents and job.resolve
 * give it (anything else is simply not found). What a user types (any case, or a unique
 * prefix) is resolved with job.resolve first.
 */
interface JobIdParams {
  job_id: string;
}

/**
 * `job.resolve`: ids as a user typed them, each a full UUID in any case or a prefix of at
 * least 4 hex digits (core/job-id.ts). All or nothing: the first id that is malformed
 * (INVALID_INPUT), matches several jobs (INVALID_INPUT, naming a few) or none
 * (JOB_NOT_FOUND) fails the call. Deleted jobs count: their history stays readable.
 */
export interface ResolveJobIdsParams {
  /** 1–1000 ids. */
  job_ids: string[];
}

/** A job as job.resolve and job.purge name it. */
export interface JobRef {
  job_id: string;
  name: string;
  status: JobStatus;
}

export interface ResolveJobIdsResult {
  /** One per id asked for, in the same order (an id given twice is there twice). */
  jobs: JobRef[];
}

/**
 * `job.purge`: remove deleted jobs and their runs for good. All or nothing: a job that is
 * unknown (JOB_NOT_FOUND), not deleted (JOB_NOT_DELETED) or still has runs being closed
 * (RUN_IN_PROGRESS) fails the call and nothing is removed.
 */
export interface PurgeParams {
  /** 1–1000 full ids. */
  job_ids: string[];
  /** Check only: fail as the purge would, remove nothing. */
  dry_run?: boolean;
}

export interface PurgeResult {
  /** The jobs removed (with dry_run: that would be), each once, in the order given, with how many runs went with them. */
  purged: (JobRef & { runs: number })[];
}

export interface ListJobsParams {
  /** Page size, 1–1000 (default 100). */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string | null;
  show_deleted?: boolean;
}

/** One run as it appears in `results.data`: the v1 fields plus ours. */
export interface RunResult {
  /** When the run was fired (its first submission attempt). */
  ran_at: string;
  /** HTTP status of the submission; null until the provider answered. */
  status: number | null;
  /** The provider's latest action status document. */
  data: Record<string, unknown> | null;
  errors: RunError | null;
  slot: string;
  run_state: RunState;
  action_id: string | null;
  action_status: string | null;
  request_id: string;
  attempts: number;
  completed_at: string | null;
}

export type ActivityCode = 'awaiting_next_run' | 'run_in_progress' | 'retrying' | 'paused' | 'finished' | 'deleted';

/** The v1 Timers job document (reference `V1_TIMER`) plus additions; never a secret in it. */
export interface JobDocument {
  job_id: string;
  name: string;
  start: string;
  /** Seconds between slots; null for a calendar job. */
  interval: number | null;
  /** A calendar job's cron expression; null for an interval job. */
  cron: string | null;
  /** The zone `cron` is read in; null: the daemon's local zone (or an interval job). */
  timezone: string | null;
  stop_after: { date: string | null; n_runs: number | null } | null;
  scope: string | null;
  callback_url: string;
  callback_body: Record<string, unknown>;
  status: JobStatus;
  inactive_reason: InactiveReason | null;
  submitted_at: string;
  last_ran_at: string | null;
  next_run: string | null;
  n_runs: number;
  n_errors: number;
  results: { data: RunResult[]; page_next: string | null };
  activity: { code: ActivityCode; start_timestamp: string | null };
  policy: { overlap: OverlapPolicy; misfire: MisfirePolicy };
  skipped_slots: { missed: number; overlap: number };
  /** Only when the job has its own (a job without one follows the daemon-wide default, if any). */
  on_failure?: OnFailure;
}

export interface ResumeResult {
  job: JobDocument;
  /** False when the job was not inactive: nothing changed. */
  resumed: boolean;
}

export interface PauseParams {
  job_id: string;
  /** Why, for whoever looks later: `inactive_reason.detail`. */
  note?: string | null;
}

export interface PauseResult {
  job: JobDocument;
  /** False when the job was not loaded (already paused or inactive, finished): nothing changed. A deleted job is JOB_DELETED. */
  paused: boolean;
}

export interface RunNowParams {
  job_id: string;
  /** Fire even while the previous run is in progress under overlap=skip. */
  force?: boolean;
}

export interface RunNowResult {
  job: JobDocument;
  /** The run just fired (manual, outside the grid); its request_id is random and stored. */
  run: RunResult;
}

export interface HistoryParams {
  job_id: string;
  /** Page size, 1–1000 (default 20). */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string | null;
  /** ISO-8601 instant: only runs fired at or after it. */
  since?: string | null;
  status?: RunState | null;
}

/** One run in `job.history`: the run as `results.data` shows it, plus the following. */
export interface HistoryEntry extends RunResult {
  /** fired_at − slot in ms; null for a manual run (it has no slot on the grid). */
  lateness_ms: number | null;
  /** Fired by `job run`, outside the grid. */
  manual: boolean;
  /** One line: what the provider reported (files and bytes of a transfer, or the fault), or the run's error. */
  summary: string;
}

export interface HistoryPage {
  /** Newest first. */
  runs: HistoryEntry[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  next_cursor: string | null;
}

/**
 * Parameters of `job.update`: only what is given changes. A change of interval_seconds,
 * cron, timezone or start re-anchors the schedule (daemon/jobs/update.ts).
 */
export interface UpdateJobParams {
  job_id: string;
  name?: string;
  /** Switches a calendar job to an interval job. */
  interval_seconds?: number;
  /** Switches an interval job to a calendar job. */
  cron?: string;
  /** Null: client_timezone, else the daemon's zone. Only for a calendar job. */
  timezone?: string | null;
  /** As for job.submit: the zone a job that becomes a calendar job gets when no timezone is given. */
  client_timezone?: string | null;
  /** ISO-8601 instant: the new anchor. */
  start?: string;
  /** Each key given replaces that end condition, null clears it; `stop_after: null` clears both. */
  stop_after?: { date?: string | null; n_runs?: number | null } | null;
  callback_body?: Record<string, unknown>;
  policy?: { overlap?: OverlapPolicy; misfire?: MisfirePolicy };
  /** Each key given replaces that setting (command null: none); `on_failure: null` clears both, back to the daemon-wide default. */
  on_failure?: OnFailureChange | null;
}

export interface UpdateJobResult {
  job: JobDocument;
  /**
   * True when the schedule was re-anchored: its next slot is the new schedule's first after
   * now (a changed schedule, or a finished job scheduled again).
   */
  reanchored: boolean;
}

export interface NextSlotsParams {
  job_id: string;
  /** How many slots, 1–100 (default 5). */
  count?: number;
}

export interface NextSlotsResult {
  /** Due times of the next slots, ISO-8601 with offset (a calendar job's in its zone), earliest first. */
  slots: string[];
  /** Why fewer than asked for (paused, finished, deleted, an end condition); null when all are listed. */
  note: string | null;
}

export interface JobPage {
  jobs: JobDocument[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

export interface DaemonStatus {
  pid: number;
  version: string;
  protocol_version: number;
  started_at: string;
  uptime_seconds: number;
  db_file: string;
  socket_path: string;
  jobs: Record<JobStatus, number>;
  runs_in_flight: number;
  /** How late recent runs fired (fired_at − slot), over the newest `runs` runs. */
  fire_lateness_ms: { runs: number; p50: number | null; p99: number | null; max: number | null };
  /** Where the daemon logs: its current log file, or null for stderr (journal, terminal). */
  log_file: string | null;
  /** True when systemd passed the listening socket (socket activation). */
  socket_activated: boolean;
  /** The Timers REST API's base URL (`http://127.0.0.1:8080`), or null when it is off (issue 14). */
  api_url: string | null;
  /** The store's size and room (daemon/store/space.ts). */
  store: StoreSpace;
}

export interface StoreSpace {
  db_bytes: number;
  wal_bytes: number;
  /** Free space of the store's file system for the daemon's user; null where it cannot be read. */
  free_bytes: number | null;
  /** Below 1 GiB or twice the store: `daemon status` warns. */
  low_space: boolean;
  /** The run bookkeeping cannot commit now (a full disk): new jobs and runs are refused until it can. */
  writes_failing: boolean;
}

/**
 * The first call of every connection: each side learns the other's versions, and the CLI
 * refuses to go on when the protocols differ. Its shape must never change incompatibly,
 * so that any two versions can at least tell each other to restart.
 */
interface HelloParams {
  protocol_version: number;
  version: string;
}

export interface HelloResult {
  protocol_version: number;
  version: string;
  pid: number;
}

/**
 * How far a run has got, read from its provider's latest status document: for a Globus
 * Transfer task the counts of its `details` (the Transfer task document); for any other
 * provider only its status words. Every count is null when the provider did not say.
 */
export interface RunProgress {
  /** The provider's status: ACTIVE, INACTIVE, SUCCEEDED, FAILED. */
  status: string;
  /** A short human word from the provider (Transfer's nice_status, or display_status). */
  label: string | null;
  /** Files in the task, and those done (transferred plus skipped). */
  files_total: number | null;
  files_done: number | null;
  bytes_transferred: number | null;
  /** The provider's own rate, bytes per second (Transfer's effective_bytes_per_second). */
  bytes_per_second: number | null;
  /** Transfer's subtasks: a finer measure of progress than files for a few big files. */
  subtasks_total: number | null;
  subtasks_done: number | null;
  faults: number | null;
}

/** A run changed: sent, accepted, polled, ended. `run` is its `job history` entry without the provider's document. */
export interface RunEvent {
  type: 'run';
  job_id: string;
  job_name: string;
  /** The run's internal id: stable key for a run across events (request_id is too). */
  run_id: number;
  run: Omit<HistoryEntry, 'data'>;
  progress: RunProgress | null;
}

/** A job changed (submitted, updated, paused, resumed, inactive, finished, deleted): the dashboard refetches it. */
export interface JobEvent {
  type: 'job';
  job_id: string;
  status: JobStatus;
}

export type DaemonEvent = RunEvent | JobEvent;

/** Params of the `job.events` notification: the events of one commit, oldest first. */
export interface EventsNotification {
  events: DaemonEvent[];
}

export interface Methods {
  'job.submit': { params: SubmitJobParams; result: JobDocument };
  'job.get': { params: JobIdParams; result: JobDocument };
  'job.list': { params: ListJobsParams; result: JobPage };
  'job.delete': { params: JobIdParams; result: JobDocument };
  /** Full ids for what a user typed (full ids in any case, unique prefixes); see ResolveJobIdsParams. */
  'job.resolve': { params: ResolveJobIdsParams; result: ResolveJobIdsResult };
  /** Remove deleted jobs and their history for good; see PurgeParams. */
  'job.purge': { params: PurgeParams; result: PurgeResult };
  /** An inactive job is scheduled again (SPEC §2 misfire rule); any other job is left as it is. */
  'job.resume': { params: JobIdParams; result: ResumeResult };
  /** A loaded job becomes inactive {cause: "user"}; a run in flight is not cancelled. Any other job is left as it is. */
  'job.pause': { params: PauseParams; result: PauseResult };
  /** Fire one extra run now, outside the grid (SPEC §2 rule 8); RUN_IN_PROGRESS under overlap=skip unless forced. */
  'job.run': { params: RunNowParams; result: RunNowResult };
  /** A job's runs, newest first, a page at a time. */
  'job.history': { params: HistoryParams; result: HistoryPage };
  /** Change a job from its next slot on; a run in flight is untouched (daemon/jobs/update.ts). */
  'job.update': { params: UpdateJobParams; result: UpdateJobResult };
  /** The next slots as the daemon will fire them (none for a paused, finished or deleted job, with a note). */
  'job.next': { params: NextSlotsParams; result: NextSlotsResult };
  'daemon.hello': { params: HelloParams; result: HelloResult };
  'daemon.status': { params: Record<string, never>; result: DaemonStatus };
  /** Graceful shutdown; answers first, then stops. */
  'daemon.stop': { params: Record<string, never>; result: { pid: number } };
  /**
   * A new REST API token replaces the old one, in its file and in the running API server at
   * once. The result names the file, never the token: secrets do not travel in RPC results
   * (the CLI reads the file, which only the user can). Added without a protocol bump: an
   * older daemon answers METHOD_NOT_FOUND, which the CLI words as "restart the daemon".
   */
  'api.rotate_token': { params: Record<string, never>; result: RotateTokenResult };
  /**
   * A one-time dashboard login URL (`API_URL/?code=…`, good once within 5 minutes) for
   * `globus-timer dashboard`: the browser gets that, never the token. API_OFF when the
   * daemon serves no API. Added without a protocol bump, as api.rotate_token.
   */
  'api.dashboard_login': { params: Record<string, never>; result: { url: string } };
  /**
   * Watch run and job changes on this connection (issue 16): from the answer on, the daemon
   * sends `job.events` notifications (contract/events.ts) until `events.unsubscribe` or the
   * connection ends. A second subscribe replaces the first. Added without a protocol bump,
   * as api.rotate_token: an older daemon answers METHOD_NOT_FOUND.
   */
  'events.subscribe': { params: SubscribeParams; result: SubscribeResult };
  'events.unsubscribe': { params: Record<string, never>; result: { subscribed: false } };
}

export interface SubscribeParams {
  /** Full job ids to watch (resolve prefixes first); absent or null: every job. */
  job_ids?: string[] | null;
}

export interface SubscribeResult {
  /** The open runs of the watched jobs as the subscription began, oldest first: a watcher follows these, then what the notifications tell. */
  open_runs: RunEvent[];
}

interface RotateTokenResult {
  /** The 0600 file that holds the new token. */
  token_file: string;
  /** The API's base URL when it is on (the new token works there now), else null. */
  api_url: string | null;
}

export type MethodName = keyof Methods;
/** The calls about jobs: what a remote Timers service answers too (remote/timers-client.ts). */
export type JobMethodName = Extract<MethodName, `job.${string}`>;

/**
 * JSON-RPC error codes of ours (the -32000…-32099 "server error" range), each paired with
 * the stable `data.code` string from `core/errors.ts`.
 */
export const RPC_ERROR_CODES = {
  INVALID_INPUT: -32602,
  JOB_NOT_FOUND: -32004,
  INTERNAL: -32603,
} as const;

/**
 * JSON Schemas of the parameters (validated with ajv before a handler runs). Types and
 * shapes are checked here; the rules (URL scheme, interval range, time formats) live in
 * `core/input.ts`, shared with the CLI.
 *
 * Each is a `JSONSchemaType` of its method's params, so the compiler holds schema and type
 * together: every property of the type has a schema of its type (the enums are the
 * vocabulary's), and `required` names only required ones (and all of them: checkedSchemas).
 * A property that may be null says `nullable: true`; one that is only optional says
 * `optional(…)` (see there).
 */
type Params<M extends MethodName> = Methods[M]['params'];
type ParamSchema<M extends MethodName> = JSONSchemaType<Params<M>>;

/**
 * An optional property that refuses null. JSONSchemaType reads `name?: T` as "absent or
 * null" and demands `nullable: true` on its schema; but null is wrong for such a property
 * (a handler reads `params.limit ?? 100`, never a null), and the wire refuses it. The one
 * cast of the contract: it tells the compiler the `nullable: true` it asks for, and leaves
 * the schema as written, so null stays refused ("must be integer").
 */
function optional<const S extends object>(schema: S): S & { nullable: true } {
  return schema as S & { nullable: true };
}

/** The schemas as written (their literal types kept), each checked against its method's params. */
function checkedSchemas<const S extends { [M in MethodName]: ParamSchema<M> }>(schemas: S & { [M in MethodName]: Unchecked<M, S[M]> }): S {
  return schemas;
}

/**
 * What JSONSchemaType leaves unchecked, each demanded as a key the schema then lacks, so that
 * the compiler names what is wrong: a required property that `required` does not name, a
 * property of the schema that the type does not have.
 */
type Unchecked<M extends MethodName, S> = Demand<'required_misses', UnlistedRequired<M, S>> & Demand<'properties_not_in_the_type', UnknownProperties<M, S>>;
type Demand<Key extends string, Culprits> = [Culprits] extends [never] ? unknown : { [K in Key]: Culprits };
type UnlistedRequired<M extends MethodName, S> = Exclude<RequiredMembers<Params<M>>, S extends { required: readonly (infer K)[] } ? K : never>;
type UnknownProperties<M extends MethodName, S> = Exclude<S extends { properties: infer P } ? keyof P : never, keyof Params<M>>;

/** The named properties a method's params must have (an index signature, `Record<string, never>`, names none). */
type RequiredMembers<T> = { [K in keyof T]-?: string extends K ? never : undefined extends T[K] ? never : K }[keyof T];

const stopAfterSchema = {
  type: 'object',
  nullable: true,
  additionalProperties: false,
  properties: { date: { type: 'string', nullable: true }, n_runs: { type: 'integer', nullable: true } },
} as const;
const policySchema = optional({
  type: 'object',
  additionalProperties: false,
  properties: { overlap: optional({ type: 'string', enum: OVERLAP_POLICIES }), misfire: optional({ type: 'string', enum: MISFIRE_POLICIES }) },
});
const onFailureSchema = {
  type: 'object',
  nullable: true,
  additionalProperties: false,
  // The command's rules (no NUL, its length) are core/on-failure.ts's.
  properties: { command: { type: 'string', nullable: true }, notify: optional({ type: 'boolean' }) },
} as const;
const jobIdProperty = { type: 'string', minLength: 1, maxLength: 64 } as const;
const jobIdListSchema = { type: 'array', minItems: 1, maxItems: 1000, items: jobIdProperty } as const;
const jobIdSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['job_id'],
  properties: { job_id: jobIdProperty },
} as const;
/** `required: []` says nothing; JSONSchemaType asks for it, as it reads `Record<string, never>` as "any key, required". */
const noParamsSchema = { type: 'object', additionalProperties: false, properties: {}, required: [] } as const;

export const PARAM_SCHEMAS = checkedSchemas({
  'job.submit': {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'callback_url', 'callback_body'],
    properties: {
      name: { type: 'string', maxLength: 255 },
      start: { type: 'string', nullable: true },
      interval_seconds: optional({ type: 'integer' }),
      cron: { type: 'string', nullable: true, maxLength: 200 },
      timezone: { type: 'string', nullable: true, maxLength: 64 },
      client_timezone: { type: 'string', nullable: true, maxLength: 64 },
      callback_url: { type: 'string', maxLength: 2048 },
      callback_body: { type: 'object' },
      scope: { type: 'string', nullable: true },
      stop_after: stopAfterSchema,
      policy: policySchema,
      on_failure: onFailureSchema,
    },
  },
  'job.get': jobIdSchema,
  'job.delete': jobIdSchema,
  'job.resolve': {
    type: 'object',
    additionalProperties: false,
    required: ['job_ids'],
    properties: { job_ids: jobIdListSchema },
  },
  'job.purge': {
    type: 'object',
    additionalProperties: false,
    required: ['job_ids'],
    properties: { job_ids: jobIdListSchema, dry_run: optional({ type: 'boolean' }) },
  },
  'job.resume': jobIdSchema,
  'job.pause': {
    type: 'object',
    additionalProperties: false,
    required: ['job_id'],
    properties: { job_id: jobIdProperty, note: { type: 'string', nullable: true, maxLength: 1000 } },
  },
  'job.run': {
    type: 'object',
    additionalProperties: false,
    required: ['job_id'],
    properties: { job_id: jobIdProperty, force: optional({ type: 'boolean' }) },
  },
  'job.update': {
    type: 'object',
    additionalProperties: false,
    required: ['job_id'],
    properties: {
      job_id: jobIdProperty,
      name: optional({ type: 'string', maxLength: 255 }),
      interval_seconds: optional({ type: 'integer' }),
      cron: optional({ type: 'string', maxLength: 200 }),
      timezone: { type: 'string', nullable: true, maxLength: 64 },
      client_timezone: { type: 'string', nullable: true, maxLength: 64 },
      start: optional({ type: 'string', maxLength: 64 }),
      stop_after: stopAfterSchema,
      callback_body: optional({ type: 'object' }),
      policy: policySchema,
      on_failure: onFailureSchema,
    },
  },
  'job.next': {
    type: 'object',
    additionalProperties: false,
    required: ['job_id'],
    properties: { job_id: jobIdProperty, count: optional({ type: 'integer', minimum: 1, maximum: 100 }) },
  },
  'job.history': {
    type: 'object',
    additionalProperties: false,
    required: ['job_id'],
    properties: {
      job_id: jobIdProperty,
      limit: optional({ type: 'integer', minimum: 1, maximum: 1000 }),
      cursor: { type: 'string', nullable: true, maxLength: 512 },
      since: { type: 'string', nullable: true, maxLength: 64 },
      status: { type: 'string', nullable: true, enum: [...RUN_STATES, null] },
    },
  },
  'job.list': {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: optional({ type: 'integer', minimum: 1, maximum: 1000 }),
      cursor: { type: 'string', nullable: true, maxLength: 512 },
      show_deleted: optional({ type: 'boolean' }),
    },
  },
  // Extra keys allowed: a newer client may send more, and must still get an answer.
  'daemon.hello': {
    type: 'object',
    required: ['protocol_version', 'version'],
    properties: { protocol_version: { type: 'integer' }, version: { type: 'string', maxLength: 64 } },
  },
  'daemon.status': noParamsSchema,
  'daemon.stop': noParamsSchema,
  'api.rotate_token': noParamsSchema,
  'api.dashboard_login': noParamsSchema,
  'events.subscribe': {
    type: 'object',
    additionalProperties: false,
    properties: { job_ids: optional(jobIdListSchema) },
  },
  'events.unsubscribe': noParamsSchema,
});
