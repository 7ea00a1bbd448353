/**
 * The one contract between the CLI and the daemon: JSON-RPC 2.0 method names, their
 * parameters and results. Both `rpc/client.ts` and `rpc/server.ts` are typed by `Methods`.
 * Field names are snake_case, like the Timers job document they carry.
 */

import type { InactiveReason, JobStatus, MisfirePolicy, OverlapPolicy, RunError, RunState } from '../db/schema.ts';

/** Bumped on any incompatible change; the daemon reports it in `daemon.status`. */
export const PROTOCOL_VERSION = 1;

/** Frames are newline-delimited JSON; a longer line is refused and the connection closed. */
export const MAX_FRAME_BYTES = 1 << 20;

/** Parameters of `job.submit`, in canonical form: the CLI has already parsed user text. */
export interface SubmitJobParams {
  name: string;
  /** ISO-8601 instant; absent or null means "now" on the daemon's clock. */
  start?: string | null;
  interval_seconds: number;
  callback_url: string;
  /** The run request without `request_id`: `{body: {...}, label?, ...}`. */
  callback_body: Record<string, unknown>;
  scope?: string | null;
  stop_after?: { date?: string | null; n_runs?: number | null } | null;
  policy?: { overlap?: OverlapPolicy; misfire?: MisfirePolicy };
}

export interface JobIdParams {
  job_id: string;
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
  interval: number;
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
}

export interface ResumeResult {
  job: JobDocument;
  /** False when the job was not inactive: nothing changed. */
  resumed: boolean;
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
}

/**
 * The first call of every connection: each side learns the other's versions, and the CLI
 * refuses to go on when the protocols differ. Its shape must never change incompatibly,
 * so that any two versions can at least tell each other to restart.
 */
export interface HelloParams {
  protocol_version: number;
  version: string;
}

export interface HelloResult {
  protocol_version: number;
  version: string;
  pid: number;
}

export interface Methods {
  'job.submit': { params: SubmitJobParams; result: JobDocument };
  'job.get': { params: JobIdParams; result: JobDocument };
  'job.list': { params: ListJobsParams; result: JobPage };
  'job.delete': { params: JobIdParams; result: JobDocument };
  /** An inactive job is scheduled again (SPEC §2 misfire rule); any other job is left as it is. */
  'job.resume': { params: JobIdParams; result: ResumeResult };
  'daemon.hello': { params: HelloParams; result: HelloResult };
  'daemon.status': { params: Record<string, never>; result: DaemonStatus };
  /** Graceful shutdown; answers first, then stops. */
  'daemon.stop': { params: Record<string, never>; result: { pid: number } };
}

export type MethodName = keyof Methods;

/**
 * JSON-RPC error codes of ours (the -32000…-32099 "server error" range), each paired with
 * the stable `data.code` string from `errors.ts`.
 */
export const RPC_ERROR_CODES = {
  INVALID_INPUT: -32602,
  JOB_NOT_FOUND: -32004,
  INTERNAL: -32603,
} as const;

/**
 * JSON Schemas of the parameters (validated with ajv before a handler runs). Types and
 * shapes are checked here; the rules (URL scheme, interval range, time formats) live in
 * `jobs/input.ts`, shared with the CLI.
 */
const nullableString = { type: ['string', 'null'] } as const;
export const PARAM_SCHEMAS: Record<MethodName, object> = {
  'job.submit': {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'interval_seconds', 'callback_url', 'callback_body'],
    properties: {
      name: { type: 'string', maxLength: 255 },
      start: nullableString,
      interval_seconds: { type: 'integer' },
      callback_url: { type: 'string', maxLength: 2048 },
      callback_body: { type: 'object' },
      scope: nullableString,
      stop_after: {
        type: ['object', 'null'],
        additionalProperties: false,
        properties: { date: nullableString, n_runs: { type: ['integer', 'null'] } },
      },
      policy: {
        type: 'object',
        additionalProperties: false,
        properties: {
          overlap: { enum: ['skip', 'allow'] },
          misfire: { enum: ['coalesce', 'skip'] },
        },
      },
    },
  },
  'job.get': jobIdSchema(),
  'job.delete': jobIdSchema(),
  'job.resume': jobIdSchema(),
  'job.list': {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: 1000 },
      cursor: { type: ['string', 'null'], maxLength: 512 },
      show_deleted: { type: 'boolean' },
    },
  },
  // Extra keys allowed: a newer client may send more, and must still get an answer.
  'daemon.hello': {
    type: 'object',
    required: ['protocol_version', 'version'],
    properties: { protocol_version: { type: 'integer' }, version: { type: 'string', maxLength: 64 } },
  },
  'daemon.status': { type: 'object', additionalProperties: false, properties: {} },
  'daemon.stop': { type: 'object', additionalProperties: false, properties: {} },
};

function jobIdSchema(): object {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['job_id'],
    properties: { job_id: { type: 'string', minLength: 1, maxLength: 64 } },
  };
}
