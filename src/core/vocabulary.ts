/**
 * The words of the domain, in one place: what a job or a run can be, the policies a job
 * takes, why a job waits, and the codes of a run's error. The store (daemon/store/schema.ts)
 * keeps them, the contract (contract/protocol.ts) sends them, the CLI offers and shows them.
 * Words only: no drizzle, no I/O, so the CLI loads them for nothing.
 */

export const JOB_STATUSES = ['loaded', 'inactive', 'finished', 'deleted'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** `skip` (default): a slot is skipped while the previous run is in progress. */
export const OVERLAP_POLICIES = ['skip', 'allow'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** `coalesce` (default): one catch-up run for the latest missed slot; `skip`: wait for the next. */
export const MISFIRE_POLICIES = ['coalesce', 'skip'] as const;
export type MisfirePolicy = (typeof MISFIRE_POLICIES)[number];

/** A job's policies when none are given: what the hosted Timers service does too (it has no others). */
export const DEFAULT_POLICY: { readonly overlap: OverlapPolicy; readonly misfire: MisfirePolicy } = { overlap: 'skip', misfire: 'coalesce' };

/**
 * - `pending`: created; the submission has not been answered yet (after a crash its
 *   outcome is unknown, so it is re-sent with the same request_id);
 * - `active`: the provider accepted it and it is ACTIVE/INACTIVE: poll its status;
 * - `succeeded` / `failed`: terminal.
 */
export const RUN_STATES = ['pending', 'active', 'succeeded', 'failed'] as const;
export type RunState = (typeof RUN_STATES)[number];

/**
 * Why an inactive job waits, in the hosted service's words:
 * - `user`: paused (`job pause`); detail is the user's note;
 * - `globus_auth_requirements`: no usable token or consent; detail is `{code, message, authorization_parameters}`;
 * - `action_error`: the hosted service's word for a job stopped by its action's errors (never written here);
 * - `token_destination`: the job's scope may not go to its URL (auth/token-rules.ts); detail says why.
 */
type InactiveCause = 'user' | 'globus_auth_requirements' | 'action_error' | 'token_destination';

export interface InactiveReason {
  cause: InactiveCause;
  detail?: unknown;
}

/**
 * The `globus_auth_requirements` reason for a job's scope, in the hosted service's GARE-like
 * shape: one place for the runner (a refused or missing token at a run) and the REST API (no
 * consent at create), so `job resume`, `job status` and SDK clients read one detail.
 */
export function authRequirementsReason(scope: string | null, code: string, message: string): InactiveReason {
  return { cause: 'globus_auth_requirements', detail: { code, message, authorization_parameters: { required_scopes: scope ? [scope] : [] } } };
}

/**
 * Every code a run's error is stored with (runs.error, shown as `errors.code`):
 * - `ACTION_HTTP`: the provider answered with an error status (actions/classify.ts);
 * - `ACTION_AUTH`: it answered 401/403, and a fresh token did not help;
 * - `ACTION_INVALID_RESPONSE`: its answer was no usable action status document;
 * - `ACTION_TIMEOUT`, `ACTION_NETWORK`, `ACTION_RESPONSE_TOO_LARGE`: no answer to use
 *   (actions/provider.ts TransportErrorCode: `ACTION_` + http/request.ts HttpFailureCode);
 * - `ACTION_STATUS_UNKNOWN`: a status poll answered 404, the provider no longer knows the action;
 * - `AUTH_REQUIRED`, `AUTH_UNAVAILABLE`: no token for the job's scope, the user must act, or Auth is down for now;
 * - `TOKEN_DESTINATION_REFUSED`: the job's token may not go to its URL (auth/token-rules.ts);
 * - `JOB_DELETED`: the job was deleted while the run was open (runner #closeDeleted);
 * - `RUN_ABANDONED`: still open after config runLifetimeDays (runner #abandon).
 */
export type RunErrorCode =
  | 'ACTION_HTTP'
  | 'ACTION_AUTH'
  | 'ACTION_INVALID_RESPONSE'
  | 'ACTION_TIMEOUT'
  | 'ACTION_NETWORK'
  | 'ACTION_RESPONSE_TOO_LARGE'
  | 'ACTION_STATUS_UNKNOWN'
  | 'AUTH_REQUIRED'
  | 'AUTH_UNAVAILABLE'
  | 'TOKEN_DESTINATION_REFUSED'
  | 'JOB_DELETED'
  | 'RUN_ABANDONED';

export interface RunError {
  code: RunErrorCode;
  message: string;
  httpStatus?: number;
  /** The provider's error document (or the start of its text), as it sent it. */
  providerError?: unknown;
}
