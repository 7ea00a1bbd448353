/**
 * Typed errors with stable codes. Code that fails throws one of these; only the edges
 * translate them: `daemon/rpc-server.ts` into a JSON-RPC error with `data.code`, the CLI into an
 * exit code. Tests check `code`, never the message text.
 */

export const ERROR_CODES = {
  INVALID_INPUT: 'INVALID_INPUT',
  JOB_NOT_FOUND: 'JOB_NOT_FOUND',
  /** The job is deleted: it never runs again (its history stays readable). */
  JOB_DELETED: 'JOB_DELETED',
  /** `job purge` refused: only a deleted job may be purged. */
  JOB_NOT_DELETED: 'JOB_NOT_DELETED',
  /**
   * `job run` refused: the previous run is in progress and the overlap policy is skip, or
   * (overlap allow) the job has its most runs in flight (maxRunsInFlightPerJob).
   */
  RUN_IN_PROGRESS: 'RUN_IN_PROGRESS',
  DAEMON_NOT_RUNNING: 'DAEMON_NOT_RUNNING',
  DAEMON_ALREADY_RUNNING: 'DAEMON_ALREADY_RUNNING',
  RPC_FAILED: 'RPC_FAILED',
  PROTOCOL_MISMATCH: 'PROTOCOL_MISMATCH',
  STORE_FAILED: 'STORE_FAILED',
  /** No usable Globus Auth token or consent: the user must log in (again). */
  AUTH_REQUIRED: 'AUTH_REQUIRED',
  /** Globus Auth could not be reached or failed; trying again later may work. */
  AUTH_UNAVAILABLE: 'AUTH_UNAVAILABLE',
  /** The token cache file is unreadable or malformed. */
  TOKEN_CACHE_INVALID: 'TOKEN_CACHE_INVALID',
  /** The Action Provider's introspection document could not tell the job's scope. */
  SCOPE_DISCOVERY_FAILED: 'SCOPE_DISCOVERY_FAILED',
  /**
   * A directory, file or socket another user could control (wrong owner, writable by
   * others, a symbolic link): refused rather than used or repaired (SPEC §6).
   */
  UNSAFE_PATH: 'UNSAFE_PATH',
  /**
   * A file or directory globus-timer needs cannot be created, read or written: a read-only
   * file system, no permission, a full disk (src/fs/fs-error.ts says which, in words).
   */
  FILE_SYSTEM: 'FILE_SYSTEM',
  /**
   * The daemon cannot start with a setting of its environment (GLOBUS_TIMER_LOG_LEVEL, a
   * config.ts key): a failed start (exit 1), not a usage error of `daemon run`'s command line.
   */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /**
   * The daemon serves no Timers REST API (issue 14): it was started without `--api`, or its
   * token file is not there yet (`api url`, `api token`).
   */
  API_OFF: 'API_OFF',
  /**
   * A Timers service the CLI drives in remote mode (`--service hosted|URL`, issue 15) could
   * not be reached, failed (5xx, 429 after retries), or answered what the API does not say.
   */
  SERVICE_FAILED: 'SERVICE_FAILED',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export class TimerError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TimerError';
    this.code = code;
  }
}

/** Bad input from a user or a client: a CLI flag, an RPC parameter. Exit 2 in the CLI. */
export class InvalidInputError extends TimerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ERROR_CODES.INVALID_INPUT, message, options);
    this.name = 'InvalidInputError';
  }
}

/** One problem with a REST API request body, as FastAPI reports it (and the Globus SDKs parse it). */
export interface ValidationProblem {
  /** Where: `['body', 'schedule', 'interval_seconds']`. */
  loc: (string | number)[];
  msg: string;
  /** FastAPI's kind of problem: `value_error.missing`, `type_error.integer`, `value_error`. */
  type: string;
}

/**
 * A REST API request body that fails validation (issue 14): answered 422 with
 * `{"detail": problems}`, which globus-sdk turns into `msg: body.loc; …`. Bad input, so
 * INVALID_INPUT like every other.
 */
export class RequestValidationError extends InvalidInputError {
  readonly problems: ValidationProblem[];
  constructor(problems: ValidationProblem[]) {
    super(problems.map((p) => `${p.msg}: ${p.loc.join('.')}`).join('; '));
    this.name = 'RequestValidationError';
    this.problems = problems;
  }
}

export class JobNotFoundError extends TimerError {
  constructor(jobId: string) {
    super(ERROR_CODES.JOB_NOT_FOUND, `no job with id ${jobId}; list jobs with: globus-timer job list`);
    this.name = 'JobNotFoundError';
  }
}

export class JobDeletedError extends TimerError {
  constructor(jobId: string) {
    super(ERROR_CODES.JOB_DELETED, `job ${jobId} is deleted: it never runs again (its history stays readable: globus-timer job history ${jobId})`);
    this.name = 'JobDeletedError';
  }
}

export class RunInProgressError extends TimerError {
  constructor(jobId: string) {
    super(
      ERROR_CODES.RUN_IN_PROGRESS,
      `job ${jobId} has a run in progress and its overlap policy is skip; nothing fired. ` +
        `Wait for it (globus-timer job history ${jobId}), or fire anyway with: globus-timer job run ${jobId} --force`,
    );
    this.name = 'RunInProgressError';
  }
}

/**
 * `job run` refused: an overlap-allow job already has config maxRunsInFlightPerJob runs in
 * flight. The same code as RunInProgressError: runs in progress stand in the way, and the
 * remedies are the same (wait, or --force).
 */
export class RunsInFlightCapError extends TimerError {
  constructor(jobId: string, cap: number) {
    super(
      ERROR_CODES.RUN_IN_PROGRESS,
      `job ${jobId} already has ${cap} runs in progress, the most a job runs at once (GLOBUS_TIMER_MAX_RUNS_IN_FLIGHT_PER_JOB); nothing fired. ` +
        `Wait for one to end (globus-timer job history ${jobId}), or fire anyway with: globus-timer job run ${jobId} --force`,
    );
    this.name = 'RunsInFlightCapError';
  }
}

export class DaemonNotRunningError extends TimerError {
  constructor(socketPath: string, options?: ErrorOptions) {
    super(
      ERROR_CODES.DAEMON_NOT_RUNNING,
      `daemon not running (no answer at ${socketPath}); start it with: globus-timer daemon start (or in the foreground: globus-timer daemon run)`,
      options,
    );
    this.name = 'DaemonNotRunningError';
  }
}

/** `detail` says how we know: `pid 123`, or `it answers on /run/…/daemon.sock`. */
export class DaemonAlreadyRunningError extends TimerError {
  constructor(detail: string) {
    super(ERROR_CODES.DAEMON_ALREADY_RUNNING, `a daemon is already running (${detail}): globus-timer daemon stop stops it`);
    this.name = 'DaemonAlreadyRunningError';
  }
}

export class UnsafePathError extends TimerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ERROR_CODES.UNSAFE_PATH, message, options);
    this.name = 'UnsafePathError';
  }
}

/** A file system call failed for a reason the user can fix; the message names what, where and how (fs/fs-error.ts). */
export class FileSystemError extends TimerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ERROR_CODES.FILE_SYSTEM, message, options);
    this.name = 'FileSystemError';
  }
}

/** An error the daemon answered with (contract/client.ts); `code` is its stable `data.code`, `rpcCode` the JSON-RPC code. */
export class RpcError extends TimerError {
  readonly rpcCode: number;
  constructor(code: ErrorCode, rpcCode: number, message: string) {
    super(code, message);
    this.name = 'RpcError';
    this.rpcCode = rpcCode;
  }
}

export type AuthErrorKind =
  /** Auth answered and said no (invalid_grant, invalid_client, consent missing): a person must act. */
  | 'refused'
  /** Network trouble, a timeout, 429 or 5xx: the same call may work later. */
  | 'unavailable';

/**
 * A call to Globus Auth failed (auth/auth-client.ts): refused (AUTH_REQUIRED) or not answered
 * usefully (AUTH_UNAVAILABLE). Its message never carries a token. auth/tokens.ts turns it into
 * AuthRequiredError or AuthUnavailableError for the runner; the CLI's session commands read `kind`.
 */
export class AuthError extends TimerError {
  readonly kind: AuthErrorKind;
  /** The OAuth2 `error` code when Auth sent one (e.g. invalid_grant). */
  readonly oauthError: string | null;
  constructor(kind: AuthErrorKind, message: string, oauthError: string | null = null) {
    super(kind === 'refused' ? ERROR_CODES.AUTH_REQUIRED : ERROR_CODES.AUTH_UNAVAILABLE, message);
    this.name = 'AuthError';
    this.kind = kind;
    this.oauthError = oauthError;
  }
}

/**
 * No usable token: the user must log in or consent. `reason` is the code the hosted
 * Timers service puts in `inactive_reason.detail.code`.
 */
export class AuthRequiredError extends TimerError {
  readonly reason: 'ConsentRequired' | 'LoginRequired' | 'InvalidClient';
  readonly requiredScopes: string[];
  constructor(reason: AuthRequiredError['reason'], requiredScopes: string[], message: string) {
    super(ERROR_CODES.AUTH_REQUIRED, message);
    this.name = 'AuthRequiredError';
    this.reason = reason;
    this.requiredScopes = requiredScopes;
  }
}

/** Globus Auth could not be reached or failed for now: retry later, nothing for the user to do. */
export class AuthUnavailableError extends TimerError {
  constructor(message: string) {
    super(ERROR_CODES.AUTH_UNAVAILABLE, message);
    this.name = 'AuthUnavailableError';
  }
}

/** The token cache file (auth/token-cache.ts) is unreadable or malformed; logging out and in again mends it. */
export class TokenCacheError extends TimerError {
  constructor(file: string, detail: string) {
    super(ERROR_CODES.TOKEN_CACHE_INVALID, `token cache ${file} is unusable (${detail}); run: globus-timer session logout, then log in again`);
    this.name = 'TokenCacheError';
  }
}

/**
 * An error the CLI has already printed (`job delete`, one line per id): only its exit code is
 * left to apply, which the CLI takes from `original`. Its code is the original's (INTERNAL for
 * an error without one), so it reads as the error it carries wherever it is seen.
 */
export class ReportedError extends TimerError {
  readonly original: Error;
  constructor(original: Error) {
    super(original instanceof TimerError ? original.code : ERROR_CODES.INTERNAL, original.message, { cause: original });
    this.name = 'ReportedError';
    this.original = original;
  }
}

/** Normalise anything that was thrown into an Error (as graphile-worker's coerceError). */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'string') return new Error(err);
  try {
    return new Error(`non-error thrown: ${JSON.stringify(err)}`);
  } catch {
    return new Error('non-error thrown');
  }
}
